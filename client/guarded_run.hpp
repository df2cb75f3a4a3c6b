// tcpnetlock_do's second step: running the command under its guardian (guardian.hpp)
// while watching the lock, until every process the command started has ended.
#pragma once

// Standard headers first, see lock_client.hpp.
#include <optional>
#include <string>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include "do_options.hpp"
#include "guardian.hpp"
#include "job_terminal.hpp"
#include "lock_watch.hpp"

namespace tnl::cli {

/// How a command run under the guardian ended.
struct GuardedOutcome {
  /// exec's errno, when the command could not be started.
  std::optional<int> exec_error;
  /// The command's raw wait status, once it has ended.
  std::optional<int> status;
  /// The guardian died before everything was reaped (its raw wait status, -1 unknown): we
  /// then ended every process the command started ourselves.
  std::optional<int> guardian_died;
  /// The lock was lost while the command ran: why.
  std::optional<std::string> lost;
  /// ... and the command was terminated for it (--on-lost kill).
  bool terminated_for_lost = false;
};

/// Runs the command under a guardian while `watch` watches the lock.
class GuardedRun {
 public:
  /// `io`, `watch` and `options` must outlive it; `guardian` says how to start the command.
  GuardedRun(asio::io_context& io, LockWatch& watch, const DoOptions& options, GuardianOptions guardian);

  /// Starts the guardian (which starts the command), starts `watch` (a lost lock ends the
  /// command, or with --on-lost warn is only reported) and runs `io` until the guardian has
  /// exited; every process the command started has ended then (unless --leave-background
  /// left them). Throws std::system_error when the guardian cannot be started.
  GuardedOutcome run();

  /// A signal for the command (SIGINT, SIGTERM, SIGHUP sent to us): forwarded to it.
  void forward(int sig);

 private:
  void watch_guardian();
  void read_guardian();
  void handle(const guardian::Message& message);
  void follow_stop();
  void lost(const std::string& reason);
  void guardian_unresponsive();
  void guardian_died(int raw);

  asio::io_context& io_;
  LockWatch& watch_;
  const DoOptions& options_;
  GuardianOptions guardian_options_;
  std::optional<Guardian> guardian_;
  /// Readiness of our end of the socket pair (a duplicate descriptor of it).
  std::optional<asio::posix::stream_descriptor> control_;
  JobTerminal terminal_;
  /// Once the lock is lost: when the guardian should have ended the tree (see lost()).
  asio::steady_timer unresponsive_;
  pid_t command_ = 0;
  bool guardian_gone_ = false;  ///< its end of the socket pair is closed
  bool done_ = false;           ///< it said `done` (or that the command could not start)
  GuardedOutcome outcome_;
};

}  // namespace tnl::cli
