#include "cli_support.hpp"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "duration.hpp"
#include "lock_client.hpp"
#include "lock_options.hpp"
#include "protocol.hpp"

namespace tnl::cli {

std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err) {
  try {
    // CLI11 parses a reversed vector (it pops arguments from the back).
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);  // prints help, or the error and a hint
    return code == 0 ? 0 : exit_invalid_options;
  }
  return std::nullopt;
}

std::vector<std::string> arguments(int argc, char** argv) {
  return argc > 1 ? std::vector<std::string>(argv + 1, argv + argc) : std::vector<std::string>{};
}

void configure_logging(const std::string& program, bool info, bool debug) {
  auto logger = spdlog::get(program);
  if (!logger) logger = spdlog::stderr_color_mt(program);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %n[%P] %^%l%$: %v");
  logger->set_level(debug ? spdlog::level::debug : info ? spdlog::level::info : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

CLI::Validator duration_between(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& input) -> std::string {
        const auto value = tnl::parse_duration(input);
        if (value && *value >= min && *value <= max) {
          input = fmt::format("{:.17g}", *value);  // what the option's number is read from
          return {};
        }
        return fmt::format("'{}' is not a duration from {} to {}; give {}", input, tnl::format_duration(min),
                           tnl::format_duration(max), tnl::duration_forms);
      },
      "");  // no "[min - max]" in the help: the description says it
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& names, double& seconds,
                                 const std::string& description, double min, double max) {
  // transform(), not check(): check() would drop the rewrite into plain seconds.
  return app.add_option(names, seconds, description)
      ->transform(duration_between(min, max))
      ->type_name("DURATION")
      ->default_str(tnl::format_duration(seconds));
}

void take_last_values(CLI::App& app) { app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast); }

std::chrono::steady_clock::duration seconds(double value) {
  // About 30 years: far below the ~292 years a nanosecond count holds, so adding it to
  // now() cannot overflow either.
  constexpr double longest = 1e9;
  if (!(value > 0)) return std::chrono::steady_clock::duration::zero();
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::min(value, longest)));
}

namespace {
bool is_ignored(int sig) {
  struct sigaction current {};
  return ::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
}
}  // namespace

std::vector<int> not_ignored(const std::vector<int>& signals) {
  std::vector<int> result;
  for (int sig : signals) {
    if (!is_ignored(sig)) result.push_back(sig);
  }
  return result;
}

std::vector<int> ignored(const std::vector<int>& signals) {
  std::vector<int> result;
  for (int sig : signals) {
    if (is_ignored(sig)) result.push_back(sig);
  }
  return result;
}

void add_lock_extension_options(CLI::App& app, LockExtensionOptions& options) {
  app.add_option("-w,--wait,--timeout", options.wait,
                 "How long to wait in the server's queue for a busy lock: a duration (10m, 1h30m, 90s, 0.5) "
                 "or 'inf'. The default is 0: not to wait, as tcpnetlock; flock waits forever")
      ->envname(env_wait)
      ->type_name("DURATION");
  app.add_flag("-n,--nowait,--no-wait,--nonblock", options.nowait,
               "Do not wait for a busy lock (the default; overrides --wait and TCPNETLOCK_WAIT)");
  app.add_option("-E,--conflict-exit-code", options.conflict_exit_code,
                 "Exit status when the lock is not granted or the wait runs out, 0 to 255 (flock's -E)")
      ->check(CLI::Range(0, 255))
      ->capture_default_str();
  app.add_option("--reason", options.reason, "Why the lock is taken, shown to others by '.locks'")
      ->envname(env_reason);
  app.add_flag("--fencing", options.fencing, "Ask for a fencing token with the lock");
  app.add_option("--limit", options.limit, "Let up to N holders have the lock at once (a semaphore)")
      ->check(CLI::Range(std::size_t{1}, tnl::max_lock_limit))
      ->capture_default_str();
}

std::optional<std::string> check_lock_extensions(LockExtensionOptions& options) {
  if (options.nowait) {
    options.wait_seconds = 0.0;
  } else {
    // The server's limit (a year) too, so that the client refuses what the server would.
    const auto wait = tnl::parse_duration(options.wait, true);
    if (!wait || (std::isfinite(*wait) && *wait > max_option_seconds)) {
      return fmt::format("invalid --wait '{}' (or {}): give {}, up to {}, or 'inf'", options.wait, env_wait,
                         tnl::duration_forms, tnl::format_duration(max_option_seconds));
    }
    options.wait_seconds = std::isfinite(*wait) ? std::optional(*wait) : std::nullopt;
  }
  if (const auto problem = tnl::check_reason(options.reason)) return "invalid reason: " + *problem;
  return std::nullopt;
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "ERROR: %s\n", message.c_str());
  std::fflush(stderr);
}

LockRequest lock_request(const std::string& name, const std::string& client_id, const LockExtensionOptions& options) {
  LockRequest request;
  request.name = name;
  request.client_id = client_id;
  request.wait_seconds = options.wait_seconds;
  request.fencing = options.fencing;
  request.limit = options.limit;
  request.reason = options.reason;
  return request;
}

}  // namespace tnl::cli
