#include "http_client.hpp"

#include "socket_address.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace tnl::test {

namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

int milliseconds_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

/// A socket connected to host:port within the deadline, or -1 (with `error` set).
int connect_to(const std::string& host, std::uint16_t port, Clock::time_point deadline, std::string& error) {
  const SocketAddress address = numeric_address(host, port);
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (::connect(fd, address.get(), address.length) != 0) {
    if (errno != EINPROGRESS) {
      error = std::string("connect: ") + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int ready = 0;
    do {
      ready = ::poll(&p, 1, milliseconds_left(deadline));
    } while (ready < 0 && errno == EINTR);
    int so_error = 0;
    socklen_t so_length = sizeof so_error;
    if (ready <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_length) != 0 || so_error != 0) {
      error = ready <= 0 ? "connect: timed out" : std::string("connect: ") + std::strerror(so_error);
      ::close(fd);
      return -1;
    }
  }
  return fd;
}

/// Sends all of `bytes` before the deadline; false when the peer is gone or time is up.
bool send_all(int fd, std::string_view bytes, Clock::time_point deadline) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, milliseconds_left(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

/// Where the body starts (after "\r\n\r\n"), or npos.
std::size_t header_end(const std::string& bytes) {
  const auto end = bytes.find("\r\n\r\n");
  return end == std::string::npos ? end : end + 4;
}

/// Decodes a chunked body; nullopt while incomplete or malformed.
std::optional<std::string> dechunk(std::string_view data) {
  std::string body;
  for (;;) {
    const auto line_end = data.find("\r\n");
    if (line_end == std::string_view::npos) return std::nullopt;
    std::size_t size = 0;
    try {
      size = std::stoul(std::string(data.substr(0, line_end)), nullptr, 16);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    data.remove_prefix(line_end + 2);
    if (size == 0) return body;  // trailers are not used by anything we test
    if (data.size() < size + 2) return std::nullopt;
    body.append(data.substr(0, size));
    data.remove_prefix(size + 2);
  }
}

bool parse_head(const std::string& bytes, std::size_t start, HttpReply& reply);

/// True once `bytes` holds a whole answer (so that we need not wait for the close).
bool complete(const std::string& bytes) {
  const auto start = header_end(bytes);
  if (start == std::string::npos) return false;
  HttpReply head;
  if (!parse_head(bytes, start, head)) return true;  // unparsable: reading more will not help
  if (head.status / 100 == 1 || head.status == 204 || head.status == 304) return true;
  if (const auto length = head.header("content-length")) {
    return bytes.size() - start >= std::stoull(*length);
  }
  if (const auto encoding = head.header("transfer-encoding"); encoding && lower(*encoding) == "chunked") {
    return dechunk(std::string_view(bytes).substr(start)).has_value();
  }
  return false;  // delimited by the close
}

/// Reads into `received` until `done(received)` is true, EOF/reset, or the deadline.
/// Returns true when the server closed (EOF or reset).
template <typename Done>
bool read_until(int fd, std::string& received, Clock::time_point deadline, Done done) {
  while (!done(received)) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, milliseconds_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char chunk[16384];
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (got <= 0) return true;
    received.append(chunk, static_cast<std::size_t>(got));
  }
  return false;
}

/// Parses the status line and headers of `bytes` (which hold them whole, up to `start`).
bool parse_head(const std::string& bytes, std::size_t start, HttpReply& reply) {
  std::string_view head(bytes.data(), start - 4);
  const auto first_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, first_end);
  // "HTTP/1.1 200 OK"
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 || status_line[8] != ' ') {
    reply.error = "bad status line: " + std::string(status_line);
    return false;
  }
  const std::string code(status_line.substr(9, 3));
  if (!std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isdigit(c); })) {
    reply.error = "bad status code: " + std::string(status_line);
    return false;
  }
  reply.reason = status_line.size() > 13 ? std::string(status_line.substr(13)) : "";
  head.remove_prefix(first_end == std::string_view::npos ? head.size() : first_end + 2);
  while (!head.empty()) {
    const auto line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      reply.error = "bad header line: " + std::string(line);
      return false;
    }
    reply.headers.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  reply.status = std::stoi(code);
  return true;
}

}  // namespace

std::optional<std::string> HttpReply::header(std::string_view name) const {
  const std::string wanted = lower(std::string(name));
  for (const auto& [key, value] : headers) {
    if (key == wanted) return value;
  }
  return std::nullopt;
}

nlohmann::json HttpReply::json() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const std::exception& e) {
    throw std::runtime_error("HTTP " + std::to_string(status) + " body is not JSON (" + e.what() + "): " + body +
                             (error.empty() ? "" : " [" + error + "]"));
  }
}

