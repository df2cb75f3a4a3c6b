// One etcd member started by the benchmark (Debian's /usr/bin/etcd) on two free loopback
// ports, its data directory in a fresh temporary directory under a base of our choice (a
// normal disk, where every write is fsync'ed as in production, or /dev/shm), stopped and
// removed when destroyed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace bench {

class EtcdProcess {
 public:
  /// Starts `binary` with its data under a new directory in `base`, and waits (at most
  /// 20 s) until it answers /health with "true". Throws with its log's tail if not. With
  /// `cpu` >= 0, etcd (every thread of it) runs on that CPU only.
  EtcdProcess(const std::string& binary, const std::string& base, int cpu = -1);
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;
  ~EtcdProcess();

  /// "127.0.0.1:PORT" of the client port (gRPC target).
  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// The data directory's base, as given (for the report).
  [[nodiscard]] const std::string& base() const { return base_; }

 private:
  void stop();

  std::string base_;
  std::string directory_;
  pid_t pid_ = -1;
  std::uint16_t client_port_ = 0;
};

}  // namespace bench
