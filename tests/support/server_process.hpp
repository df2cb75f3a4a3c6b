// The real tcpnetlock_server, started on an ephemeral loopback port for one test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "process.hpp"

namespace tnl::test {

/// Path of a built binary, e.g. binary("tcpnetlock_server"); set by CMake (TNL_BIN_DIR).
std::string binary(const std::string& name);

/// Whether the servers of this run keep their locks in etcd (the etcd/ reruns of the suites:
/// TNL_TEST_ETCD_ENDPOINTS_FILE is set). For the few checks of what only the local backend
/// does; a test that cannot hold with etcd at all is tagged [local-only] instead.
bool etcd_backend();

class ServerProcess {
 public:
  /// Starts the server with `--listen listen --port 0 --port-file ...` plus `extra_args`,
  /// and waits until it listens. With TNL_TEST_ETCD_ENDPOINTS_FILE set (the etcd/ test
  /// registrations), `--backend etcd` on that etcd in a fresh realm comes before `extra_args`. Throws when it does not start. `launcher` comes before
  /// the binary on the command line (e.g. {"prlimit", "--nofile=64", "--"}).
  explicit ServerProcess(std::vector<std::string> extra_args = {}, std::string listen = "127.0.0.1",
                         std::vector<std::string> launcher = {});

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string port_string() const { return std::to_string(port_); }
  ChildProcess& process() { return process_; }
  /// Sends SIGTERM and waits for the exit status.
  std::optional<ExitStatus> stop(int sig = 15);

 private:
  TempDir dir_;
  ChildProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace tnl::test
