#include "do_command.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include "child_command.hpp"
#include "cli_support.hpp"

namespace tnl::cli {

GuardianOptions guardian_options(const DoOptions& options, int lock_fd, const CommandLineArea& command_line,
                                 std::vector<int> inherited_ignored) {
  GuardianOptions guardian;
  guardian.argv = command_argv(options);
  guardian.terminal_fd = STDIN_FILENO;
  guardian.inherited_ignored = std::move(inherited_ignored);
  guardian.kill_command_with_guardian = options.on_lost != "warn";
  guardian.end_on_lost = options.on_lost != "warn";
  guardian.kill_grace = seconds(options.kill_grace);
  guardian.leave_background = options.leave_background;
  guardian.lock_fd = lock_fd;
  guardian.command_line = command_line;
  return guardian;
}

void export_lock_environment(const std::string& name, std::optional<std::uint64_t> token) {
  ::setenv("TCPNETLOCK_LOCK_NAME", name.c_str(), 1);
  if (token) {
    ::setenv("TCPNETLOCK_TOKEN", std::to_string(*token).c_str(), 1);
  } else {
    ::unsetenv("TCPNETLOCK_TOKEN");
  }
}

std::optional<EarlyExit> early_exit(const GuardedOutcome& outcome, const std::string& program) {
  if (outcome.exec_error) {
    if (*outcome.exec_error == ENOENT) return EarlyExit{do_exit::command_not_found, "command not found: '" + program + "'"};
    return EarlyExit{do_exit::cannot_run,
                     "cannot run '" + program + "': " + std::generic_category().message(*outcome.exec_error)};
  }
  // Even if the guardian had to be killed for it; the loss was reported as it happened.
  if (outcome.terminated_for_lost) return EarlyExit{do_exit::lock_lost, ""};
  // The guardian's death was reported as it happened.
  if (outcome.guardian_died || !outcome.status) return EarlyExit{do_exit::cannot_run, ""};
  return std::nullopt;
}

std::variant<int, CommandEnded> run_command(asio::io_context& io, LockClient& client, LockWatch& watch,
                                            const DoOptions& options, GuardianOptions guardian, SignalRouter& signals) {
  const std::string program = guardian.argv.front();
  GuardedRun guarded(io, watch, options, std::move(guardian));
  signals.route([&](int sig) { guarded.forward(sig); });
  GuardedOutcome outcome;
  try {
    outcome = guarded.run();
  } catch (const std::system_error& e) {
    signals.route(nullptr);
    client.close();
    print_error("cannot start the command's guardian process: " + e.code().message());
    return do_exit::cannot_run;
  }
  signals.route(nullptr);  // nothing left to forward to
  if (const auto end = early_exit(outcome, program)) {
    client.close();
    if (!end->message.empty()) print_error(end->message);
    return end->code;
  }
  return CommandEnded{ChildCommand::exit_code(*outcome.status), outcome.lost};
}

}  // namespace tnl::cli
