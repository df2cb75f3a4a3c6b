#include "client_options.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cli_format.hpp"
#include "cli_support.hpp"
#include "duration.hpp"
#include "lock_options.hpp"
#include "version.hpp"

namespace tnl::cli {

void add_client_options(CLI::App& app, ClientOptions& options) {
  use_help_format(app);
  app.description(
      "Takes a lock on a tcpnetlock server and holds it until killed. Without --wait (-w) it does not "
      "wait for a busy lock: it exits 123 at once, as tcpnetlock did.\n"
      "With --fencing, prints 'token:N' on stdout once the lock is held.\n"
      "With --ttl DURATION (or 'inf'), takes a detached lock instead, which the server keeps after we "
      "exit, until '--unlock ID', an admin's release or the TTL: prints its ID as the only line on "
      "stdout (with --fencing, 'token:N' on a second line) and exits 0 at once. "
      "'--renew ID --ttl DURATION' makes a detached lock expire DURATION from now.\n"
      "A DURATION is seconds (10, 0.5) or numbers with units ms, s, m, h, d: 500ms, 90s, 10m, 1h30m, 2d.");
  app.footer(
      "Exit codes: 1 --unlock or --renew refused by the server (unknown id, a lock a connection holds), "
      "2 connection refused (also: invalid or conflicting options), 3 connection failed, 4 unexpected "
      "error (also an invalid --wait, --reason, --ttl or lock id, or an 'err' answer such as a limit "
      "mismatch), 122 connection broke or lock lost while holding it, 123 lock not granted (also: the "
      "wait ran out; or the -E code).\n"
      "Example: tcpnetlock_client -w 10m nightly-backup");
  app.set_version_flag("-V,--version", tnl::version_line("tcpnetlock_client"), "Print the version and exit");
  // An option given twice takes its last value, as with argparse.
  take_last_values(app);
  // Required unless --lock-name, --unlock or --renew (which take none) is given: see below.
  auto* name = app.add_option("lock_name", options.lock_name, "Name of the lock to take")->required()->type_name("");
  auto* long_name = app.add_option("--lock-name", options.lock_name, "The same as lock_name, as tcpnetlock_do takes it")
                        ->type_name("NAME");
  long_name->excludes(name);
  app.add_option("--host", options.host, "Server host")->envname(env_host)->capture_default_str()->type_name("HOST");
  app.add_option("--port", options.port, "Server port")
      ->envname(env_port)
      ->check(CLI::Range(1, 65535))
      ->capture_default_str()
      ->type_name("PORT");
  app.add_option("--client-id", options.client_id, "Client id reported to the server")
      ->envname(env_client_id)
      ->type_name("ID");
  auto* keep_alive = app.add_flag("--keep-alive", options.keep_alive, "Send keepalives while holding the lock");
  auto* keep_alive_secs = add_duration_option(app, "--keep-alive-secs", options.keep_alive_secs,
                                              "Time between keepalives", min_keep_alive_seconds);
  auto* keep_alive_timeout =
      add_duration_option(app, "--keep-alive-timeout", options.keep_alive_timeout,
                          "How long a keepalive may go unanswered before the lock counts as lost (exit 122)",
                          min_keep_alive_seconds);
  add_lock_extension_options(app, options.lock);
  auto* ttl = app.add_option("--ttl", options.ttl,
                             "Take a detached lock that lives DURATION (up to 365d, or 'inf'); print its id and "
                             "exit. With --renew: the new TTL")
                  ->type_name("DURATION");
  auto* unlock =
      app.add_option("--unlock", options.unlock_id, "Release the detached lock with this ID (as --ttl printed it)")
          ->type_name("ID");
  auto* renew = app.add_option("--renew", options.renew_id,
                               "Make the detached lock with this ID expire --ttl DURATION from now")
                    ->type_name("ID");
  app.add_flag("--info,--verbose", options.info, "Log progress");
  app.add_flag("--debug", options.debug, "Log everything, including the protocol lines");

  // A detached lock has no connection to keep alive. --unlock and --renew name the lock
  // by its id and take none of the lock request's options (those with an environment
  // variable are ignored, so that the environment cannot make them fail).
  ttl->excludes(keep_alive)->excludes(keep_alive_secs)->excludes(keep_alive_timeout);
  renew->needs(ttl);
  for (CLI::Option* by_id : {unlock, renew}) {
    by_id->excludes(name)->excludes(long_name)->excludes(keep_alive)->excludes(keep_alive_secs)->excludes(
        keep_alive_timeout);
    for (const char* option : {"--nowait", "--fencing", "--limit", "--conflict-exit-code"}) by_id->excludes(app.get_option(option));
  }
  unlock->excludes(renew)->excludes(ttl);
  // Given options are processed before requirements are checked.
  for (CLI::Option* instead : {long_name, unlock, renew}) {
    instead->each([name](const std::string&) { name->required(false); });
  }
  app.final_callback([&options, ttl, unlock, renew] {
    if (unlock->count() > 0) {
      options.mode = ClientMode::unlock;
    } else if (renew->count() > 0) {
      options.mode = ClientMode::renew;
    } else {
      options.mode = ttl->count() > 0 ? ClientMode::detach : ClientMode::hold;
    }
  });
}

std::optional<std::string> check_client_options(ClientOptions& options) {
  if (options.mode == ClientMode::unlock || options.mode == ClientMode::renew) {
    const std::string& id = options.mode == ClientMode::unlock ? options.unlock_id : options.renew_id;
    if (!is_lock_id(id)) return fmt::format("invalid lock id '{}' (a UUID, as --ttl printed it)", id);
  }
  if (options.mode == ClientMode::detach || options.mode == ClientMode::renew) {
    const auto ttl = parse_duration(options.ttl, true);
    if (!ttl || (std::isfinite(*ttl) && !is_valid_ttl_seconds(*ttl))) {
      return fmt::format("invalid --ttl '{}': give a duration from {} to {} or 'inf'; a duration is {}", options.ttl,
                         format_duration(min_ttl_seconds), format_duration(max_ttl_seconds), duration_forms);
    }
    options.ttl_value.seconds = std::isfinite(*ttl) ? std::optional(*ttl) : std::nullopt;
  }
  if (options.mode == ClientMode::unlock || options.mode == ClientMode::renew) return std::nullopt;
  if (!is_valid_lock_name(options.lock_name)) {
    return fmt::format("invalid lock name '{}' (allowed: letters, digits, '_' and '-')", options.lock_name);
  }
  if (!options.client_id.empty() && !is_valid_client_id(options.client_id)) {
    return fmt::format("invalid client id '{}' (allowed: letters, digits, '.', '@', '_' and '-')",
                       options.client_id);
  }
  return check_lock_extensions(options.lock);
}

}  // namespace tnl::cli
