#include "cli_support.hpp"

#include <signal.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

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

std::chrono::steady_clock::duration seconds(double value) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(value));
}

std::vector<int> not_ignored(const std::vector<int>& signals) {
  std::vector<int> result;
  for (int sig : signals) {
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
    result.push_back(sig);
  }
  return result;
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "ERROR: %s\n", message.c_str());
  std::fflush(stderr);
}

}  // namespace tnl::cli
