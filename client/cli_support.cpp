#include "cli_support.hpp"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

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

CLI::Validator seconds_between(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& input) -> std::string {
        double value = 0;
        if (CLI::detail::lexical_cast(input, value) && std::isfinite(value) && value >= min && value <= max) {
          return {};
        }
        return fmt::format("'{}' is not a number of seconds from {:.10g} to {:.10g}", input, min, max);
      },
      fmt::format("SECONDS in [{:.10g} - {:.10g}]", min, max));
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
  app.add_option("--wait,--timeout", options.wait,
                 "Seconds to wait in the server's queue for a busy lock (decimal, or 'inf'; 0: do not wait)")
      ->envname(env_wait)
      ->capture_default_str();
  app.add_flag("--nowait", options.nowait, "Do not wait for a busy lock (the same as --wait 0)");
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
  } else if (!tnl::parse_wait_seconds(tnl::strip(options.wait), options.wait_seconds)) {
    return fmt::format("invalid wait '{}' (seconds as a decimal number, or 'inf')", options.wait);
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
