// Real etcd members (/usr/bin/etcd) on ephemeral loopback ports, for the etcd tests: one
// member or a cluster of three, data dirs under /dev/shm (fsync is cheap there), faults on
// demand (kill -9, SIGSTOP/SIGCONT, restart on the same data dir), all stopped at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"

namespace tnl::test {

/// What `etcdctl` printed and how it ended.
struct EtcdctlResult {
  std::optional<ExitStatus> status;  ///< nullopt: still running at the timeout (then killed)
  std::string out;
  std::string err;
  [[nodiscard]] bool ok() const { return status && status->exited(0); }
};

/// Options for EtcdCluster.
struct EtcdClusterOptions {
  int members = 1;                                  ///< 1 or 3 (any odd count works)
  std::chrono::milliseconds heartbeat{100};         ///< etcd --heartbeat-interval
  std::chrono::milliseconds election{1000};         ///< etcd --election-timeout
  std::chrono::milliseconds start_timeout{20000};   ///< until every member is healthy
};

class EtcdCluster {
 public:
  /// Starts the members and waits until every one answers /health with a leader elected.
  /// Throws (the test fails, it does not skip) when /usr/bin/etcd is missing or the
  /// cluster does not come up; retries with new ports when one was taken meanwhile.
  explicit EtcdCluster(EtcdClusterOptions options = {});
  explicit EtcdCluster(int members) : EtcdCluster(EtcdClusterOptions{members}) {}
  /// Kills every member (SIGCONT first for a stopped one) and removes the data dirs.
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  [[nodiscard]] int size() const { return static_cast<int>(members_.size()); }
  /// "http://127.0.0.1:P1,http://127.0.0.1:P2,...": every member, for --etcd-endpoints.
  [[nodiscard]] std::string endpoints() const;
  /// "http://127.0.0.1:P" of member `i`.
  [[nodiscard]] std::string endpoint(int i) const;
  /// "127.0.0.1:P" of member `i`, without the scheme (as the etcd client takes it).
  [[nodiscard]] std::string address(int i) const;
  /// Every member's address(), in order.
  [[nodiscard]] std::vector<std::string> addresses() const;
  [[nodiscard]] std::uint16_t client_port(int i) const { return members_.at(i).client_port; }

  /// kill -9 of member `i`, and waits until it is gone.
  void kill(int i);
  /// SIGSTOP / SIGCONT of member `i` (a frozen member: its ports still accept connections);
  /// pause() returns once every thread of it has stopped.
  void pause(int i);
  void resume(int i);
  /// Starts member `i` again (after kill) on the same ports and data dir. Does not wait for
  /// health: call wait_healthy().
  void restart(int i);
  /// Whether member `i`'s process is alive (stopped counts as alive).
  bool running(int i);

  /// Whether member `i` answers GET /health with {"health":"true"} (it has a leader and a
  /// quorum answered) within `timeout` for that one request.
  bool healthy(int i, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
  /// Waits until every member not killed or paused by the test is healthy; false at the deadline.
  bool wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  /// Runs the real `etcdctl` (ETCDCTL_API=3) against every member (unless `args` has its own
  /// --endpoints=, e.g. endpoint(i): etcdctl would append to the list) with `args`, waits up to
  /// `timeout` for it to end (killing it then), and returns what it printed.
  EtcdctlResult etcdctl(const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  /// The argv to start `etcdctl` yourself (e.g. a long-running `etcdctl lock`), with the
  /// environment it needs in `env` (ETCDCTL_API=3).
  [[nodiscard]] std::vector<std::string> etcdctl_argv(const std::vector<std::string>& args) const;
  /// etcdctl(args) against the members not killed or paused by the test; its stdout. Throws
  /// with what it printed when it fails.
  std::string etcdctl_out(const std::vector<std::string>& args) const;
  /// Every key under `prefix` (etcdctl get --prefix --keys-only), in key order.
  std::vector<std::string> keys(const std::string& prefix) const;

  /// The member's process, for its logs (stderr).
  ChildProcess& process(int i) { return *members_.at(i).process; }
  /// What member `i` wrote to stderr (its log) so far.
  [[nodiscard]] std::string log(int i) const;
  /// Every member's last log lines, for failure messages.
  [[nodiscard]] std::string logs_tail(std::size_t bytes_per_member = 2000) const;

 private:
  struct Member {
    std::string name;
    std::uint16_t client_port = 0;
    std::uint16_t peer_port = 0;
    std::filesystem::path data_dir;
    std::optional<ChildProcess> process;
    bool paused = false;
    bool down = false;  ///< killed by the test (not expected to answer)
  };

  /// Picks fresh ports and starts every member; false when they did not all come up.
  bool start_all();
  void start(Member& member);
  void kill_all();

  EtcdClusterOptions options_;
  std::filesystem::path root_;  ///< the data dirs' parent, under /dev/shm
  std::string initial_cluster_;
  std::vector<Member> members_;
  int attempts_ = 0;  ///< start attempts: each gets fresh data dirs
};

}  // namespace tnl::test
