// tcpnetlock_server: the options (server_options.cpp) and the logs (log_setup.cpp) around Server.
//
// Exit codes (as tcpnetlock): 0 after a graceful shutdown or --help/--version, 2 on invalid
// options or when it cannot bind, 3 when serving fails.
#include <csignal>
#include <exception>
#include <iostream>
#include <spdlog/spdlog.h>

#include "log_setup.hpp"
#include "server.hpp"
#include "server_options.hpp"

namespace {
constexpr int exit_cannot_bind = 2;
constexpr int exit_serving_failed = 3;
}  // namespace

int main(int argc, char** argv) {
  const tnl::ParsedServerOptions parsed = tnl::parse_server_options(argc, argv);
  std::cout << parsed.output;
  std::cerr << parsed.error;
  if (!parsed.options) return parsed.exit_code;
  const tnl::ServerOptions& options = *parsed.options;

  tnl::setup_logging("tcpnetlock_server", options.log_format,
                     options.debug  ? spdlog::level::debug
                     : options.info ? spdlog::level::info
                                    : spdlog::level::warn);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    tnl::Server server(options.config);
    try {
      server.run();
    } catch (const std::exception& e) {
      spdlog::critical("serving failed: {}", e.what());
      return exit_serving_failed;
    }
  } catch (const tnl::BindError& e) {
    spdlog::critical("{}", e.what());
    return exit_cannot_bind;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return exit_cannot_bind;
  }
  return 0;
}
