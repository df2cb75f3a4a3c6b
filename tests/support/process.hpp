// Starting real binaries from tests: a child process with its output captured to files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tnl::test {

using namespace std::chrono_literals;

/// How a child process ended.
struct ExitStatus {
  int code = -1;    ///< exit code, or -1 when killed by a signal
  int signal = 0;   ///< terminating signal, or 0 when it exited
  [[nodiscard]] bool exited(int c) const { return signal == 0 && code == c; }
};

/// Options for ChildProcess::start.
struct SpawnOptions {
  /// Environment changes: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
  /// Data written to the child's stdin, which is then closed. nullopt: stdin is /dev/null.
  std::optional<std::string> stdin_data;
  /// Start the child in its own process group (so tests can signal the whole group).
  bool new_process_group = false;
  /// Working directory; empty keeps the test's.
  std::filesystem::path cwd;
};

/// A child process whose stdout and stderr go to temporary files. Killed (SIGKILL) and
/// reaped on destruction if still running.
class ChildProcess {
 public:
  static ChildProcess start(const std::vector<std::string>& argv, const SpawnOptions& options = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Sends `sig` to the child (or to its process group when it has one of its own).
  void signal(int sig, bool whole_group = false) const;
  /// Waits up to `timeout` for the child to end; nullopt if it is still running.
  std::optional<ExitStatus> wait_for_exit(std::chrono::milliseconds timeout = 10s);
  /// True while the child has not ended (reaps it if it has).
  bool running();
  /// Everything the child wrote to stdout / stderr so far.
  [[nodiscard]] std::string stdout_text() const;
  [[nodiscard]] std::string stderr_text() const;
  /// Waits until stderr (or stdout) contains `needle`; false on timeout.
  bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout = 10s) const;
  bool wait_for_stdout(const std::string& needle, std::chrono::milliseconds timeout = 10s) const;

 private:
  ChildProcess(pid_t pid, std::filesystem::path dir, bool own_group);
  pid_t pid_ = -1;
  std::filesystem::path dir_;
  bool own_group_ = false;
  std::optional<ExitStatus> status_;
};

/// A fresh private temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Polls `condition` every few milliseconds until it is true or `timeout` passes.
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout = 10s);

/// Reads a whole file; empty if it does not exist.
std::string read_file(const std::filesystem::path& path);

}  // namespace tnl::test

#include <thread>

namespace tnl::test {
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}
}  // namespace tnl::test
