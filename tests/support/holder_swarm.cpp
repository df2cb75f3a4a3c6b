#include "holder_swarm.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace tnl::test {

namespace {

using Clock = std::chrono::steady_clock;

/// Milliseconds from now to `deadline`, for epoll_wait (0 once it has passed).
int millis_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1000));
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

std::size_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw std::system_error(errno, std::generic_category(), "getrlimit");
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) throw std::system_error(errno, std::generic_category(), "setrlimit");
  return limit.rlim_cur;
}

HolderSwarm::HolderSwarm(std::uint16_t port) : port_(port) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  unsigned high = 0;
  if (range >> low >> high && low >= 1024 && high <= 65535 && low < high) {
    port_low_ = low;
    port_high_ = high;
  }
  next_source_port_ = port_low_;
}

HolderSwarm::~HolderSwarm() {
  close_all();
  ::close(epoll_);
}

int HolderSwarm::connect_next() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  for (unsigned tries = 0; tries <= port_high_ - port_low_; ++tries) {
    const auto source = loopback(static_cast<std::uint16_t>(next_source_port_));
    next_source_port_ = next_source_port_ >= port_high_ ? port_low_ : next_source_port_ + 1;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) == 0) {
      const auto server = loopback(port_);
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 && errno != EINPROGRESS) {
        const int error = errno;
        ::close(fd);
        throw std::system_error(error, std::generic_category(), "connect");
      }
      return fd;
    }
    if (errno != EADDRINUSE) break;
  }
  const int error = errno;
  ::close(fd);
  throw std::system_error(error, std::generic_category(), "bind: no free source port");
}

std::string HolderSwarm::on_open_event(std::size_t index, std::uint32_t events, const std::string& prefix) {
  Holder& holder = holders_[index];
  const std::string who = "holder " + std::to_string(index);
  if (holder.state == State::connecting) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(holder.fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return who + ": connect: " + std::strerror(error);
    if (!(events & EPOLLOUT)) return "";
    const std::string line = "lock,name:" + prefix + std::to_string(index) + "\n";
    if (::send(holder.fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
      return who + ": send: " + std::strerror(errno);
    }
    holder.state = State::awaiting_ok;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.u64 = index;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, holder.fd, &event);
    return "";
  }
  char buffer[64];
  const ssize_t got = ::recv(holder.fd, buffer, sizeof buffer, 0);
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return "";
  if (got <= 0) return who + ": closed before its answer";
  holder.input.append(buffer, static_cast<std::size_t>(got));
  if (holder.input.find('\n') == std::string::npos) return holder.input.size() > 32 ? who + ": no line end" : "";
  if (holder.input != "ok\n") return who + ": expected ok, got " + holder.input;
  holder.input.clear();
  holder.state = State::holding;
  ++held_;
  return "";
}

std::string HolderSwarm::open(int count, int window, const std::string& prefix, Clock::time_point deadline) {
  holders_.reserve(holders_.size() + static_cast<std::size_t>(count));
  const std::size_t first = holders_.size();
  const std::size_t end = first + static_cast<std::size_t>(count);
  const std::size_t target = held_ + static_cast<std::size_t>(count);
  std::size_t started = first;
  int in_flight = 0;
  std::vector<epoll_event> events(1024);
  while (held_ < target) {
    while (in_flight < window && started < end) {
      Holder holder;
      holder.fd = connect_next();
      epoll_event event{};
      event.events = EPOLLOUT | EPOLLRDHUP;
      event.data.u64 = started;
      epoll_ctl(epoll_, EPOLL_CTL_ADD, holder.fd, &event);
      holders_.push_back(std::move(holder));
      ++started;
      ++in_flight;
    }
    if (Clock::now() >= deadline) {
      return "only " + std::to_string(count - (target - held_)) + " of " + std::to_string(count) + " holders before the deadline";
    }
    const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), millis_until(deadline));
    if (ready < 0 && errno != EINTR) return std::string("epoll_wait: ") + std::strerror(errno);
    for (int i = 0; i < ready; ++i) {
      const std::size_t index = events[i].data.u64;
      const bool was_pending = holders_[index].state != State::holding;
      std::string error = on_open_event(index, events[i].events, prefix);
      if (!error.empty()) return error;
      if (was_pending && holders_[index].state == State::holding) --in_flight;
    }
  }
  return "";
}

std::vector<std::string> HolderSwarm::watch(Clock::time_point until) {
  std::vector<std::string> heard;
  std::vector<epoll_event> events(256);
  while (Clock::now() < until) {
    const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), millis_until(until));
    for (int i = 0; i < ready; ++i) {
      const std::size_t index = events[i].data.u64;
      Holder& holder = holders_[index];
      char buffer[256];
      const ssize_t got = ::recv(holder.fd, buffer, sizeof buffer, 0);
      std::string what = got > 0    ? "got '" + std::string(buffer, static_cast<std::size_t>(got)) + "'"
                         : got == 0 ? "got EOF"
                                    : std::string("got error: ") + std::strerror(errno);
      heard.push_back("holder " + std::to_string(index) + " " + what);
      // Heard once is enough: stop watching it, so that a closed one does not spin.
      epoll_ctl(epoll_, EPOLL_CTL_DEL, holder.fd, nullptr);
      holder.state = State::failed;
    }
  }
  return heard;
}

int HolderSwarm::keepalive_all(Clock::time_point deadline) {
  static const std::string line = ".keepalive\n";
  for (auto& holder : holders_) {
    if (holder.state != State::holding) continue;
    if (::send(holder.fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
      holder.state = State::failed;
    }
  }
  int alive = 0;
  int waiting = static_cast<int>(std::count_if(holders_.begin(), holders_.end(),
                                               [](const Holder& h) { return h.state == State::holding; }));
  std::vector<epoll_event> events(1024);
  while (waiting > 0 && Clock::now() < deadline) {
    const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), millis_until(deadline));
    for (int i = 0; i < ready; ++i) {
      Holder& holder = holders_[events[i].data.u64];
      if (holder.state != State::holding) continue;
      char buffer[64];
      const ssize_t got = ::recv(holder.fd, buffer, sizeof buffer, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) {
        holder.state = State::failed;
        epoll_ctl(epoll_, EPOLL_CTL_DEL, holder.fd, nullptr);
        --waiting;
        continue;
      }
      holder.input.append(buffer, static_cast<std::size_t>(got));
      const auto newline = holder.input.find('\n');
      if (newline == std::string::npos) continue;
      if (holder.input.compare(0, newline, "alive") == 0) ++alive;
      holder.input.erase(0, newline + 1);
      --waiting;
    }
  }
  return alive;
}

void HolderSwarm::close_all() {
  const linger abort_on_close{1, 0};
  for (auto& holder : holders_) {
    if (holder.fd < 0) continue;
    setsockopt(holder.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ::close(holder.fd);
    holder.fd = -1;
  }
  holders_.clear();
  held_ = 0;
}

}  // namespace tnl::test