HttpReply HttpClient::parse(const std::string& bytes) {
  HttpReply reply;
  const auto start = header_end(bytes);
  if (start == std::string::npos) {
    reply.error = "incomplete header";
    return reply;
  }
  if (!parse_head(bytes, start, reply)) return reply;

  const std::string_view rest = std::string_view(bytes).substr(start);
  if (const auto length = reply.header("content-length")) {
    const auto size = std::stoull(*length);
    if (rest.size() < size) {
      reply.error = "body shorter than Content-Length";
      reply.status = 0;
      return reply;
    }
    reply.body = std::string(rest.substr(0, size));
  } else if (const auto encoding = reply.header("transfer-encoding"); encoding && lower(*encoding) == "chunked") {
    const auto body = dechunk(rest);
    if (!body) {
      reply.error = "incomplete chunked body";
      reply.status = 0;
      return reply;
    }
    reply.body = *body;
  } else {
    reply.body = std::string(rest);
  }
  return reply;
}

HttpReply HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers) const {
  const auto deadline = Clock::now() + timeout_;
  HttpReply failed;
  const int fd = connect_to(host_, port_, deadline, failed.error);
  if (fd < 0) return failed;

  std::string text = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + ":" + std::to_string(port_) +
                     "\r\nConnection: close\r\nAccept: */*\r\n";
  const bool has_body = !body.empty() || method == "POST" || method == "PUT";
  if (has_body) {
    text += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [name, value] : headers) text += name + ": " + value + "\r\n";
  text += "\r\n";
  text += body;
  // A server that refuses the request may close before it has read everything: keep
  // whatever it answered.
  const bool sent = send_all(fd, text, deadline);

  std::string received;
  const bool closed = read_until(fd, received, deadline, complete);
  ::close(fd);
  // Without Content-Length or chunks, the close ends the body.
  if (HttpReply reply = parse(received); reply.status != 0 && (complete(received) || closed)) return reply;
  HttpReply incomplete;
  incomplete.error = std::string(closed ? "server closed the connection" : "timed out") + " after " +
                     std::to_string(received.size()) + " bytes" + (sent ? "" : " (request not fully sent)");
  incomplete.body = received;
  return incomplete;
}

RawExchange HttpClient::raw(std::string_view bytes) const {
  const auto deadline = Clock::now() + timeout_;
  RawExchange exchange;
  std::string error;
  const int fd = connect_to(host_, port_, deadline, error);
  if (fd < 0) return exchange;
  exchange.connected = true;
  send_all(fd, bytes, deadline);
  exchange.closed_by_server = read_until(fd, exchange.received, deadline, [](const std::string&) { return false; });
  ::close(fd);
  return exchange;
}

HttpStream::HttpStream(std::uint16_t port, std::chrono::milliseconds timeout, std::string host) : timeout_(timeout) {
  std::string error;
  fd_ = connect_to(host, port, Clock::now() + timeout, error);
}

HttpStream::~HttpStream() {
  if (fd_ >= 0) ::close(fd_);
}

HttpStream::HttpStream(HttpStream&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)),
      closed_(other.closed_) {}

bool HttpStream::send(std::string_view bytes) { return fd_ >= 0 && send_all(fd_, bytes, Clock::now() + timeout_); }

bool HttpStream::read_more(Clock::time_point deadline) {
  if (fd_ < 0 || closed_) return false;
  const std::size_t before = buffer_.size();
  closed_ = read_until(fd_, buffer_, deadline, [before](const std::string& got) { return got.size() > before; });
  return buffer_.size() > before;
}

HttpReply HttpStream::read_reply(bool head) {
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    const auto start = header_end(buffer_);
    if (start != std::string::npos) {
      HttpReply reply;
      if (!parse_head(buffer_, start, reply)) {
        reply.status = 0;
        return reply;
      }
      std::size_t length = 0;
      if (!head) {
        if (const auto declared = reply.header("content-length")) length = std::stoull(*declared);
      }
      if (buffer_.size() - start >= length) {
        reply.body = buffer_.substr(start, length);
        buffer_.erase(0, start + length);
        return reply;
      }
    }
    if (!read_more(deadline)) {
      HttpReply none;
      none.error = std::string(closed_ ? "server closed the connection" : "timed out") + " with " +
                   std::to_string(buffer_.size()) + " bytes unread";
      return none;
    }
  }
}

bool HttpStream::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!closed_ && Clock::now() < deadline) read_more(deadline);
  return closed_;
}

}  // namespace tnl::test
