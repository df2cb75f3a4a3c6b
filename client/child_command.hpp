// Running the guarded command as a child process that shares our terminal.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "job_terminal.hpp"

namespace tnl {

/// How to start a ChildCommand.
struct ChildOptions {
  /// Signals we handle ourselves: they start with their default action in the child, as
  /// after a plain exec; ignored signals stay ignored, as `nohup` and shells expect.
  std::vector<int> caught_signals;
  /// Signals the command starts ignoring (those ignored by whoever started us, when we
  /// handle them ourselves now).
  std::vector<int> ignored_signals;
  /// The signal mask the command starts with; nullopt: ours.
  std::optional<sigset_t> signal_mask;
  /// Start the command in a process group of its own (its pid is the group id), so that
  /// the whole group, grandchildren included, can be signalled at once.
  bool own_process_group = false;
  /// With own_process_group: when this descriptor is a terminal whose foreground process
  /// group is ours, make the command's group the foreground group (as a shell does for a
  /// job) until reclaim_terminal(). -1: never.
  int terminal_fd = -1;
  /// The process group that must be the terminal's foreground group for the handover,
  /// and that reclaim_terminal() gives it back to; 0: ours.
  pid_t foreground_group = 0;
  /// Have the kernel SIGKILL the command when we die (PR_SET_PDEATHSIG). Only the
  /// command's own process is killed this way; its children are orphaned (tcpnetlock_do
  /// relies on its guardian for them, and uses this as an extra).
  bool die_with_parent = false;
};

/// A command started with fork/exec, inheriting stdin, stdout, stderr and environment.
/// Not killed on destruction: the caller decides what happens to a running command.
class ChildCommand {
 public:
  /// Starts `argv` with `options`; see the other overload for errors.
  static ChildCommand start(const std::vector<std::string>& argv, const ChildOptions& options);

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

  /// Sends `sig` to the command's process group (when it has its own): the command and
  /// everything it started that stayed in its group, even after the command itself ended.
  /// False when no process of the group is left (or it has no group of its own).
  bool signal_group(int sig) const;

  /// True while some process of the command's own group is left (the command itself,
  /// until reaped, or anything it started in its group).
  [[nodiscard]] bool group_alive() const { return signal_group(0); }

  /// Gives the terminal back to our process group if start() handed it to the command.
  /// Idempotent.
  void reclaim_terminal();

  /// True when the command is the terminal's foreground group (handed over at start).
  [[nodiscard]] bool has_terminal() const { return terminal_.handed(); }

  /// The terminal as start() handed it (or not), to hand back and forth.
  [[nodiscard]] const JobTerminal& terminal() const { return terminal_; }

  /// Hands the terminal to the command's group again (after it was stopped and we were
  /// continued) when start() had done so. No-op otherwise.
  void hand_terminal();

  /// Reaps the command if it has ended, without blocking; its raw wait status once it has.
  std::optional<int> try_reap();

  /// True (once per stop) when the command has been stopped (e.g. by Ctrl-Z) since the
  /// last call; it is then not reaped. Only meaningful with own_process_group.
  bool take_stopped();

  /// Blocks until the command ends; its raw wait status (-1 if it cannot be known).
  int wait();

  /// The exit code a shell would report for a raw wait status: the exit status, or
  /// 128+N when the process died of signal N; 124 for anything else.
  [[nodiscard]] static int exit_code(int wait_status);

 private:
  explicit ChildCommand(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  bool own_group_ = false;
  /// The terminal start() handed to the command's group, if it did.
  JobTerminal terminal_;
  bool stopped_ = false;
  std::optional<int> status_;
};

}  // namespace tnl
