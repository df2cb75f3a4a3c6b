#include "etcd_member.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <system_error>

#include "http_client.hpp"

namespace tnl::test {
namespace fs = std::filesystem;

namespace {

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr const char* etcdctl_binary = "/usr/bin/etcdctl";

/// `count` distinct free loopback ports below the kernel's ephemeral range (bound together,
/// then released for etcd to take): outgoing connections (gRPC's, in this very process)
/// take their local ports from the ephemeral range, and one of them could take a port
/// between now and etcd's bind.
std::vector<std::uint16_t> free_ports(int count) {
  int ephemeral_low = 32768;
  const std::string range = read_file("/proc/sys/net/ipv4/ip_local_port_range");
  if (!range.empty()) ephemeral_low = std::max(2000, std::atoi(range.c_str()));
  std::random_device seed;
  std::mt19937 random(seed());
  std::uniform_int_distribution<int> pick(1024, ephemeral_low - 1);
  std::vector<int> sockets;
  std::vector<std::uint16_t> ports;
  for (int tries = 0; static_cast<int>(ports.size()) < count && tries < 1000; ++tries) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) continue;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      continue;
    }
    sockets.push_back(fd);
    ports.push_back(port);
  }
  for (int fd : sockets) ::close(fd);
  if (static_cast<int>(ports.size()) < count) throw std::runtime_error("no free loopback ports for etcd");
  return ports;
}

fs::path private_dir() {
  const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  std::string pattern = (base / "tnl-etcd-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  return pattern;
}

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

/// True when every thread of `pid` is stopped (state T in /proc/PID/task/TID/stat).
bool all_threads_stopped(pid_t pid) {
  std::error_code error;
  bool any = false;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    const std::string stat = read_file(task.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return false;
    if (stat[close + 2] != 'T' && stat[close + 2] != 't') return false;
    any = true;
  }
  return any && !error;
}

}  // namespace

EtcdMembers::EtcdMembers(int count) {
  if (count < 1) throw std::invalid_argument("EtcdMembers: at least one member");
  if (access(etcd_binary, X_OK) != 0) {
    throw std::runtime_error(std::string(etcd_binary) + " not found: install etcd-server (scripts/install-deps.sh)");
  }
  dir_ = private_dir();
  // A port taken by someone else between free_ports() and etcd's bind: etcd exits at once;
  // then everything is tried again with new ports.
  std::string failures;
  for (int attempt = 1;; ++attempt) {
    members_.clear();
    members_.resize(static_cast<std::size_t>(count));
    const auto ports = free_ports(2 * count);
    initial_cluster_.clear();
    for (int i = 0; i < count; ++i) {
      auto& member = members_[static_cast<std::size_t>(i)];
      member.name = "m" + std::to_string(i);
      member.client_port = ports[static_cast<std::size_t>(2 * i)];
      member.peer_port = ports[static_cast<std::size_t>(2 * i + 1)];
      member.data_dir = dir_ / ("attempt" + std::to_string(attempt)) / member.name;
      if (!initial_cluster_.empty()) initial_cluster_ += ',';
      initial_cluster_ += member.name + "=" + url(member.peer_port);
    }
    for (int i = 0; i < count; ++i) launch(i, true);
    bool healthy = true;
    for (int i = 0; i < count && healthy; ++i) healthy = wait_healthy(i);
    if (healthy) return;
    failures += "--- attempt " + std::to_string(attempt) + ":\n";
    for (int i = 0; i < count; ++i) failures += members_[static_cast<std::size_t>(i)].name + ": " + log(i) + "\n";
    members_.clear();  // kills them
    if (attempt == 4) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
      throw std::runtime_error("etcd did not come up:\n" + failures);
    }
  }
}

