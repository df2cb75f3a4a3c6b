// tcpnetlock_do: takes a lock, runs a command while holding it, then releases it.
//
// Its steps, on one io_context (the lock connection, retry and keepalive timers, a
// signal_set for SIGINT/SIGTERM/SIGHUP routed to the current step: do_signals.hpp),
// without threads:
// 1. take the lock (do_acquire.hpp);
// 2. run the command under a guardian process (do_command.hpp, guarded_run.hpp,
//    guardian.hpp): nothing the command starts outlives the lock, even when we are killed;
// 3. meanwhile, watch the lock (lock_watch.hpp): keepalives, and the lock lost;
// 4. release the lock, once every process the command started has ended (do_release.hpp).
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
#include <spdlog/spdlog.h>

#include <exception>
#include <string>

#include "cli_support.hpp"
#include "do_options.hpp"
#include "do_run.hpp"
#include "tls_options.hpp"

using namespace tnl::cli;

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
    return run_do(options, tnl::command_line_area(argc, argv)).code;
  } catch (const std::exception& e) {
    print_error(e.what());
    return do_exit::cannot_run;
  }
}
