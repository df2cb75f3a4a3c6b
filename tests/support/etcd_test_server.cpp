#include "etcd_test_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <system_error>

namespace tnl::test {

namespace fs = std::filesystem;

namespace {

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr const char* etcdctl_binary = "/usr/bin/etcdctl";

/// A loopback port free at the moment of asking (bound to 0, read back, closed).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::system_error(error, std::generic_category(), "bind");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

EtcdTestServer::EtcdTestServer() {
  if (::access(etcd_binary, X_OK) != 0) {
    throw std::runtime_error("etcd is missing: install etcd-server (scripts/install-deps.sh)");
  }
  const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  std::string pattern = (base / "tnl-etcd-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  dir_ = pattern;
  std::string last_log;
  // Ports are free when picked but not reserved: a clash is tried again with others.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::string client = "http://127.0.0.1:" + std::to_string(free_port());
    const std::string peer = "http://127.0.0.1:" + std::to_string(free_port());
    std::error_code ignored;
    fs::remove_all(dir_ / "data", ignored);
    process_.emplace(ChildProcess::start({etcd_binary, "--name", "test", "--data-dir", (dir_ / "data").string(),
                                          "--listen-client-urls", client, "--advertise-client-urls", client,
                                          "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                          "--initial-cluster", "test=" + peer, "--initial-cluster-state", "new",
                                          "--heartbeat-interval", "50", "--election-timeout", "500"}));
    if (process_->wait_for_stderr("ready to serve client requests", std::chrono::seconds(20))) {
      endpoint_ = client.substr(std::string("http://").size());
      return;
    }
    last_log = process_->stderr_text();
    process_.reset();
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
  throw std::runtime_error("etcd did not come up:\n" + last_log);
}

EtcdTestServer::~EtcdTestServer() {
  if (process_) {
    if (stopped_) process_->signal(SIGCONT);
    process_->signal(SIGKILL);
    process_->wait_for_exit(std::chrono::seconds(10));
    process_.reset();
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void EtcdTestServer::stop() {
  process_->signal(SIGSTOP);
  stopped_ = true;
}

void EtcdTestServer::resume() {
  process_->signal(SIGCONT);
  stopped_ = false;
}

std::string EtcdTestServer::etcdctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{etcdctl_binary, "--endpoints=" + endpoint_};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options;
  options.env["ETCDCTL_API"] = "3";
  auto child = ChildProcess::start(argv, options);
  const auto status = child.wait_for_exit(std::chrono::seconds(20));
  if (!status || !status->exited(0)) {
    throw std::runtime_error("etcdctl failed: " + child.stderr_text());
  }
  return child.stdout_text();
}

std::string EtcdTestServer::log() const { return process_ ? process_->stderr_text() : std::string{}; }

}  // namespace tnl::test
