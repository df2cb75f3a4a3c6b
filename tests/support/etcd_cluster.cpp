#include "etcd_cluster.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "http_client.hpp"

namespace tnl::test {
namespace fs = std::filesystem;

namespace {
constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr const char* kEtcdctl = "/usr/bin/etcdctl";

/// `count` distinct free loopback ports below the kernel's ephemeral range (bound together,
/// then released for etcd to take): outgoing connections (gRPC's, in this very process, or
/// the servers under test) take their local ports from the ephemeral range, and one of them
/// could take a port between now and etcd's bind. Another process may still take one
/// meanwhile: the caller retries with new ports.
std::vector<std::uint16_t> free_ports(std::size_t count) {
  int ephemeral_low = 32768;
  const std::string range = read_file("/proc/sys/net/ipv4/ip_local_port_range");
  if (!range.empty()) ephemeral_low = std::max(2000, std::atoi(range.c_str()));
  std::random_device seed;
  std::mt19937 random(seed());
  std::uniform_int_distribution<int> pick(1024, ephemeral_low - 1);
  std::vector<int> sockets;
  std::vector<std::uint16_t> ports;
  for (int tries = 0; ports.size() < count && tries < 1000; ++tries) {
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
  if (ports.size() < count) throw std::runtime_error("no free loopback ports for etcd");
  return ports;
}

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

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string tail(const std::string& text, std::size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}
}  // namespace

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(options) {
  if (::access(kEtcd, X_OK) != 0) throw std::runtime_error("etcd tests need /usr/bin/etcd (Debian etcd-server)");
  const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  std::string pattern = (base / "tnl-etcd-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  root_ = pattern;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start_all()) return;
    kill_all();
  }
  const std::string logs = logs_tail();
  kill_all();
  std::error_code ignored;
  fs::remove_all(root_, ignored);
  throw std::runtime_error("etcd cluster did not come up:\n" + logs);
}

EtcdCluster::~EtcdCluster() {
  kill_all();
  std::error_code ignored;
  fs::remove_all(root_, ignored);
}

bool EtcdCluster::start_all() {
  const auto count = static_cast<std::size_t>(std::max(1, options_.members));
  const auto ports = free_ports(2 * count);
  // A fresh data dir per attempt: a half-started cluster's membership must not linger.
  const fs::path dir = root_ / std::to_string(attempts_++);
  fs::create_directories(dir);
  members_.clear();
  members_.resize(count);
  initial_cluster_.clear();
  for (std::size_t i = 0; i < count; ++i) {
    Member& m = members_[i];
    m.name = "m" + std::to_string(i);
    m.client_port = ports[2 * i];
    m.peer_port = ports[2 * i + 1];
    m.data_dir = dir / m.name;
    if (i) initial_cluster_ += ",";
    initial_cluster_ += m.name + "=" + url(m.peer_port);
  }
  for (auto& m : members_) start(m);
  return wait_healthy(options_.start_timeout);
}

void EtcdCluster::start(Member& m) {
  m.paused = false;
  m.down = false;
  m.process.reset();
  m.process.emplace(ChildProcess::start({
      kEtcd, "--name", m.name, "--data-dir", m.data_dir.string(),
      "--listen-client-urls", url(m.client_port), "--advertise-client-urls", url(m.client_port),
      "--listen-peer-urls", url(m.peer_port), "--initial-advertise-peer-urls", url(m.peer_port),
      "--initial-cluster", initial_cluster_, "--initial-cluster-state", "new",
      "--initial-cluster-token", "tnl-" + root_.filename().string(),
      "--heartbeat-interval", std::to_string(options_.heartbeat.count()),
      "--election-timeout", std::to_string(options_.election.count()),
      "--logger", "zap", "--log-level", "warn"}));
}

void EtcdCluster::kill_all() {
  for (auto& m : members_) {
    if (!m.process) continue;
    m.process->signal(SIGKILL);
    m.process->signal(SIGCONT);  // a stopped process dies only once continued on some kernels
    m.process->wait_for_exit(std::chrono::seconds(5));
  }
}

std::string EtcdCluster::endpoints() const {
  std::string list;
  for (int i = 0; i < size(); ++i) list += (i ? "," : "") + endpoint(i);
  return list;
}

std::string EtcdCluster::endpoint(int i) const { return url(members_.at(i).client_port); }

std::string EtcdCluster::address(int i) const { return "127.0.0.1:" + std::to_string(members_.at(i).client_port); }

std::vector<std::string> EtcdCluster::addresses() const {
  std::vector<std::string> list;
  for (int i = 0; i < size(); ++i) list.push_back(address(i));
  return list;
}

void EtcdCluster::kill(int i) {
  Member& m = members_.at(i);
  m.process->signal(SIGKILL);
  m.process->signal(SIGCONT);
  if (!m.process->wait_for_exit(std::chrono::seconds(10))) throw std::runtime_error("etcd member did not die");
  m.paused = false;
  m.down = true;
}

void EtcdCluster::pause(int i) {
  Member& m = members_.at(i);
  m.process->signal(SIGSTOP);
  m.paused = true;
  // kill() returns before every thread has stopped: until then the member may still answer.
  if (!wait_until([&] { return all_threads_stopped(m.process->pid()); }, std::chrono::seconds(5))) {
    throw std::runtime_error("etcd member " + m.name + " did not stop on SIGSTOP");
  }
}

void EtcdCluster::resume(int i) {
  members_.at(i).process->signal(SIGCONT);
  members_.at(i).paused = false;
}

void EtcdCluster::restart(int i) {
  Member& m = members_.at(i);
  if (m.process && m.process->running()) kill(i);
  start(m);
}

bool EtcdCluster::running(int i) {
  auto& process = members_.at(i).process;
  return process && process->running();
}

bool EtcdCluster::healthy(int i, std::chrono::milliseconds timeout) {
  const HttpReply reply = HttpClient(members_.at(i).client_port, "127.0.0.1", timeout).get("/health");
  return reply.status == 200 && reply.body.find("\"health\":\"true\"") != std::string::npos;
}

bool EtcdCluster::wait_healthy(std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (int i = 0; i < size(); ++i) {
          if (members_[i].paused || members_[i].down) continue;
          // A member that died unasked (e.g. its port was taken at start) is not healthy.
          if (!running(i) || !healthy(i)) return false;
        }
        return true;
      },
      timeout);
}

