// Pieces shared by tcpnetlock_client and tcpnetlock_do: parsing, logging, signals.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstddef>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace tnl {
struct LockRequest;
}  // namespace tnl

namespace tnl::cli {

/// Environment variables that supply defaults of --host, --port and --client-id.
inline constexpr const char* env_host = "TCPNETLOCK_HOST";
inline constexpr const char* env_port = "TCPNETLOCK_PORT";
inline constexpr const char* env_client_id = "TCPNETLOCK_CLIENT_ID";
/// Environment variables that supply defaults of --wait and --reason.
inline constexpr const char* env_wait = "TCPNETLOCK_WAIT";
inline constexpr const char* env_reason = "TCPNETLOCK_REASON";

/// Exit status when the lock is not granted (also: the wait ran out), unless -E says otherwise.
inline constexpr int default_conflict_exit_code = 123;

/// The lock request extensions both clients offer: -w/--wait/--timeout, -n/--nowait,
/// --reason, --fencing and --limit; and flock(1)'s -E/--conflict-exit-code.
struct LockExtensionOptions {
  std::string wait = "0";  ///< as given: a duration (parse_duration) or `inf`
  bool nowait = false;     ///< -n/--nowait: wait 0, whatever --wait or TCPNETLOCK_WAIT say
  std::string reason;
  bool fencing = false;
  std::size_t limit = 1;
  /// Set by check_lock_extensions(): the wait in seconds, nullopt for `inf`.
  std::optional<double> wait_seconds = 0.0;
  /// -E: the exit status when the lock is not granted (tcpnetlock's 123; flock's is 1).
  int conflict_exit_code = default_conflict_exit_code;
};

/// The request for `name` that these options ask for (the wait must be checked already).
LockRequest lock_request(const std::string& name, const std::string& client_id, const LockExtensionOptions& options);

/// Declares the extension options on `app`, storing into `options`.
void add_lock_extension_options(CLI::App& app, LockExtensionOptions& options);

/// Validates what CLI11 cannot (the wait, by the server's rules, and the reason) and sets
/// wait_seconds. nullopt when fine, else the problem.
std::optional<std::string> check_lock_extensions(LockExtensionOptions& options);

/// Exit code for invalid options, as argparse (and so tcpnetlock) uses.
inline constexpr int exit_invalid_options = 2;

/// Parses the command line. Returns nullopt to go on, or the code to exit with:
/// 0 after --help (printed on `out`), exit_invalid_options (with CLI11's message on
/// `err`) on a parse error.
std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out = std::cout,
                         std::ostream& err = std::cerr);

/// The arguments of main() without the program name, as parse() takes them.
std::vector<std::string> arguments(int argc, char** argv);

/// Sends logs to stderr: warnings and errors by default, more with --info or --debug.
void configure_logging(const std::string& program, bool info, bool debug);

/// Longest duration any option takes, in seconds: a year (as --wait and --ttl).
inline constexpr double max_option_seconds = 365.0 * 24 * 3600;
/// Shortest --keep-alive-secs: ten keepalives a second at most.
inline constexpr double min_keep_alive_seconds = 0.1;

/// Validates a duration option: a duration (tnl::parse_duration: "90s", "10m", "1h30m", or
/// plain seconds) from `min` to `max` seconds (both included), and rewrites it as plain
/// seconds for the option's number. Rejects nan, inf, signs, exponents and values that
/// would overflow. Its error names the limits and the accepted forms.
CLI::Validator duration_between(double min, double max = max_option_seconds);

/// Declares a duration option storing seconds into `seconds`, checked by duration_between(),
/// shown as DURATION with its default ("default: 15s").
CLI::Option* add_duration_option(CLI::App& app, const std::string& names, double& seconds,
                                 const std::string& description, double min, double max = max_option_seconds);

/// Makes every option declared on `app` after this call (and on its subcommands) take its
/// last value when given more than once, as Python's argparse (and so tcpnetlock) does.
void take_last_values(CLI::App& app);

/// Seconds given on the command line (fractions allowed) as a duration. Never overflows:
/// nan and negative values are 0, values beyond about 30 years are cut to that.
std::chrono::steady_clock::duration seconds(double value);

/// `signals` minus those currently ignored: a command started in the background by a
/// shell, or under nohup, ignores SIGINT or SIGHUP, and must keep ignoring them.
std::vector<int> not_ignored(const std::vector<int>& signals);

/// Those of `signals` that are currently ignored.
std::vector<int> ignored(const std::vector<int>& signals);

/// Prints "ERROR: message" on stderr, the way tcpnetlock printed its user-facing errors.
void print_error(const std::string& message);

}  // namespace tnl::cli
