// tcpnetlock_do: takes a lock, runs a command while holding it, then releases it.
//
// Three steps, on one io_context (the lock connection, retry and keepalive timers, a
// signal_set for SIGINT/SIGTERM/SIGHUP), without threads:
// 1. take the lock (do_acquire.hpp);
// 2. run the command under a guardian process while watching the lock (guarded_run.hpp,
//    guardian.hpp): nothing the command starts outlives the lock, even when we are killed;
// 3. release the lock, once every process the command started has ended.
//
// Choices where tcpnetlock crashed or said nothing:
// - a signal before the command starts (while connecting, waiting in the server's queue
//   or between retries) ends us with 124, "interrupted", without running the command;
// - connection failures other than "refused" (no such host, timeout) exit 124 too, and
//   so does an `err,...` answer to the lock request (such as `err,limit mismatch`);
// - the command runs in a process group of its own (like a shell job); when our stdin is
//   a terminal and we are in the foreground, the terminal is handed to the command's group
//   while it runs (Ctrl-C and Ctrl-Z reach the command; a stopped command stops us too,
//   and `fg` resumes both). SIGINT, SIGTERM and SIGHUP sent to us are forwarded to the
//   command itself;
// - when the command exits leaving processes running (background jobs), they get SIGTERM,
//   then SIGKILL after --kill-grace, before the lock is released (--leave-background: they
//   are left, and the lock released while they run);
// - if the lock is lost while the command runs (the connection breaks, or the server
//   sends `lost,REASON` or `shutting-down`), by default everything the command started gets
//   SIGTERM, then SIGKILL after --kill-grace, and we exit 122; with --on-lost warn the error
//   is printed and the command left to finish: we then exit 122 if it succeeded, else
//   with its own status;
// - if we are SIGKILLed, the guardian (which shares the lock's connection, so the server
//   still sees it open) terminates everything the command started, the same way, and only
//   then lets the connection, and so the lock, go; if the guardian is SIGKILLed, we do
//   that ourselves and exit 124.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>  // before Asio, see lock_client.hpp

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>
#include <variant>

#include "tls_options.hpp"
#include "child_command.hpp"
#include "cli_support.hpp"
#include "do_acquire.hpp"
#include "do_options.hpp"
#include "guarded_run.hpp"
#include "guardian.hpp"
#include "guardian_process.hpp"
#include "lock_client.hpp"

