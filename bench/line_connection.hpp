// A blocking line-protocol connection to a server on 127.0.0.1, for the scenarios that
// drive one request at a time (handoff, inspect, .stats queries). Every read gives up
// after a receive timeout, so a server that stops answering cannot hang the benchmark.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace bench {

class LineConnection {
 public:
  /// Connects to 127.0.0.1:`port` with TCP_NODELAY; throws if it cannot.
  explicit LineConnection(std::uint16_t port);
  LineConnection(LineConnection&& other) noexcept;
  LineConnection(const LineConnection&) = delete;
  LineConnection& operator=(const LineConnection&) = delete;
  LineConnection& operator=(LineConnection&&) = delete;
  ~LineConnection();

  /// Sends `line` as is (the caller adds the "\n").
  void send(std::string_view line) const;
  /// How a read waits for the answer to arrive.
  enum class Wait {
    block,  ///< in recv(): the thread sleeps and is woken by the kernel
    poll,   ///< recv(MSG_DONTWAIT) in a loop: the thread stays on its CPU, so a latency
            ///< measured this way does not include the reader's own wake-up
    spin,   ///< as poll for at most spin_limit, then as block: a quick answer is read
            ///< without a wake-up, a slow one costs no CPU
  };
  /// How long Wait::spin polls before it sleeps in recv().
  static constexpr std::chrono::microseconds spin_limit{200};
  /// The next answer line, without its "\n"; throws on EOF, error or timeout.
  std::string read_line(Wait wait = Wait::block);
  /// Reads a line and throws unless it is exactly `answer`.
  void expect(std::string_view answer, Wait wait = Wait::block);
  /// Makes room for an answer of `bytes` up front, so that reading a long one (`.locks`)
  /// does not time the reader's own buffer growing.
  void reserve(std::size_t bytes) { buffer_.reserve(bytes); }
  /// Reads until the server closes its end; throws if anything else arrives first.
  void read_to_eof();

 private:
  int fd_ = -1;
  std::string buffer_;
};

/// recv() on `fd` (a blocking socket) that first polls with MSG_DONTWAIT for at most
/// `spin` (LineConnection::Wait::spin); returns what recv() returns.
ssize_t recv_spinning(int fd, char* buffer, std::size_t size, std::chrono::microseconds spin);

/// One request on a fresh connection; returns the answer line (the server then closes).
std::string query(std::uint16_t port, std::string_view request_line);

/// The integer value of `"key":N` in a one-line JSON answer, or -1 when it is absent.
long json_integer(const std::string& json, const std::string& key);

/// A TCP connection to 127.0.0.1:`port` with TCP_NODELAY and a receive timeout of
/// `receive_timeout_seconds`; throws naming `what` when it cannot connect.
[[nodiscard]] int connect_loopback(std::uint16_t port, int receive_timeout_seconds, const std::string& what);

}  // namespace bench
