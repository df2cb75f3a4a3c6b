// A tiny blocking HTTP/1.1 client for tests: one request per connection
// (`Connection: close`), bounded by a timeout, no redirects, no TLS.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tnl::test {

/// What came back. `status` is 0 when there is no complete answer (refused, reset,
/// closed early, timed out, unparsable); `error` then says why.
struct HttpReply {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased, in order
  std::string body;
  std::string error;

  /// The first header of that name (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
  /// The body as JSON; throws (with the body in the message) when it is not JSON.
  [[nodiscard]] nlohmann::json json() const;
};

/// Raw bytes sent to a server and every byte it sent back until it closed (or the timeout).
struct RawExchange {
  bool connected = false;
  bool closed_by_server = false;  ///< EOF or reset seen before the timeout
  std::string received;
};

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::string host = "127.0.0.1",
                      std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : port_(port), host_(std::move(host)), timeout_(timeout) {}

  /// Sends `method target` with `body` (Content-Length always set for POST/PUT/DELETE or a
  /// non-empty body; Content-Type application/json when there is a body) and extra headers.
  [[nodiscard]] HttpReply request(const std::string& method, const std::string& target, const std::string& body = "",
                                  const std::vector<std::pair<std::string, std::string>>& headers = {}) const;

  [[nodiscard]] HttpReply get(const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    return request("GET", target, "", headers);
  }
  [[nodiscard]] HttpReply post(const std::string& target, const std::string& body,
                               const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    return request("POST", target, body, headers);
  }
  [[nodiscard]] HttpReply post(const std::string& target, const nlohmann::json& body,
                               const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    return request("POST", target, body.dump(), headers);
  }
  [[nodiscard]] HttpReply del(const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    return request("DELETE", target, "", headers);
  }

  /// Sends `bytes` as they are and collects the answer until the server closes or the
  /// timeout passes. For malformed requests.
  [[nodiscard]] RawExchange raw(std::string_view bytes) const;

  /// Parses a complete answer (status line, headers, Content-Length or chunked body).
  static HttpReply parse(const std::string& bytes);

 private:
  std::uint16_t port_;
  std::string host_;
  std::chrono::milliseconds timeout_;
};

/// One connection kept open: raw requests in (any number, pipelined or not), answers read
/// one at a time. For keep-alive, pipelining, HEAD and slow clients.
class HttpStream {
 public:
  /// Connects (within `timeout`); every later read waits at most `timeout` too.
  explicit HttpStream(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                      std::string host = "127.0.0.1");
  ~HttpStream();
  HttpStream(HttpStream&& other) noexcept;
  HttpStream& operator=(HttpStream&&) = delete;
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  [[nodiscard]] bool connected() const { return fd_ >= 0; }
  /// Sends `bytes` as they are; false when the connection is gone.
  bool send(std::string_view bytes);
  /// The next answer. `head`: it answers HEAD, so it has no body whatever its Content-Length.
  /// status 0 (and `error`) when none came whole within the timeout.
  HttpReply read_reply(bool head = false);
  /// Waits until the server closes the connection (EOF or reset), reading and keeping what
  /// it still sends; false when it is still open after `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);
  /// Whether the server closed the connection (seen by a read).
  [[nodiscard]] bool closed() const { return closed_; }
  /// Bytes received and not yet returned as an answer.
  [[nodiscard]] const std::string& unread() const { return buffer_; }
  [[nodiscard]] int fd() const { return fd_; }

 private:
  /// Reads what is there (waiting until `deadline`); false at EOF, reset or timeout.
  bool read_more(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  bool closed_ = false;
};

/// `Authorization: Bearer TOKEN`, as a header list.
inline std::vector<std::pair<std::string, std::string>> bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

}  // namespace tnl::test