namespace {

using tnl::ClientError;
using namespace tnl::cli;

/// Puts TCPNETLOCK_LOCK_NAME and TCPNETLOCK_TOKEN (or removes a TCPNETLOCK_TOKEN we
/// inherited, e.g. from an outer tcpnetlock_do) in the environment the command inherits.
void export_lock_environment(const std::string& name, std::optional<std::uint64_t> token) {
  ::setenv("TCPNETLOCK_LOCK_NAME", name.c_str(), 1);
  if (token) {
    ::setenv("TCPNETLOCK_TOKEN", std::to_string(*token).c_str(), 1);
  } else {
    ::unsetenv("TCPNETLOCK_TOKEN");
  }
}

/// Releases the lock after the command (and all it started) has ended. The reason the
/// lock turned out to be lost meanwhile, or nullopt.
std::optional<std::string> release(tnl::LockClient& client, const DoOptions& options) {
  client.stop_watch();
  try {
    client.release();
    spdlog::info("lock '{}' released", options.lock_name);
  } catch (const ClientError& e) {
    if (e.kind() == ClientError::Kind::connection_lost || e.kind() == ClientError::Kind::unexpected_answer) {
      // We cannot tell when the connection ended: the lock may have been free while the
      // command ran.
      print_error("lost lock '" + options.lock_name + "' while the command ran: " + e.what());
      return std::string(e.what());
    }
    // The lock is freed anyway when the connection closes, which it now does.
    spdlog::warn("releasing lock '{}': {}", options.lock_name, e.what());
  }
  return std::nullopt;
}

int run(const DoOptions& options, const tnl::CommandLineArea& command_line) {
  // What whoever started us ignores stays ignored in the command (see ChildOptions), but
  // SIGCHLD: an ignored one makes the kernel reap children unasked, which breaks any command
  // that waits for its own (and would take the guardian's status from us).
  std::vector<int> inherited_ignored =
      ignored({std::begin(tnl::guardian::handled_signals), std::end(tnl::guardian::handled_signals)});
  inherited_ignored.erase(std::remove(inherited_ignored.begin(), inherited_ignored.end(), SIGCHLD),
                          inherited_ignored.end());
  ::signal(SIGCHLD, SIG_DFL);

  asio::io_context io;
  asio::signal_set signals(io);
  for (int sig : not_ignored({SIGINT, SIGTERM, SIGHUP})) signals.add(sig);
  std::function<void(int)> on_signal;  // what the current step does with a signal
  std::function<void()> arm = [&] {
    signals.async_wait([&](const asio::error_code& ec, int sig) {
      if (ec) return;
      if (on_signal) on_signal(sig);
      arm();
    });
  };
  arm();
  tnl::LockClient client(io);

  // --- 1. Take the lock.
  LockAcquisition acquisition(io, client, options);
  on_signal = [&](int sig) { acquisition.interrupt(sig); };
  const auto acquired = acquisition.run();
  if (const auto* code = std::get_if<int>(&acquired)) return *code;
  const tnl::LockResult& result = std::get<tnl::LockResult>(acquired);
  // Stopped while queued, we may have been granted the lock and have lost it already (the
  // holder timeout, an admin): then `lost,...` is waiting behind the `ok`.
  if (const auto lost = client.lost_already()) {
    client.close();
    print_error("lost lock '" + options.lock_name + "' before the command started: " + *lost);
    return do_exit::lock_lost;
  }
  if (result.token) {
    spdlog::info("lock '{}' granted with token {}; running the command", options.lock_name, *result.token);
  } else {
    spdlog::info("lock '{}' granted; running the command", options.lock_name);
  }

  // --- 2. Run the command under the guardian, watching the lock.
  tnl::GuardianOptions guardian;
  guardian.argv = command_argv(options);
  guardian.terminal_fd = STDIN_FILENO;
  guardian.inherited_ignored = inherited_ignored;
  guardian.kill_command_with_guardian = options.on_lost != "warn";
  guardian.end_on_lost = options.on_lost != "warn";
  guardian.kill_grace = seconds(options.kill_grace);
  guardian.leave_background = options.leave_background;
  guardian.lock_fd = client.native_handle();
  guardian.command_line = command_line;
  export_lock_environment(options.lock_name, result.token);
  GuardedRun guarded(io, client, options, guardian);
  on_signal = [&](int sig) { guarded.forward(sig); };
  GuardedOutcome outcome;
  try {
    outcome = guarded.run();
  } catch (const std::system_error& e) {
    client.close();
    print_error("cannot start the command's guardian process: " + e.code().message());
    return do_exit::cannot_run;
  }
  on_signal = nullptr;  // nothing left to forward to

  if (outcome.exec_error) {
    client.close();
    if (*outcome.exec_error == ENOENT) {
      print_error("command not found: '" + guardian.argv.front() + "'");
      return do_exit::command_not_found;
    }
    print_error("cannot run '" + guardian.argv.front() + "': " + std::generic_category().message(*outcome.exec_error));
    return do_exit::cannot_run;
  }
  if (outcome.terminated_for_lost) {  // even if the guardian had to be killed for it
    client.close();
    return do_exit::lock_lost;
  }
  if (outcome.guardian_died || !outcome.status) {
    client.close();
    return do_exit::cannot_run;
  }
  const int status = tnl::ChildCommand::exit_code(*outcome.status);

  // --- 3. Release, only now that every process the command started has ended.
  std::optional<std::string> lost = outcome.lost;
  if (!lost) lost = release(client, options);
  client.close();
  if (lost && status == 0) return do_exit::lock_lost;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  DoOptions options;
  CLI::App app{"", "tcpnetlock_do"};
  add_do_options(app, options);
  tnl::add_client_tls_options(app);
  const auto args = arguments(argc, argv);
  if (const auto problem = check_short_options_after_command(app, args)) {
    print_error(*problem);
    return do_exit::invalid_options;
  }
  if (const auto code = parse(app, args)) return *code;
  configure_logging("tcpnetlock_do", options.info, options.debug);
  if (const auto problem = finalize_do_options(options)) {
    print_error(*problem);
    return do_exit::invalid_options;
  }
  spdlog::info("lock name '{}'", options.lock_name);
  try {
    return run(options, tnl::command_line_area(argc, argv));
  } catch (const std::exception& e) {
    print_error(e.what());
    return do_exit::cannot_run;
  }
}
