// Handoff latency: W connections queue for one name with `wait:inf`; each holder in turn
// sends `release`, and we time from just before that send until the next waiter has read
// its `ok`. One process, blocking sockets, loopback only; the chain is bounded by W.
//
//   handoff --port PORT [--host 127.0.0.1] [--waiters 100] [--rounds 5]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// A blocking line-protocol connection.
class Conn {
 public:
  Conn(const std::string& host, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd_ < 0 || inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port));
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Conn(Conn&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Conn(const Conn&) = delete;
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(const std::string& line) const {
    if (::send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
      throw std::runtime_error("send failed");
    }
  }
  std::string read_line() {
    for (;;) {
      const auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      char chunk[256];
      const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got <= 0) throw std::runtime_error("connection closed");
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }
  void expect(const std::string& answer) {
    const auto line = read_line();
    if (line != answer) throw std::runtime_error("expected '" + answer + "', got '" + line + "'");
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[index];
}

/// Number of queued requests the server reports, via `.stats`.
int waiter_count(const std::string& host, int port) {
  Conn stats(host, port);
  stats.send(".stats\n");
  const auto line = stats.read_line();
  const auto key = line.find("\"waiter_count\":");
  return key == std::string::npos ? -1 : std::stoi(line.substr(key + 15));
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 7654;
  int waiters = 100;
  int rounds = 5;
  CLI::App app{"Handoff latency: from a holder's release to the next waiter's ok"};
  app.add_option("--host", host, "Server address (numeric IPv4)")->capture_default_str();
  app.add_option("--port", port, "Server port")->capture_default_str();
  app.add_option("--waiters", waiters, "Waiters queued per round")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--rounds", rounds, "Rounds")->capture_default_str()->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  std::vector<double> micros;
  for (int round = 0; round < rounds; ++round) {
    const std::string lock = fmt::format("lock,name:handoff-bench-{},wait:inf\n", round);
    std::vector<Conn> chain;
    chain.emplace_back(host, port);
    chain.front().send(lock);
    chain.front().expect("ok");
    for (int i = 0; i < waiters; ++i) {
      chain.emplace_back(host, port);
      chain.back().send(lock);
    }
    // All queued, in order, before timing starts.
    for (int tries = 0; waiter_count(host, port) != waiters; ++tries) {
      if (tries > 10000) throw std::runtime_error("waiters did not queue");
      usleep(1000);
    }
    for (int i = 0; i < waiters; ++i) {
      const auto start = Clock::now();
      chain[static_cast<std::size_t>(i)].send("release\n");
      chain[static_cast<std::size_t>(i) + 1].expect("ok");
      micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      chain[static_cast<std::size_t>(i)].expect("released");
    }
    chain.back().send("release\n");
    chain.back().expect("released");
  }
  fmt::print("handoff: {} waiters x {} rounds = {} handoffs\n", waiters, rounds, micros.size());
  fmt::print("handoff latency (release sent -> next waiter's ok read): p50 {:.1f} us, p99 {:.1f} us, max {:.1f} us\n",
             percentile(micros, 0.50), percentile(micros, 0.99), *std::max_element(micros.begin(), micros.end()));
  return 0;
}
