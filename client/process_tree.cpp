#include "process_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <unordered_map>

namespace tnl {

namespace {

/// Reads the start of /proc/PID/stat: enough for the name (at most 64 bytes) and the
/// fields up to the parent pid. Empty when the process is gone.
std::string_view read_stat(const char* path, char (&buffer)[512]) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  ssize_t got = 0;
  do {
    got = ::read(fd, buffer, sizeof buffer);
  } while (got < 0 && errno == EINTR);
  ::close(fd);
  return got > 0 ? std::string_view(buffer, static_cast<std::size_t>(got)) : std::string_view{};
}

/// The pid a /proc entry's name spells, or 0 for the other entries.
pid_t pid_of(std::string_view name) {
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
  return error == std::errc{} && end == name.data() + name.size() && pid > 0 ? pid : 0;
}

/// True when /proc shows this process as itself: mounted, and of our PID namespace.
bool proc_is_ours() {
  char buffer[512];
  const std::string_view stat = read_stat("/proc/self/stat", buffer);
  const auto space = stat.find(' ');
  return space != std::string_view::npos && pid_of(stat.substr(0, space)) == ::getpid();
}

}  // namespace

std::optional<pid_t> parent_in_stat(std::string_view stat) {
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // ") S 1234 ...": the state, then the parent pid.
  std::string_view rest = stat.substr(close + 1);
  if (rest.size() < 4 || rest[0] != ' ' || rest[2] != ' ') return std::nullopt;
  rest.remove_prefix(3);
  pid_t parent = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), parent);
  if (error != std::errc{} || (end != rest.data() + rest.size() && *end != ' ')) return std::nullopt;
  return parent;
}

std::optional<std::vector<pid_t>> find_descendants(pid_t root) {
  if (!proc_is_ours()) return std::nullopt;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  std::unordered_multimap<pid_t, pid_t> children;  // parent -> child
  char path[64];
  char buffer[512];
  while (const dirent* entry = ::readdir(proc)) {
    const pid_t pid = pid_of(entry->d_name);
    if (pid == 0) continue;
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    // A process that ends meanwhile is simply not found.
    if (const auto parent = parent_in_stat(read_stat(path, buffer))) children.emplace(*parent, pid);
  }
  ::closedir(proc);
  // Breadth first from root. Every pid is some entry's value once, so each is found at
  // most once; root (and we) are never among them, whatever a stale entry says.
  std::vector<pid_t> found;
  const pid_t self = ::getpid();
  const auto add_children = [&](pid_t parent) {
    const auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      if (it->second != root && it->second != self) found.push_back(it->second);
    }
  };
  add_children(root);
  for (std::size_t i = 0; i < found.size(); ++i) add_children(found[i]);
  return found;
}

std::optional<std::size_t> signal_descendants(pid_t root, pid_t group, std::initializer_list<int> signals) {
  for (int sig : signals) {
    if (group > 0) ::kill(-group, sig);
  }
  const auto descendants = find_descendants(root);
  if (!descendants) return std::nullopt;
  // A pid found above is either our child (a zombie until we reap it, so its pid cannot
  // be reused meanwhile) or the child of a process of the tree that has not reaped it:
  // only that parent's reaping and a wrap-around of the pid space in the microseconds
  // between reading /proc and this kill could make it another process.
  for (int sig : signals) {
    for (pid_t pid : *descendants) ::kill(pid, sig);
  }
  return descendants->size();
}

bool reap_children(const std::function<void(pid_t, int)>& on_child, bool stops) {
  const int flags = WNOHANG | (stops ? WUNTRACED : 0);
  while (true) {
    int raw = 0;
    const pid_t pid = ::waitpid(-1, &raw, flags);
    if (pid > 0) {
      on_child(pid, raw);
      continue;
    }
    if (pid == 0) return true;  // children left, none (more) ended
    if (errno == EINTR) continue;
    return errno != ECHILD;
  }
}

bool become_subreaper() { return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }

}  // namespace tnl
