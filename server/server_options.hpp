// The command line of tcpnetlock_server, parsed into a ServerConfig (main() only runs it).
//
// Every option may be repeated and the last value counts, as with Python's argparse (except
// --http-allowed-host, which adds a name each time). Every duration and number is checked
// against its range, with a message naming the option.
#pragma once

#include <optional>
#include <string>

#include "server_config.hpp"

namespace tnl {

/// Exit code for invalid options (as tcpnetlock: also when the server cannot bind).
inline constexpr int exit_invalid_options = 2;

/// What tcpnetlock_server was asked to do.
struct ServerOptions {
  ServerConfig config;
  bool debug = false;  ///< --debug: log every connection
  bool info = false;   ///< --info: log every lock granted, refused and freed
};

/// A parsed command line: options to run with, or an exit code and what to print.
struct ParsedServerOptions {
  std::optional<ServerOptions> options;  ///< set when the server is to run
  int exit_code = 0;                     ///< otherwise: 0 after --help, exit_invalid_options on errors
  std::string output;                    ///< --help's text, for stdout
  std::string error;                     ///< the error, for stderr
};

/// Parses `argv[1..argc)` (argv[0] is the program).
[[nodiscard]] ParsedServerOptions parse_server_options(int argc, const char* const* argv);

/// Parses IDLE,INTERVAL,COUNT of --tcp-keepalive (whole seconds 1..32767, probes 0..127;
/// with COUNT 0 the others are not checked); nullopt when malformed or out of range.
[[nodiscard]] std::optional<TcpKeepalive> parse_tcp_keepalive(const std::string& text);

/// Parses --http: `off`, ADDRESS:PORT or [IPV6]:PORT into `config`; false when malformed.
[[nodiscard]] bool parse_http_address(const std::string& text, ServerConfig& config);

}  // namespace tnl
