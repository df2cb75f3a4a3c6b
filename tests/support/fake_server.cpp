#include "fake_server.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace tnl::test {

FakeServer::FakeServer(std::vector<std::string> answers, bool close_after_answers)
    : answers_(std::move(answers)), close_after_answers_(close_after_answers) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 4) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("cannot start the fake server");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeServer::~FakeServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<std::string> FakeServer::requests() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return requests_;
}

bool FakeServer::wait_readable(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!stop_ && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) return true;
  }
  return false;
}

void FakeServer::serve() {
  if (!wait_readable(listen_fd_)) return;
  const int fd = ::accept(listen_fd_, nullptr, nullptr);
  if (fd < 0) return;
  std::string buffer;
  std::size_t answered = 0;
  char chunk[512];
  while (wait_readable(fd)) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      closed_ = true;
      break;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (auto end = buffer.find('\n'); end != std::string::npos; end = buffer.find('\n')) {
      {
        std::lock_guard<std::mutex> guard(mutex_);
        requests_.push_back(buffer.substr(0, end));
      }
      buffer.erase(0, end + 1);
      if (answered < answers_.size()) {
        const std::string answer = answers_[answered++] + "\n";
        [[maybe_unused]] auto written = ::write(fd, answer.data(), answer.size());
        if (answered == answers_.size() && close_after_answers_) {
          ::close(fd);
          return;
        }
      }
    }
  }
  ::close(fd);
}

}  // namespace tnl::test
