// Helpers for the CLI tests: the command lines of the real client programs and the
// processes they leave. The scripted fake server and the refusing port: tests/support.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fake_server.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "refusing_port.hpp"
#include "server_process.hpp"

namespace tnl::test::cli {

/// Spawn options with the TCPNETLOCK_* variables removed (tests must not depend on the
/// environment they run in), and the proxy variables too (tcpnetlock_admin's requests to
/// loopback must not go through a proxy), plus `env`.
inline SpawnOptions clean_env(std::map<std::string, std::optional<std::string>> env = {}) {
  SpawnOptions options;
  options.env = {{"TCPNETLOCK_HOST", std::nullopt},
                 {"TCPNETLOCK_PORT", std::nullopt},
                 {"TCPNETLOCK_CLIENT_ID", std::nullopt},
                 {"TCPNETLOCK_WAIT", std::nullopt},
                 {"TCPNETLOCK_REASON", std::nullopt},
                 {"TCPNETLOCK_TOKEN", std::nullopt},
                 {"TCPNETLOCK_LOCK_NAME", std::nullopt},
                 {"TCPNETLOCK_ADMIN_URL", std::nullopt},
                 {"TCPNETLOCK_ADMIN_TOKEN", std::nullopt},
                 {"TCPNETLOCK_ADMIN_TOKEN_FILE", std::nullopt},
                 {"http_proxy", std::nullopt},
                 {"HTTP_PROXY", std::nullopt},
                 {"https_proxy", std::nullopt},
                 {"HTTPS_PROXY", std::nullopt},
                 {"all_proxy", std::nullopt},
                 {"ALL_PROXY", std::nullopt}};
  for (auto& [name, value] : env) options.env[name] = value;
  return options;
}

/// argv of `program` pointed at 127.0.0.1:`port`, followed by `args`.
inline std::vector<std::string> at_port(const std::string& program, const std::string& port,
                                        const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary(program), "--host", "127.0.0.1", "--port", port};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// True when a fresh raw connection is granted lock `name` (the connection, and so the
/// lock, is dropped again right away). With etcd, within 2 s: a holder's `released`, or its
/// connection's end, comes before etcd has deleted its key (and so does this probe's own).
inline bool lock_is_free(std::uint16_t port, const std::string& name) {
  const auto probe = [&] { return LineClient(port).request("lock,name:" + name) == std::optional<std::string>("ok"); };
  if (!tnl::test::etcd_backend()) return probe();
  return tnl::test::wait_until(probe, std::chrono::seconds(2));
}

/// Counts occurrences of `needle` in `text`.
inline std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

/// argv of tcpnetlock_do / tcpnetlock_client pointed at `server`, followed by `args`.
inline std::vector<std::string> do_argv(const ServerProcess& server, const std::vector<std::string>& args) {
  return at_port("tcpnetlock_do", server.port_string(), args);
}
inline std::vector<std::string> client_argv(const ServerProcess& server, const std::vector<std::string>& args) {
  return at_port("tcpnetlock_client", server.port_string(), args);
}

/// argv of tcpnetlock_admin pointed at `url`, followed by `args`.
inline std::vector<std::string> admin_argv(const std::string& url, const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary("tcpnetlock_admin"), "--url", url};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// What a finished program left behind.
struct Finished {
  ExitStatus status;
  std::string out;
  std::string err;
  [[nodiscard]] bool exited(int code) const { return status.exited(code); }
};

/// Runs `argv` to its end (at most 20 s; a program still running then is killed and
/// reported with code -1).
inline Finished finish(const std::vector<std::string>& argv, const SpawnOptions& options = clean_env()) {
  auto p = ChildProcess::start(argv, options);
  const auto status = p.wait_for_exit(std::chrono::seconds(20));
  return Finished{status.value_or(ExitStatus{}), p.stdout_text(), p.stderr_text()};
}

/// Creates an empty file.
inline void touch(const std::filesystem::path& path) { std::ofstream{path} << ""; }

/// A shell command that creates `dir/readyID`, then waits until `dir/go` exists.
inline std::string ready_then_wait_for_go(const TempDir& dir, const std::string& id = "") {
  const std::string d = dir.path().string();
  return "touch '" + d + "/ready" + id + "'; while [ ! -e '" + d + "/go' ]; do sleep 0.01; done";
}

/// True while process `pid` exists and is not a zombie.
inline bool alive(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const auto close_paren = stat.rfind(')');
  return close_paren == std::string::npos || stat.compare(close_paren + 2, 1, "Z") != 0;
}

/// The state letter of process `pid` (R, S, T, Z, ...) from /proc; 0 when it is gone.
inline char state_of(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= stat.size() ? 0 : stat[close_paren + 2];
}

/// The parent of process `pid` (the 4th field of /proc/PID/stat, read after the last ')'
/// since the name may hold one); -1 when it is gone.
inline pid_t parent_of(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close_paren + 1));
  std::string state;
  pid_t parent = -1;
  fields >> state >> parent;
  return fields ? parent : -1;
}

/// The name (comm) of process `pid`; empty when it is gone.
inline std::string name_of(pid_t pid) {
  std::string name = read_file("/proc/" + std::to_string(pid) + "/comm");
  if (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

/// Every live process descended from `root` (children, grandchildren, ...), from /proc.
inline std::vector<pid_t> descendants(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  if (DIR* proc = ::opendir("/proc")) {
    while (const dirent* entry = ::readdir(proc)) {
      char* end = nullptr;
      const long pid = std::strtol(entry->d_name, &end, 10);
      if (pid <= 0 || *end != '\0' || !alive(static_cast<pid_t>(pid))) continue;
      children[parent_of(static_cast<pid_t>(pid))].push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
  }
  std::vector<pid_t> found;
  std::vector<pid_t> pending{root};
  while (!pending.empty()) {
    const pid_t parent = pending.back();
    pending.pop_back();
    for (pid_t child : children[parent]) {
      found.push_back(child);
      pending.push_back(child);
    }
  }
  return found;
}

/// The descendants of `root` named `name`.
inline std::vector<pid_t> descendants_named(pid_t root, const std::string& name) {
  std::vector<pid_t> named;
  for (pid_t pid : descendants(root)) {
    if (name_of(pid) == name) named.push_back(pid);
  }
  return named;
}

/// Those of `pids` that are still alive.
inline std::vector<pid_t> still_alive(const std::vector<pid_t>& pids) {
  std::vector<pid_t> living;
  for (pid_t pid : pids) {
    if (alive(pid)) living.push_back(pid);
  }
  return living;
}

/// Processes a test started indirectly (grandchildren that may outlive what the test
/// killed): SIGKILLed on destruction if they are still there under the same name, so a
/// failing test leaves nothing behind.
class Leftovers {
 public:
  Leftovers() = default;
  Leftovers(const Leftovers&) = delete;
  Leftovers& operator=(const Leftovers&) = delete;
  ~Leftovers() {
    for (const auto& [pid, name] : known_) {
      if (alive(pid) && name_of(pid) == name) ::kill(pid, SIGKILL);
    }
  }
  /// Remembers `pids` (with their current names).
  void add(const std::vector<pid_t>& pids) {
    for (pid_t pid : pids) known_.emplace(pid, name_of(pid));
  }

 private:
  std::set<std::pair<pid_t, std::string>> known_;
};

}  // namespace tnl::test::cli
