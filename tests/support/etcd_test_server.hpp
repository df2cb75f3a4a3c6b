// One real etcd (Debian's /usr/bin/etcd) for in-process tests of the etcd backend: a single
// member on ephemeral loopback ports, its data in a private directory under /dev/shm (fsync
// is cheap there), killed and removed at the end. It can be stopped (SIGSTOP) and resumed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace tnl::test {

class EtcdTestServer {
 public:
  /// Starts etcd and waits until it serves clients. Throws (with etcd's output) when
  /// /usr/bin/etcd is missing or does not come up: etcd is a dependency, never a skip.
  EtcdTestServer();
  ~EtcdTestServer();
  EtcdTestServer(const EtcdTestServer&) = delete;
  EtcdTestServer& operator=(const EtcdTestServer&) = delete;

  /// "127.0.0.1:PORT".
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  /// SIGSTOP: its sockets still accept, nothing answers.
  void stop();
  /// SIGCONT after stop().
  void resume();
  /// Runs `etcdctl --endpoints=ENDPOINT ARGS...`; returns its stdout; throws when it fails.
  std::string etcdctl(const std::vector<std::string>& args) const;
  /// etcd's log so far.
  [[nodiscard]] std::string log() const;

 private:
  std::filesystem::path dir_;
  std::string endpoint_;
  std::optional<ChildProcess> process_;
  bool stopped_ = false;
};

}  // namespace tnl::test
