#include "line_connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace bench {

namespace {
constexpr int line_receive_timeout_seconds = 30;
}

int connect_loopback(std::uint16_t port, int receive_timeout_seconds, const std::string& what) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error("cannot connect to " + what + ": " + std::strerror(error));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval timeout{receive_timeout_seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

LineConnection::LineConnection(std::uint16_t port)
    : fd_(connect_loopback(port, line_receive_timeout_seconds, "127.0.0.1:" + std::to_string(port))) {}

LineConnection::LineConnection(LineConnection&& other) noexcept
    : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

LineConnection::~LineConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void LineConnection::send(std::string_view line) const {
  if (::send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
  }
}

std::string LineConnection::read_line(Wait wait) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(line_receive_timeout_seconds);
  std::size_t searched = 0;
  for (;;) {
    const auto newline = buffer_.find('\n', searched);
    if (newline != std::string::npos && newline + 1 == buffer_.size()) {
      buffer_.pop_back();  // the usual case, one whole answer: no copy
      return std::exchange(buffer_, {});
    }
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    searched = buffer_.size();
    char chunk[65536];
    const ssize_t got = wait == Wait::spin ? recv_spinning(fd_, chunk, sizeof chunk, spin_limit)
                                           : ::recv(fd_, chunk, sizeof chunk, wait == Wait::poll ? MSG_DONTWAIT : 0);
    if (got < 0 && wait == Wait::poll && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (std::chrono::steady_clock::now() > give_up) throw std::runtime_error("no answer within the receive timeout");
      continue;
    }
    if (got == 0) throw std::runtime_error("connection closed before a full answer line");
    if (got < 0) throw std::runtime_error(std::string("receive failed: ") + std::strerror(errno));
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
}

void LineConnection::expect(std::string_view answer, Wait wait) {
  const auto line = read_line(wait);
  if (line != answer) throw std::runtime_error("expected '" + std::string(answer) + "', got '" + line + "'");
}

void LineConnection::read_to_eof() {
  if (!buffer_.empty()) throw std::runtime_error("unexpected data: '" + buffer_ + "'");
  char chunk[256];
  const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
  if (got > 0) throw std::runtime_error("unexpected data: '" + std::string(chunk, static_cast<std::size_t>(got)) + "'");
  if (got < 0) throw std::runtime_error(std::string("receive failed: ") + std::strerror(errno));
}

ssize_t recv_spinning(int fd, char* buffer, std::size_t size, std::chrono::microseconds spin) {
  const auto until = std::chrono::steady_clock::now() + spin;
  do {
    const ssize_t got = ::recv(fd, buffer, size, MSG_DONTWAIT);
    if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return got;
  } while (std::chrono::steady_clock::now() < until);
  return ::recv(fd, buffer, size, 0);
}

std::string query(std::uint16_t port, std::string_view request_line) {
  LineConnection connection(port);
  connection.send(request_line);
  return connection.read_line();
}

long json_integer(const std::string& json, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  const auto at = json.find(quoted);
  if (at == std::string::npos) return -1;
  return std::stol(json.substr(at + quoted.size()));
}

}  // namespace bench
