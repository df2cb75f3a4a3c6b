// A raw TCP client for tests: sends bytes exactly as given and reads answer lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tnl::test {

class LineClient {
 public:
  /// Connects to `host`:`port` (numeric IPv4 or IPv6 address); throws on failure.
  LineClient(const std::string& host, std::uint16_t port);
  explicit LineClient(std::uint16_t port) : LineClient("127.0.0.1", port) {}
  LineClient(LineClient&& other) noexcept;
  LineClient& operator=(LineClient&&) = delete;
  LineClient(const LineClient&) = delete;
  ~LineClient();

  /// Sends `bytes` as they are (no line end is added); false when the peer is gone.
  bool send(std::string_view bytes);
  /// Sends `line` followed by '\n'.
  bool send_line(std::string_view line) { return send(std::string{line} + "\n"); }
  /// Reads one line (without its '\n'); nullopt on timeout, EOF or error.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Sends `line` and reads one answer line.
  std::optional<std::string> request(std::string_view line) {
    send_line(line);
    return read_line();
  }
  /// True when the server closes the connection (EOF or reset) within `timeout`,
  /// with no further data before it. Data that arrives first makes it false.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// True when nothing arrives and the connection stays open for `period`.
  bool stays_silent(std::chrono::milliseconds period);
  /// Closes the connection; with `reset`, with an RST instead of a FIN.
  void close(bool reset = false);
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace tnl::test
