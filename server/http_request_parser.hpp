// Turns the bytes of an HTTP/1.x connection into requests, one at a time, with every size
// bounded. The parsing itself is Node's http_parser (Debian's libhttp-parser 2.9); this
// class keeps the few headers the server reads and enforces the limits of docs/HTTP-API.md.
// No I/O: HttpConnection feeds it what it reads.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct http_parser;

namespace tnl {

/// One complete request as received.
struct HttpMessage {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent, e.g. "/api/v1alpha1/locks/list?page=2"
  unsigned version_minor = 1;  ///< HTTP/1.<this>
  bool keep_alive = true;      ///< the client may send another request (HTTP/1.1 without close, or 1.0 keep-alive)
  bool upgrade = false;        ///< CONNECT or Upgrade: nothing may follow our answer on this connection
  /// The headers the server reads (see HttpRequestParser::kept_headers), names lower-case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  ///< at most Limits::max_body bytes

  /// The value of header `name` (lower-case), if sent.
  [[nodiscard]] const std::string* header(std::string_view name) const;
};

class HttpRequestParser {
 public:
  /// What a request may be; beyond these the request gets the status in Error.
  struct Limits {
    std::size_t max_target = 8 * 1024;        ///< request target (414)
    std::size_t max_header_name = 1024;       ///< one header's name (431)
    std::size_t max_header_value = 8 * 1024;  ///< one header's value (431)
    std::size_t max_headers = 100;            ///< header lines (431)
    std::size_t max_head = 32 * 1024;         ///< request line and headers together (431)
    std::size_t max_body = 8 * 1024;          ///< body, declared or received (413)
  };
  /// Why a request cannot be answered normally: the status and message to answer with
  /// before closing the connection.
  struct Error {
    int status = 400;
    std::string message;
  };
  enum class State {
    idle,        ///< no byte of the next request yet
    head,        ///< inside the request line or headers
    body,        ///< head complete, reading the body
    complete,    ///< a request is ready: take() it
    failed,      ///< error() says why; nothing more is parsed
  };

  /// The headers kept in HttpMessage::headers; all others are only counted and measured.
  static constexpr std::string_view kept_headers[] = {"host", "authorization", "content-type", "origin",
                                                      "sec-fetch-site", "expect"};

  HttpRequestParser();
  explicit HttpRequestParser(const Limits& limits);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  /// Parses from `data` up to the end of one request (then state() is complete) or of the
  /// data; returns how many bytes it used. The rest belongs to the next request: feed it
  /// again after take().
  std::size_t feed(const char* data, std::size_t size);
  [[nodiscard]] State state() const { return state_; }
  /// Valid once state() is failed.
  [[nodiscard]] const Error& error() const { return error_; }
  /// The head is complete and announced a body: HttpConnection answers `Expect: 100-continue`.
  [[nodiscard]] bool expects_continue() const;
  /// The complete request; the parser then waits for the next one.
  HttpMessage take();

 private:
  struct Callbacks;
  /// Records an error; the callback that calls it makes http_parser stop.
  int fail(int status, std::string message);
  /// Whether header `field` (lower-case) is kept: one the server reads, in the head.
  [[nodiscard]] bool keeps(const std::string& field) const;
  /// Stores the header just read, if it is one that is kept; checks the limits.
  int finish_header();

  const Limits limits_;
  std::unique_ptr<http_parser> parser_;
  State state_ = State::idle;
  Error error_;
  HttpMessage message_;
  std::string field_;            ///< the header name being read
  std::string value_;            ///< its value, when the header is kept
  std::size_t value_length_ = 0;  ///< its value's length, kept or not
  bool in_value_ = false;        ///< the last callback was a header value
  std::size_t header_count_ = 0;
  std::size_t head_bytes_ = 0;
  std::size_t body_bytes_ = 0;
};

}  // namespace tnl
