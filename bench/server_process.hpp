// The server under test. Either started here, from a binary and its arguments, on an
// ephemeral port of 127.0.0.1 (a fresh process for every measurement), or one already
// running that we only know by port and, for memory and CPU figures, pid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// What a scenario needs to know about the server it measures.
struct Target {
  std::string label;       ///< "ours" or "floor", for the table
  bool is_floor = false;   ///< the floor server: no lock table, so no queue and no waiter count
  std::uint16_t port = 0;  ///< on 127.0.0.1
  pid_t pid = 0;           ///< 0 when unknown (attached without a pid): no memory or CPU figures
};

/// A server process started by the benchmark; stopped (SIGTERM, then SIGKILL) when destroyed.
class ServerProcess {
 public:
  /// Runs `argv` plus `--listen 127.0.0.1 --port 0 --port-file FILE`, on CPU `cpu` alone
  /// unless it is negative, and waits (at most 10 s) until it has written its port. Its
  /// stderr goes to a log file, shown if it fails.
  ServerProcess(std::vector<std::string> argv, int cpu);
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 10 s.
  void stop();

 private:
  /// The last lines of the server's stderr, for error messages.
  [[nodiscard]] std::string log_tail() const;

  std::string directory_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace bench