std::vector<std::string> EtcdCluster::etcdctl_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{kEtcdctl};
  // etcdctl appends repeated --endpoints: a caller's own list replaces ours.
  const bool own = std::any_of(args.begin(), args.end(), [](const std::string& a) { return a.rfind("--endpoints", 0) == 0; });
  if (!own) argv.push_back("--endpoints=" + endpoints());
  const bool own_timeout =
      std::any_of(args.begin(), args.end(), [](const std::string& a) { return a.rfind("--command-timeout", 0) == 0; });
  if (!own_timeout) argv.push_back("--command-timeout=5s");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

EtcdctlResult EtcdCluster::etcdctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  SpawnOptions spawn;
  spawn.env["ETCDCTL_API"] = "3";
  ChildProcess child = ChildProcess::start(etcdctl_argv(args), spawn);
  EtcdctlResult result;
  result.status = child.wait_for_exit(timeout);
  result.out = child.stdout_text();
  result.err = child.stderr_text();
  return result;
}

std::string EtcdCluster::etcdctl_out(const std::vector<std::string>& args) const {
  std::string live;
  for (int i = 0; i < size(); ++i) {
    if (members_[i].paused || members_[i].down) continue;
    if (!live.empty()) live += ',';
    live += endpoint(i);
  }
  std::vector<std::string> argv{"--endpoints=" + live};
  argv.insert(argv.end(), args.begin(), args.end());
  const EtcdctlResult result = etcdctl(argv, std::chrono::seconds(20));
  if (!result.ok()) throw std::runtime_error("etcdctl failed: " + result.err + result.out);
  return result.out;
}

std::vector<std::string> EtcdCluster::keys(const std::string& prefix) const {
  const EtcdctlResult result = etcdctl({"get", "--prefix", "--keys-only", prefix});
  if (!result.ok()) throw std::runtime_error("etcdctl get failed: " + result.err);
  std::vector<std::string> found;
  std::istringstream in(result.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) found.push_back(line);
  }
  return found;
}

std::string EtcdCluster::log(int i) const {
  const auto& process = members_.at(i).process;
  return process ? process->stderr_text() : std::string("(not started)");
}

std::string EtcdCluster::logs_tail(std::size_t bytes) const {
  std::string text;
  for (const auto& m : members_) {
    text += "--- etcd " + m.name + " (client " + std::to_string(m.client_port) + ")\n";
    if (m.process) text += tail(m.process->stderr_text(), bytes);
  }
  return text;
}

}  // namespace tnl::test
