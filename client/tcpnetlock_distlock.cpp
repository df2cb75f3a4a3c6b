// tcpnetlock_distlock (tnl_distlock): distlock's command line on tcpnetlock servers.
//
//   distlock --lock-name=NAME [--reason=TEXT] [--nowait | --timeout=SECONDS] -- COMMAND...
//   distlock --lock-name=NAME [--reason=TEXT] [--timeout=SECONDS] --lock
//   distlock --lock-name=NAME --unlock
//   distlock --list
//
// Settings come from the command line, then DISTLOCK_* variables, then the YAML config
// file, then defaults (distlock_settings.hpp); lock names live in the realm of the prefix
// (distlock_realm.hpp). Every failure exits 1, as distlock's; a command's own status passes
// through (distlock_commands.hpp). See the README, "Coming from distlock".
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "cli_format.hpp"
#include "cli_support.hpp"
#include "distlock_commands.hpp"
#include "distlock_config.hpp"
#include "distlock_settings.hpp"
#include "guardian.hpp"
#include "protocol.hpp"
#include "tls_options.hpp"
#include "version.hpp"

namespace {

using namespace tnl::distlock;

/// The command line: what was given (counted after the parse, for the precedence).
struct CommandLine {
  std::string lock_name, reason, timeout, endpoints, prefix, config, admin_token_file;
  bool nowait = false, lock = false, unlock = false, list = false, verbose = false, debug = false;
  std::vector<std::string> command;
};

void add_options(CLI::App& app, CommandLine& line) {
  tnl::cli::use_help_format(app);
  app.description(
      "distlock's command line on tcpnetlock servers: runs COMMAND holding a lock and releases it when COMMAND "
      "ends, even when it fails (and at once if this program dies); or takes a lock that stays held after it exits "
      "(--lock) until anyone releases it by name (--unlock); or lists the locks (--list).\n"
      "Each setting comes from its option, else its DISTLOCK_* variable, else the YAML config file (--config, "
      "$DISTLOCK_CONFIG or /etc/distlock/distlock.yaml; keys lockname, reason, endpoints, timeout, prefix), else "
      "its default.");
  app.footer(
      "Exit status: 0 on success, 1 on any failure (lock not acquired, not found, no server, invalid options); "
      "with COMMAND, COMMAND's own status (128+N when it died of signal N).\n"
      "Environment: DISTLOCK_LOCKNAME, DISTLOCK_REASON, DISTLOCK_TIMEOUT, DISTLOCK_ENDPOINTS, DISTLOCK_PREFIX, "
      "DISTLOCK_CONFIG, DISTLOCK_ADMIN_TOKEN_FILE.\n"
      "Example: tcpnetlock_distlock --lock-name=percona_prod -- yum upgrade");
  app.set_version_flag("-V,--version", tnl::version_line("tcpnetlock_distlock"), "Print the version and exit");
  tnl::cli::take_last_values(app);
  app.add_option("--lock-name", line.lock_name, "Lock name (DISTLOCK_LOCKNAME; config: lockname)")->type_name("NAME");
  app.add_option("--reason", line.reason, "Why the lock is taken, shown by --list (DISTLOCK_REASON; config: reason)")
      ->type_name("TEXT");
  auto* timeout = app.add_option("--timeout", line.timeout,
                                 "Seconds to wait for a busy lock: -1 for ever (the default), 0 not at all "
                                 "(DISTLOCK_TIMEOUT; config: timeout)")
                      ->type_name("SECONDS");
  app.add_flag("--nowait", line.nowait, "Do not wait for a busy lock: the same as --timeout=0")->excludes(timeout);
  auto* lock = app.add_flag("--lock", line.lock, "Take the lock and exit with it held (no expiry), until --unlock");
  auto* unlock =
      app.add_flag("--unlock", line.unlock,
                   "Release the lock by name, whoever took it with --lock (not one a running COMMAND holds)");
  auto* list = app.add_flag("--list", line.list, "List the locks of the prefix: name, host, age and reason");
  lock->excludes(unlock)->excludes(list);
  unlock->excludes(list);
  app.add_option("--endpoints", line.endpoints,
                 "Our servers, tried in turn: host[:port],... (default localhost:7654; DISTLOCK_ENDPOINTS; config: "
                 "endpoints)")
      ->type_name("LIST");
  app.add_option("--prefix", line.prefix,
                 "The realm: locks under one prefix never see another's (default /distlock/; DISTLOCK_PREFIX; "
                 "config: prefix)")
      ->type_name("PREFIX");
  app.add_option("--config", line.config, "YAML config file (DISTLOCK_CONFIG; default /etc/distlock/distlock.yaml)")
      ->type_name("FILE");
  app.add_option("--admin-token-file", line.admin_token_file,
                 "File whose first line is the server's admin token, which --unlock needs when the server has one "
                 "(DISTLOCK_ADMIN_TOKEN_FILE)")
      ->type_name("FILE");
  app.add_flag("-v,--verbose", line.verbose, "Log progress");
  app.add_flag("--debug", line.debug, "Log everything, including the protocol lines");
  app.add_option("command", line.command, "Command to run while holding the lock (after --)");
}

/// The value of an option when it was given (even empty), else nullopt.
std::optional<std::string> given(const CLI::App& app, const char* name, const std::string& value) {
  if (app.count(name) == 0) return std::nullopt;
  return value;
}

/// The admin token: the first line, stripped, of `path`. Throws std::runtime_error when
/// the file cannot be read or that line is empty.
std::string read_token(const std::string& path) {
  std::ifstream file(path);
  std::string first;
  if (!file || !std::getline(file, first)) throw std::runtime_error("cannot read the admin token file " + path);
  std::string token{tnl::strip(first)};
  if (token.empty()) throw std::runtime_error("the admin token file " + path + " has no token on its first line");
  return token;
}

int fail(const std::string& problem) {
  tnl::cli::print_error(problem);
  return exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine line;
  CLI::App app{"", "tcpnetlock_distlock"};
  add_options(app, line);
  tnl::add_client_tls_options(app);
  // What follows the first `--` is the command, word for word (options of its own too).
  std::vector<std::string> args = tnl::cli::arguments(argc, argv);
  std::vector<std::string> after_dashes;
  if (const auto dashes = std::find(args.begin(), args.end(), "--"); dashes != args.end()) {
    after_dashes.assign(dashes + 1, args.end());
    args.erase(dashes, args.end());
  }
  if (const auto code = tnl::cli::parse(app, args)) return *code == 0 ? 0 : exit_failure;
  line.command.insert(line.command.end(), after_dashes.begin(), after_dashes.end());
  tnl::cli::configure_logging("tcpnetlock_distlock", line.verbose, line.debug);

  const int modes = int{line.lock} + int{line.unlock} + int{line.list} + int{!line.command.empty()};
  if (modes == 0) return fail("nothing to do: give -- COMMAND, --lock, --unlock or --list (see --help)");
  if (modes > 1) return fail("give only one of -- COMMAND, --lock, --unlock and --list");
  const Mode mode = line.lock ? Mode::lock : line.unlock ? Mode::unlock : line.list ? Mode::list : Mode::run;

  SourceValues flags;
  flags.lock_name = given(app, "--lock-name", line.lock_name);
  flags.reason = given(app, "--reason", line.reason);
  flags.timeout = given(app, "--timeout", line.timeout);
  flags.endpoints = given(app, "--endpoints", line.endpoints);
  flags.prefix = given(app, "--prefix", line.prefix);
  const Getenv getenv = process_environment();
  const ConfigPath config_file = config_path(given(app, "--config", line.config), getenv);
  auto config = read_config(config_file.path, config_file.named);
  if (const auto* problem = std::get_if<std::string>(&config)) return fail(*problem);
  auto resolved =
      resolve_settings(mode, line.nowait, flags, environment_values(getenv), std::get<SourceValues>(config));
  if (const auto* problem = std::get_if<std::string>(&resolved)) return fail(*problem);
  const Settings& settings = std::get<Settings>(resolved);
  spdlog::info("lock '{}' under prefix '{}': our lock name '{}'", settings.name, settings.prefix, settings.lock_name);

  try {
    switch (mode) {
      case Mode::lock:
        return take_lock(settings, host_client_id());
      case Mode::unlock: {
        std::string token_file = line.admin_token_file;
        if (app.count("--admin-token-file") == 0) token_file = getenv(env_admin_token_file).value_or("");
        return unlock(settings, token_file.empty() ? std::string{} : read_token(token_file));
      }
      case Mode::list:
        return list(settings, std::cout);
      case Mode::run:
        return run_command(settings, host_client_id(), line.command, tnl::command_line_area(argc, argv));
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return exit_failure;
}
