// tcpnetlock_do's second step: running the command under its guardian while the lock is
// watched (guarded_run.hpp, lock_watch.hpp), and what its end means for our exit.
#pragma once

// Standard headers first, see lock_client.hpp.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <asio/io_context.hpp>

#include "do_options.hpp"
#include "do_signals.hpp"
#include "guarded_run.hpp"
#include "guardian.hpp"
#include "lock_client.hpp"
#include "lock_watch.hpp"

namespace tnl::cli {

/// How the guardian is to start and guard the command, from our options: the lock's
/// connection `lock_fd`, our `command_line` (the guardian writes its name over it) and the
/// signals the command must keep ignoring.
GuardianOptions guardian_options(const DoOptions& options, int lock_fd, const CommandLineArea& command_line,
                                 std::vector<int> inherited_ignored);

/// Puts TCPNETLOCK_LOCK_NAME and TCPNETLOCK_TOKEN (or removes a TCPNETLOCK_TOKEN we
/// inherited, e.g. from an outer tcpnetlock_do) in the environment the command inherits.
void export_lock_environment(const std::string& name, std::optional<std::uint64_t> token);

/// An exit without a release: what to print (nothing when empty) and the exit code.
struct EarlyExit {
  int code = 0;
  std::string message;
};

/// The exit a guarded run ends in at once, without releasing: the command could not be
/// started (127 not found, else 124), it was terminated because the lock was lost (122),
/// or the guardian died (124). nullopt when the command ran to its end (its status is in
/// `outcome`). `program` is the command's argv[0], for the messages.
std::optional<EarlyExit> early_exit(const GuardedOutcome& outcome, const std::string& program);

/// How the command ended: its exit code (128+N for signal N) and, when the lock was lost
/// while it ran (--on-lost warn), why.
struct CommandEnded {
  int status = 0;
  std::optional<std::string> lost;
};

/// Runs the command under its guardian on `io` while `watch` watches the lock held on
/// `client`; `signals` are forwarded to the command meanwhile. Either the exit code to end
/// with at once (its message printed and `client` closed), or how the command ended.
std::variant<int, CommandEnded> run_command(asio::io_context& io, LockClient& client, LockWatch& watch,
                                            const DoOptions& options, GuardianOptions guardian, SignalRouter& signals);

}  // namespace tnl::cli
