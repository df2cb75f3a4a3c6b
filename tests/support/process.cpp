#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace tnl::test {
namespace fs = std::filesystem;

namespace {
ExitStatus decode(int raw) {
  ExitStatus status;
  if (WIFEXITED(raw)) status.code = WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) status.signal = WTERMSIG(raw);
  return status;
}
}  // namespace

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "tnl-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

ChildProcess ChildProcess::start(const std::vector<std::string>& argv, const SpawnOptions& options) {
  std::string pattern = (fs::temp_directory_path() / "tnl-child-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
  const fs::path dir = pattern;
  const fs::path stdin_path = dir / "stdin";
  if (options.stdin_data) std::ofstream(stdin_path, std::ios::binary) << *options.stdin_data;

  const pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    // Child: only async-signal-safe-ish calls from here on; exit 126 when exec fails.
    if (options.new_process_group) setpgid(0, 0);
    const int in = open(options.stdin_data ? stdin_path.c_str() : "/dev/null", O_RDONLY);
    const int out = open((dir / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open((dir / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    for (const auto& [name, value] : options.env) {
      if (value) setenv(name.c_str(), value->c_str(), 1);
      else unsetenv(name.c_str());
    }
    // Tests may have blocked or ignored signals; the child starts with defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(126);
  }
  if (options.new_process_group) setpgid(pid, pid);  // also from the parent: no race
  return ChildProcess(pid, dir, options.new_process_group);
}

ChildProcess::ChildProcess(pid_t pid, fs::path dir, bool own_group)
    : pid_(pid), dir_(std::move(dir)), own_group_(own_group) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), dir_(std::move(other.dir_)), own_group_(other.own_group_), status_(other.status_) {
  other.pid_ = -1;
  other.dir_.clear();
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    if (own_group_) ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int raw = 0;
    waitpid(pid_, &raw, 0);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

void ChildProcess::signal(int sig, bool whole_group) const {
  if (status_) return;
  ::kill(whole_group && own_group_ ? -pid_ : pid_, sig);
}

bool ChildProcess::running() {
  if (status_) return false;
  int raw = 0;
  const pid_t done = waitpid(pid_, &raw, WNOHANG);
  if (done == pid_) status_ = decode(raw);
  return !status_;
}

std::optional<ExitStatus> ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  wait_until([&] { return !running(); }, timeout);
  return status_;
}

std::string ChildProcess::stdout_text() const { return read_file(dir_ / "stdout"); }
std::string ChildProcess::stderr_text() const { return read_file(dir_ / "stderr"); }

bool ChildProcess::wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return stderr_text().find(needle) != std::string::npos; }, timeout);
}

bool ChildProcess::wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return stdout_text().find(needle) != std::string::npos; }, timeout);
}

}  // namespace tnl::test
