#include "do_options.hpp"

#include <fmt/format.h>

#include "cli_format.hpp"
#include "cli_support.hpp"
#include "lock_name.hpp"
#include "version.hpp"

namespace tnl::cli {

void add_do_options(CLI::App& app, DoOptions& options) {
  use_help_format(app);
  app.description(
      "Takes a lock on a tcpnetlock server, runs COMMAND while holding it, then releases it. "
      "Without --wait (-w) it does not wait for a busy lock: it exits 123 at once, as tcpnetlock did.\n"
      "COMMAND runs in a process group of its own, with TCPNETLOCK_LOCK_NAME (and with --fencing, "
      "TCPNETLOCK_TOKEN) in its environment. The lock is let go only once every process COMMAND started "
      "has ended: what it leaves running when it exits gets SIGTERM, then SIGKILL after --kill-grace "
      "(unless --leave-background), and so does all of it if the lock is lost (unless --on-lost warn) or "
      "if tcpnetlock_do itself is killed (a guardian process, tnl_guardian, sees to it).\n"
      "A DURATION is seconds (10, 0.5) or numbers with units ms, s, m, h, d: 500ms, 90s, 10m, 1h30m, 2d.");
  app.footer(
      "Exit codes: 2 invalid options, 122 lock lost while COMMAND ran (or before it started), 123 lock "
      "not granted (or the -E code), 124 command could not be run or was interrupted (also: the guardian "
      "was killed), 125 connection refused, 127 command not found; otherwise COMMAND's.\n"
      "Example: tcpnetlock_do -w 10m --lock-name migrations -- ./manage.py migrate");
  app.set_version_flag("-V,--version", tnl::version_line("tcpnetlock_do"), "Print the version and exit");
  // An option given twice takes its last value, as with argparse.
  take_last_values(app);
  app.add_option("--lock-name", options.lock_name, "Lock name (default: derived from COMMAND)")->type_name("NAME");
  app.add_option("--host", options.host, "Server host")->envname(env_host)->capture_default_str()->type_name("HOST");
  app.add_option("--port", options.port, "Server port")
      ->envname(env_port)
      ->check(CLI::Range(1, 65535))
      ->capture_default_str()
      ->type_name("PORT");
  app.add_option("--client-id", options.client_id, "Client id reported to the server")
      ->envname(env_client_id)
      ->type_name("ID");
  app.add_option("--retry", options.retry, "Times to retry when the lock is not granted")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_duration_option(app, "--retry-wait", options.retry_wait, "Time between tries", 0);
  app.add_flag("--keep-alive,!--no-keep-alive", options.keep_alive,
               "Send keepalives while the command runs (the default; --no-keep-alive: do not)");
  add_duration_option(app, "--keep-alive-secs", options.keep_alive_secs, "Time between keepalives",
                      min_keep_alive_seconds);
  add_duration_option(app, "--keep-alive-timeout", options.keep_alive_timeout,
                      "How long a keepalive may go unanswered before the lock counts as lost and COMMAND is "
                      "stopped", min_keep_alive_seconds);
  add_lock_extension_options(app, options.lock);
  app.add_option("--on-lost", options.on_lost,
                 "When the lock is lost while COMMAND runs: 'kill' everything it started, or only 'warn'")
      ->check(CLI::IsMember({"kill", "warn"}))
      ->capture_default_str();
  add_duration_option(app, "--kill-grace", options.kill_grace,
                      "Time between SIGTERM and SIGKILL when terminating what COMMAND started", 0);
  app.add_flag("--leave-background", options.leave_background,
               "Leave what COMMAND left running when it exits (background jobs, daemons): the lock is "
               "then released while they run");
  app.add_flag("--shell", options.shell, "Run the single COMMAND string with /bin/sh -c");
  auto* command = app.add_option("command", options.command, "Command to run while holding the lock")->required();
  auto* shell_command =
      app.add_option("-c,--command", options.shell_command,
                     "Run COMMAND_STRING with /bin/sh -c instead of a COMMAND (as flock -c; the same as --shell)")
          ->type_name("COMMAND_STRING")
          ->excludes(command);
  // Given options are processed before requirements are checked.
  shell_command->each([&options, command](const std::string&) {
    command->required(false);
    options.shell_command_given = true;
  });
  app.add_flag("--info,--verbose", options.info, "Log progress");
  app.add_flag("--debug", options.debug, "Log everything, including the protocol lines");
}

std::optional<std::string> check_short_options_after_command(const CLI::App& app,
                                                             const std::vector<std::string>& args) {
  bool in_command = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") return std::nullopt;
    if (arg.size() < 2 || arg[0] != '-') {
      in_command = true;  // a positional: COMMAND's first word, or a later one
      continue;
    }
    const bool is_long = arg[1] == '-';
    const std::string name = is_long ? arg.substr(0, arg.find('=')) : arg.substr(0, 2);
    const CLI::Option* option = app.get_option_no_throw(name);
    if (!option) continue;  // CLI11 reports unknown options itself
    if (!is_long && in_command && option != app.get_help_ptr()) {
      return fmt::format("'{}' after the command's first word would be taken as tcpnetlock_do's {}: put '--' "
                         "before the command (tcpnetlock_do [OPTIONS] -- COMMAND...)",
                         arg, option->get_name());
    }
    // An option's value is no command word: `--lock-name x`, `-w 10m`, but not `--port=1`, `-w10m`.
    const bool value_attached = is_long ? arg.find('=') != std::string::npos : arg.size() > 2;
    if (option->get_expected_max() > 0 && !value_attached) ++i;  // flags expect none
  }
  return std::nullopt;
}

std::optional<std::string> finalize_do_options(DoOptions& options) {
  if (options.shell_command_given) {
    options.shell = true;
    options.command = {options.shell_command};
  }
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
