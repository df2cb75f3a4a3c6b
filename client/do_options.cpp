#include "do_options.hpp"

#include <fmt/format.h>

#include "cli_support.hpp"
#include "lock_name.hpp"

namespace tnl::cli {

void add_do_options(CLI::App& app, DoOptions& options) {
  app.description(
      "Takes a lock on a tcpnetlock server, runs COMMAND while holding it, then releases it.\n"
      "COMMAND runs in a process group of its own, with TCPNETLOCK_LOCK_NAME (and with\n"
      "--fencing, TCPNETLOCK_TOKEN) in its environment. The lock is let go only once every\n"
      "process COMMAND started has ended: what it leaves running when it exits gets SIGTERM,\n"
      "then SIGKILL after --kill-grace (unless --leave-background), and so does all of it if\n"
      "the lock is lost (unless --on-lost warn) or if tcpnetlock_do itself is killed (a\n"
      "guardian process, tnl_guardian, sees to it).\n"
      "Exit codes: 2 invalid options, 122 lock lost while COMMAND ran (or before it started),\n"
      "123 lock not granted, 124 command could not be run or was interrupted (also: the\n"
      "guardian was killed), 125 connection refused, 127 command not found; otherwise COMMAND's.");
  // An option given twice takes its last value, as with argparse.
  take_last_values(app);
  app.add_option("--lock-name", options.lock_name, "Lock name (default: derived from COMMAND)");
  app.add_option("--host", options.host, "Server host")->envname(env_host)->capture_default_str();
  app.add_option("--port", options.port, "Server port")
      ->envname(env_port)
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--client-id", options.client_id, "Client id reported to the server")->envname(env_client_id);
  app.add_option("--retry", options.retry, "Times to retry when the lock is not granted")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--retry-wait", options.retry_wait, "Seconds between tries")
      ->check(seconds_between(0))
      ->capture_default_str();
  app.add_flag("--keep-alive,!--no-keep-alive", options.keep_alive,
               "Send keepalives while the command runs (the default; --no-keep-alive: do not)");
  app.add_option("--keep-alive-secs", options.keep_alive_secs, "Seconds between keepalives")
      ->check(seconds_between(min_keep_alive_seconds))
      ->capture_default_str();
  app.add_option("--keep-alive-timeout", options.keep_alive_timeout,
                 "Seconds a keepalive may go unanswered before the lock counts as lost and COMMAND is stopped")
      ->check(seconds_between(min_keep_alive_seconds))
      ->capture_default_str();
  add_lock_extension_options(app, options.lock);
  app.add_option("--on-lost", options.on_lost,
                 "When the lock is lost while COMMAND runs: 'kill' everything it started, or only 'warn'")
      ->check(CLI::IsMember({"kill", "warn"}))
      ->capture_default_str();
  app.add_option("--kill-grace", options.kill_grace,
                 "Seconds between SIGTERM and SIGKILL when terminating what COMMAND started")
      ->check(seconds_between(0))
      ->capture_default_str();
  app.add_flag("--leave-background", options.leave_background,
               "Leave what COMMAND left running when it exits (background jobs, daemons): the lock is "
               "then released while they run");
  app.add_flag("--shell", options.shell, "Run the single COMMAND string with /bin/sh -c");
  app.add_flag("--info", options.info, "Log progress");
  app.add_flag("--debug", options.debug, "Log everything, including the protocol lines");
  app.add_option("command", options.command, "Command to run while holding the lock")->required();
}

std::optional<std::string> finalize_do_options(DoOptions& options) {
  if (options.shell && options.command.size() != 1) {
    return "with --shell, give a SINGLE command string (quote it)";
  }
  if (options.lock_name.empty()) {
    options.lock_name = lock_name_from_command(options.command);
    if (options.lock_name.empty()) {
      return "cannot make a lock name from the command; give one with --lock-name";
    }
  }
  if (!is_valid_lock_name(options.lock_name)) {
    return fmt::format("invalid lock name '{}' (allowed: letters, digits, '_' and '-')", options.lock_name);
  }
  if (!options.client_id.empty() && !is_valid_client_id(options.client_id)) {
    return fmt::format("invalid client id '{}' (allowed: letters, digits, '.', '@', '_' and '-')",
                       options.client_id);
  }
  return check_lock_extensions(options.lock);
}

std::vector<std::string> command_argv(const DoOptions& options) {
  if (options.shell) return {"/bin/sh", "-c", options.command.front()};
  return options.command;
}

}  // namespace tnl::cli
