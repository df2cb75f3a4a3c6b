// tcpnetlock_do's guardian: a small process between tcpnetlock_do and the command, so that
// nothing the command starts outlives the lock, even when tcpnetlock_do is SIGKILLed.
//
//   tcpnetlock_do (P) ── socket pair ── guardian (G, "tnl_guardian") ── command ── ...
//        └──────────── the lock's TCP connection, shared by both ─────────────┘
//
// G is a fork of P (no exec): it holds a copy of the lock's connection, so the server sees
// the connection end only when G exits, and G exits only after every process descended
// from the command has ended and been reaped. G is a child subreaper
// (PR_SET_CHILD_SUBREAPER): orphans of the command's tree become its children instead of
// init's, so "no child left" means "no descendant left". G:
// - starts the command in a process group of its own (handing it the terminal, as a shell
//   does), and reports to P: started, stopped, exited, done;
// - forwards the signals P asks it to, terminates the tree on P's request (the lock was
//   lost): SIGTERM and SIGCONT to every descendant, SIGKILL after the grace, until none is
//   left;
// - when the command exits leaving processes behind (background jobs), terminates them the
//   same way before reporting done, unless asked to leave them (--leave-background);
// - when P dies (EOF on the socket pair: the kernel closes a dead process's descriptors,
//   so no signal race), terminates the tree, at once with SIGKILL if anything arrives on
//   the lock's connection meanwhile (the server took the lock away or closed it);
// - while P lives, watches the lock's connection for its end only (P reads what comes on
//   it): when the server closes it, the lock is gone, and G terminates the tree without
//   waiting for P's request, which a stopped P (SIGSTOP, a debugger) would never send;
// - is in a process group of its own (a `kill %1` of P's job does not reach it, nor Ctrl-C),
//   ignores SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN and SIGTTOU, and is
//   named tnl_guardian (`pkill tcpnetlock_do`, `pkill -f tcpnetlock_do` and `killall`
//   do not match it).
// P is a subreaper too: if G is killed, G's orphans become P's, and P terminates them the
// same way before it lets go of the lock.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "guardian_messages.hpp"

namespace tnl {

/// Where our command line (argv's strings) lies in memory, for the guardian to write its
/// own name over it (what `ps` and `pkill -f` read). Empty when the strings are not one
/// contiguous block.
struct CommandLineArea {
  char* begin = nullptr;
  std::size_t size = 0;
};

/// The block argv's strings occupy (they normally follow each other).
CommandLineArea command_line_area(int argc, char** argv);

/// How to start a guardian and its command.
struct GuardianOptions {
  /// The command (argv[0] searched in PATH).
  std::vector<std::string> argv;
  /// Hand this terminal to the command's process group while it runs, if we are in the
  /// terminal's foreground group (-1: never).
  int terminal_fd = -1;
  /// Signals ignored by whoever started us: the command starts ignoring them too (the
  /// others it starts with their default action).
  std::vector<int> inherited_ignored;
  /// Have the kernel SIGKILL the command itself if the guardian dies (PR_SET_PDEATHSIG),
  /// on top of our killing the rest.
  bool kill_command_with_guardian = true;
  /// Time between SIGTERM and SIGKILL when terminating.
  std::chrono::steady_clock::duration kill_grace = std::chrono::seconds(10);
  /// Do not terminate what the command left running when it exits.
  bool leave_background = false;
  /// The lock's connection, which the guardian keeps open until it exits (and watches
  /// once we have died); -1: none.
  int lock_fd = -1;
  /// While we live, terminate the command's tree too when the server closes the lock's
  /// connection (it took the lock away, or went away): we may be stopped and unable to
  /// ask for it. False with --on-lost warn.
  bool end_on_lost = true;
  /// Our command line, which the guardian writes its name over.
  CommandLineArea command_line;
};

/// Our end of a running guardian. Not copyable; destroying it closes our end of the
/// socket pair, which the guardian takes as our death (it terminates the command).
class Guardian {
 public:
  /// Makes us a child subreaper and forks the guardian, which starts the command; the
  /// first message tells whether it could. Throws std::system_error when the guardian
  /// cannot be started.
  static Guardian start(const GuardianOptions& options);

  Guardian(Guardian&& other) noexcept;
  Guardian& operator=(Guardian&&) = delete;
  Guardian(const Guardian&) = delete;
  ~Guardian();

  /// Process id of the guardian.
  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Our end of the socket pair: readable when a message (or the guardian's end) comes.
  [[nodiscard]] int control_fd() const { return fd_; }

  /// Asks the guardian to send `sig` to the command. False when the guardian is gone.
  bool forward(int sig) const { return send({guardian::Kind::forward, sig, 0}); }
  /// Asks the guardian to terminate the command and everything it started.
  bool terminate() const { return send({guardian::Kind::terminate, 0, 0}); }
  /// Asks the guardian to continue the command's process group.
  bool resume() const { return send({guardian::Kind::resume, 0, 0}); }

  /// Takes the next message from the guardian without blocking.
  guardian::Received next(guardian::Message& out) const { return guardian::receive_message(fd_, out); }

  /// Waits for the guardian to exit (it does right after `done`, or has died) and reaps
  /// it: its raw wait status, or -1 when it cannot be known.
  int wait();

 private:
  Guardian(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  bool send(const guardian::Message& message) const { return guardian::send_message(fd_, message); }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
};

/// What a guardian-less tcpnetlock_do does when its guardian has died: SIGTERM and SIGCONT
/// to every process descended from us (and to process group `group` when /proc cannot be
/// read), SIGKILL after `grace`, until every one has ended and been reaped. Blocks.
/// Returns how many processes were found at first (-1: unknown).
int end_descendants(pid_t group, std::chrono::steady_clock::duration grace);

}  // namespace tnl
