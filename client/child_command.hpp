// Running the guarded command as a child process that shares our terminal.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace tnl {

/// A command started with fork/exec, inheriting stdin, stdout, stderr and environment.
/// Not killed on destruction: the caller decides what happens to a running command.
class ChildCommand {
 public:
  /// Starts `argv` (argv[0] searched in PATH). Signals in `caught_signals` (the ones we
  /// handle ourselves) start with their default action in the child, as after a plain
  /// exec; ignored signals stay ignored, as `nohup` and shells expect. Throws
  /// std::system_error carrying exec's errno when the command cannot be started
  /// (ENOENT: not found); an exec failure is reported through a close-on-exec pipe, so
  /// it is never confused with the command itself exiting 127.
  static ChildCommand start(const std::vector<std::string>& argv, const std::vector<int>& caught_signals = {});

  ChildCommand(ChildCommand&& other) noexcept;
  ChildCommand& operator=(ChildCommand&&) = delete;
  ChildCommand(const ChildCommand&) = delete;
  ~ChildCommand() = default;

  /// Process id of the command.
  [[nodiscard]] pid_t pid() const { return pid_; }

  /// Sends `sig` to the command unless it has already been reaped.
  void signal(int sig) const;

  /// Reaps the command if it has ended, without blocking; its raw wait status once it has.
  std::optional<int> try_reap();

  /// Blocks until the command ends; its raw wait status (-1 if it cannot be known).
  int wait();

  /// The exit code a shell would report for a raw wait status: the exit status, or
  /// 128+N when the process died of signal N; 124 for anything else.
  [[nodiscard]] static int exit_code(int wait_status);

 private:
  explicit ChildCommand(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace tnl
