// The command line of tcpnetlock_server, parsed into a ServerConfig (main() only runs it);
// every option may also come from the environment or a config file (the command line wins,
// then the environment, then the file).
//
// Every option may be repeated and the last value counts, as with Python's argparse (except
// --http-allowed-host, which adds a name each time; a source that sets it replaces what a
// lower one said). Every duration and number is checked
// against its range, with a message naming the option.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "log_setup.hpp"
#include "server_config.hpp"

namespace tnl {

/// Exit code for invalid options (as tcpnetlock: also when the server cannot bind).
inline constexpr int exit_invalid_options = 2;

/// What tcpnetlock_server was asked to do.
struct ServerOptions {
  ServerConfig config;
  bool debug = false;  ///< --debug: log every connection
  bool info = false;   ///< --info: log every lock granted, refused and freed
  LogFormat log_format = LogFormat::text;  ///< --log-format
};

/// A parsed command line: options to run with, or an exit code and what to print.
struct ParsedServerOptions {
  std::optional<ServerOptions> options;  ///< set when the server is to run
  int exit_code = 0;                     ///< otherwise: 0 after --help, exit_invalid_options on errors
  std::string output;                    ///< --help's text, for stdout
  std::string error;                     ///< the error, for stderr
};

/// Parses `argv[1..argc)` (argv[0] is the program), then fills what it leaves unset from the
/// environment (TCPNETLOCK_SERVER_<OPTION>, TCPNETLOCK_SERVER_CONFIG for --config), then
/// from the --config file, then the defaults. An error names the option and where its
/// value came from.
[[nodiscard]] ParsedServerOptions parse_server_options(int argc, const char* const* argv);

/// The variable an option is read from: "lock-delay" -> "TCPNETLOCK_SERVER_LOCK_DELAY";
/// the backend's are shorter, shared with other tools of a deployment: "backend" ->
/// "TCPNETLOCK_BACKEND", "etcd-endpoints" -> "TCPNETLOCK_ETCD_ENDPOINTS".
[[nodiscard]] std::string server_environment_name(const std::string& option);

/// The HTTP port when --http is not given: the lock port + 1; 0 (a free one) when the lock
/// port is 0 (a free one) or 65535 (there is no next).
[[nodiscard]] std::uint16_t default_http_port(std::uint16_t lock_port);

/// The gRPC port when --grpc is not given: the lock port + 2; 0 (a free one) when the lock
/// port is 0 (a free one) or there is no port two above it.
[[nodiscard]] std::uint16_t default_grpc_port(std::uint16_t lock_port);

/// Parses IDLE,INTERVAL,COUNT of --tcp-keepalive (whole seconds 1..32767, probes 0..127;
/// with COUNT 0 the others are not checked); nullopt when malformed or out of range.
[[nodiscard]] std::optional<TcpKeepalive> parse_tcp_keepalive(const std::string& text);

/// Parses --http: `off`, ADDRESS:PORT or [IPV6]:PORT into `config`; false when malformed.
[[nodiscard]] bool parse_http_address(const std::string& text, ServerConfig& config);

/// Parses --grpc: `off`, ADDRESS:PORT or [IPV6]:PORT into `config`; false when malformed.
[[nodiscard]] bool parse_grpc_address(const std::string& text, ServerConfig& config);

}  // namespace tnl
