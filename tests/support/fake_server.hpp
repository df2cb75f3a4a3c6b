// A scripted line-protocol server for client tests: one connection on 127.0.0.1, canned
// answers, and a record of what the client sent.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tnl::test {

/// A one-connection server on 127.0.0.1 that answers the n-th request line with
/// answers[n]; then, with `close_after_answers`, closes the connection, otherwise keeps
/// it open until the client closes it (or 20 s).
class FakeServer {
 public:
  /// Listens on an ephemeral loopback port and serves on a thread; throws when it cannot.
  explicit FakeServer(std::vector<std::string> answers, bool close_after_answers = false);
  /// Stops serving (within 20 ms) and closes the listening socket.
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  /// The listening port, as text for command lines.
  [[nodiscard]] std::string port_string() const { return std::to_string(port_); }
  /// The listening port.
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Request lines received so far (without line ends).
  std::vector<std::string> requests() const;
  /// True once the client has closed its connection.
  [[nodiscard]] bool client_closed() const { return closed_; }

 private:
  /// Waits until `fd` is readable, checking for stop every 20 ms; false on stop or timeout.
  bool wait_readable(int fd);
  /// The serving thread: accepts one connection and answers its lines.
  void serve();

  std::vector<std::string> answers_;
  bool close_after_answers_ = false;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace tnl::test