EtcdMembers::~EtcdMembers() {
  for (auto& member : members_) {
    if (member.process && member.stopped) member.process->signal(SIGCONT);
  }
  members_.clear();  // ChildProcess kills and reaps
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void EtcdMembers::launch(int i, bool new_cluster) {
  auto& member = members_.at(static_cast<std::size_t>(i));
  fs::create_directories(member.data_dir);
  member.stopped = false;
  member.process.emplace(ChildProcess::start({
      etcd_binary,
      "--name", member.name,
      "--data-dir", member.data_dir.string(),
      "--listen-client-urls", url(member.client_port),
      "--advertise-client-urls", url(member.client_port),
      "--listen-peer-urls", url(member.peer_port),
      "--initial-advertise-peer-urls", url(member.peer_port),
      "--initial-cluster", initial_cluster_,
      "--initial-cluster-state", new_cluster ? "new" : "existing",
      "--initial-cluster-token", dir_.filename().string(),
      "--logger", "zap",
      "--log-level", "warn",
  }));
}

std::string EtcdMembers::endpoint(int i) const {
  return "127.0.0.1:" + std::to_string(members_.at(static_cast<std::size_t>(i)).client_port);
}

std::vector<std::string> EtcdMembers::endpoints() const {
  std::vector<std::string> result;
  for (int i = 0; i < size(); ++i) result.push_back(endpoint(i));
  return result;
}

void EtcdMembers::kill(int i) {
  auto& member = members_.at(static_cast<std::size_t>(i));
  if (!member.process) return;
  member.process->signal(SIGKILL);
  member.process->wait_for_exit(std::chrono::seconds(10));
  member.process.reset();
  member.stopped = false;
}

void EtcdMembers::stop(int i) {
  auto& member = members_.at(static_cast<std::size_t>(i));
  if (!member.process) return;
  member.process->signal(SIGSTOP);
  member.stopped = true;
  // kill() returns before every thread has stopped: until then it may still answer.
  if (!wait_until([&] { return all_threads_stopped(member.process->pid()); }, std::chrono::seconds(5))) {
    throw std::runtime_error("etcd member " + member.name + " did not stop on SIGSTOP");
  }
}

void EtcdMembers::resume(int i) {
  auto& member = members_.at(static_cast<std::size_t>(i));
  if (!member.process) return;
  member.process->signal(SIGCONT);
  member.stopped = false;
}

void EtcdMembers::restart(int i) {
  if (members_.at(static_cast<std::size_t>(i)).process) return;
  launch(i, false);
}

bool EtcdMembers::running(int i) {
  auto& member = members_.at(static_cast<std::size_t>(i));
  return member.process && member.process->running();
}

bool EtcdMembers::wait_healthy(int i, std::chrono::milliseconds timeout) {
  const auto port = members_.at(static_cast<std::size_t>(i)).client_port;
  return wait_until(
      [&] {
        if (!running(i)) return true;  // reported below
        const auto reply = HttpClient(port, "127.0.0.1", std::chrono::seconds(2)).get("/health");
        return reply.status == 200 && reply.body.find("\"health\":\"true\"") != std::string::npos;
      },
      timeout) &&
         running(i);
}

std::string EtcdMembers::etcdctl(const std::vector<std::string>& args) {
  std::string endpoints;
  for (int i = 0; i < size(); ++i) {
    const auto& member = members_[static_cast<std::size_t>(i)];
    if (!member.process || member.stopped) continue;
    if (!endpoints.empty()) endpoints += ',';
    endpoints += url(member.client_port);
  }
  std::vector<std::string> argv{etcdctl_binary, "--endpoints=" + endpoints, "--command-timeout=5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options;
  options.env["ETCDCTL_API"] = "3";
  auto process = ChildProcess::start(argv, options);
  const auto status = process.wait_for_exit(std::chrono::seconds(15));
  if (!status || !status->exited(0)) {
    throw std::runtime_error("etcdctl failed: " + process.stderr_text() + process.stdout_text());
  }
  return process.stdout_text();
}

std::string EtcdMembers::log(int i) const {
  const auto& member = members_.at(static_cast<std::size_t>(i));
  return member.process ? member.process->stderr_text() : std::string("(not running)");
}

}  // namespace tnl::test
