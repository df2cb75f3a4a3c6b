// Real etcd members (Debian's /usr/bin/etcd) for the etcd client's tests: one cluster of
// 1 or 3 members on ephemeral loopback ports, data in a private directory under /dev/shm
// (fsync is cheap there), killed and removed at the end. Members can be killed, stopped
// (SIGSTOP), resumed and restarted on the same ports and data.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace tnl::test {

class EtcdMembers {
 public:
  /// Starts `count` members as one cluster and waits until it has a leader. Throws (with
  /// etcd's output) when etcd is missing or does not come up.
  explicit EtcdMembers(int count = 1);
  ~EtcdMembers();
  EtcdMembers(const EtcdMembers&) = delete;
  EtcdMembers& operator=(const EtcdMembers&) = delete;

  [[nodiscard]] int size() const { return static_cast<int>(members_.size()); }
  /// "127.0.0.1:PORT", the client URL of member `i` without its scheme.
  [[nodiscard]] std::string endpoint(int i) const;
  /// Every member's endpoint, in order.
  [[nodiscard]] std::vector<std::string> endpoints() const;

  /// SIGKILL, and waits until it has exited.
  void kill(int i);
  /// SIGSTOP, and waits until every thread has stopped: the process stays, its sockets
  /// accept connections, nothing answers.
  void stop(int i);
  /// SIGCONT after stop().
  void resume(int i);
  /// Starts a killed member again, same name, ports and data.
  void restart(int i);
  /// True while member `i`'s process runs (stopped counts as running).
  bool running(int i);

  /// Waits until member `i` answers /health with a leader; false on timeout.
  bool wait_healthy(int i, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Runs `etcdctl --endpoints=<every running member> ARGS...`; returns its stdout, throws
  /// when it fails.
  std::string etcdctl(const std::vector<std::string>& args);
  /// What member `i` wrote to stderr (its log), for failure messages.
  [[nodiscard]] std::string log(int i) const;

 private:
  struct Member {
    std::string name;
    std::uint16_t client_port = 0;
    std::uint16_t peer_port = 0;
    std::filesystem::path data_dir;
    std::optional<ChildProcess> process;
    bool stopped = false;
  };
  void launch(int i, bool new_cluster);

  std::filesystem::path dir_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace tnl::test
