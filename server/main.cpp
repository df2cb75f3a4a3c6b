// tcpnetlock_server: the command line around Server.
//
// Exit codes (as tcpnetlock): 0 after a graceful shutdown, 2 on invalid options or when
// it cannot bind, 3 when serving fails.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <exception>
#include <fstream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "server.hpp"

namespace {
constexpr int exit_invalid_options = 2;
constexpr int exit_cannot_bind = 2;
constexpr int exit_serving_failed = 3;

/// Parses IDLE,INTERVAL,COUNT (whole seconds, seconds, probes).
bool parse_tcp_keepalive(const std::string& text, tnl::TcpKeepalive& keepalive) {
  int idle = 0;
  int interval = 0;
  int count = 0;
  char end = 0;
  if (std::sscanf(text.c_str(), "%d,%d,%d%c", &idle, &interval, &count, &end) != 3) return false;
  if (count < 0 || count > 127 || (count > 0 && (idle < 1 || idle > 32767 || interval < 1 || interval > 32767))) {
    return false;
  }
  keepalive = tnl::TcpKeepalive{std::chrono::seconds(idle), std::chrono::seconds(interval), count};
  return true;
}

/// Parses `off`, ADDRESS:PORT or [IPV6]:PORT into the config.
bool parse_http(const std::string& text, tnl::ServerConfig& config) {
  if (text == "off") {
    config.http_enabled = false;
    return true;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string address = text.substr(0, colon);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') address = address.substr(1, address.size() - 2);
  unsigned port = 0;
  char end = 0;
  if (std::sscanf(text.c_str() + colon + 1, "%u%c", &port, &end) != 1 || port > 65535) return false;
  config.http_address = address;
  config.http_port = static_cast<std::uint16_t>(port);
  return true;
}

/// The token: the file's first line without surrounding white space; empty when unreadable.
std::string read_token(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return std::string(tnl::strip(line));
}
}  // namespace

int main(int argc, char** argv) {
  tnl::ServerConfig config;
  bool debug = false;
  bool info = false;
  double first_line_timeout_seconds = 30;
  double holder_timeout_seconds = 0;
  double write_timeout_seconds = 10;
  std::string tcp_keepalive = "10,5,3";
  std::string http = "127.0.0.1:7655";
  std::string admin_token_file;

  CLI::App app{"tcpnetlock_server: a lock server; a lock is held for as long as its TCP connection is open"};
  app.add_option("--listen", config.listen, "Address or host name to listen on (every address it resolves to)")
      ->capture_default_str();
  app.add_option("--port", config.port, "TCP port to listen on; 0 picks a free one")->capture_default_str();
  app.add_option("--port-file", config.port_file, "Write the bound port to this file once listening");
  app.add_option("--max-line-length", config.max_line_length,
                 "Longest request line accepted, in bytes; longer ones get 'err,line too long'")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20));
  app.add_option("--first-line-timeout", first_line_timeout_seconds,
                 "Close a connection that sends no request within this many seconds (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--write-timeout", write_timeout_seconds,
                 "Cut a connection whose client takes no answer for this many seconds (a holder loses its lock)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--tcp-keepalive", tcp_keepalive,
                 "Keepalive probing as IDLE,INTERVAL,COUNT seconds/probes (COUNT 0: off); a vanished peer "
                 "loses its lock after IDLE+INTERVAL*COUNT seconds")
      ->capture_default_str();
  app.add_option("--holder-timeout", holder_timeout_seconds,
                 "A holder that sends no line for this many seconds loses its lock (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0 * 365));
  app.add_option("--state-dir", config.state_dir,
                 "Directory for state that survives restarts and crashes: detached locks and the fencing "
                 "token high-water mark")
      ->check(CLI::ExistingDirectory);
  app.add_option("--http", http, "Serve the HTTP admin API, metrics and status page on ADDRESS:PORT; 'off' disables it")
      ->capture_default_str();
  app.add_option("--http-port-file", config.http_port_file, "Write the bound HTTP port to this file once listening");
  app.add_option("--admin-token-file", admin_token_file,
                 "Creating, renewing and releasing locks over HTTP needs 'Authorization: Bearer TOKEN' with the "
                 "token on this file's first line (required for a non-loopback --http)")
      ->check(CLI::ExistingFile);
  app.add_flag("--allow-remote-shutdown", config.allow_remote_shutdown,
               "Let any client stop the server with '.server-shutdown' (refused otherwise)");
  app.add_flag("--debug", debug, "Log every connection");
  app.add_flag("--info", info, "Log every lock granted, refused and freed");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : exit_invalid_options;
  }
  config.first_line_timeout = std::chrono::milliseconds(static_cast<long long>(first_line_timeout_seconds * 1000));
  config.holder_timeout = std::chrono::milliseconds(static_cast<long long>(holder_timeout_seconds * 1000));
  config.write_timeout = std::chrono::milliseconds(static_cast<long long>(write_timeout_seconds * 1000));
  if (!parse_tcp_keepalive(tcp_keepalive, config.tcp_keepalive)) {
    std::cerr << "--tcp-keepalive: expected IDLE,INTERVAL,COUNT (e.g. 10,5,3), got '" << tcp_keepalive << "'\n";
    return exit_invalid_options;
  }
  if (!parse_http(http, config)) {
    std::cerr << "--http: expected ADDRESS:PORT (e.g. 127.0.0.1:7655 or [::1]:7655) or off, got '" << http << "'\n";
    return exit_invalid_options;
  }
  if (!admin_token_file.empty()) {
    config.admin_token = read_token(admin_token_file);
    if (config.admin_token.empty()) {
      std::cerr << "--admin-token-file: " << admin_token_file << " has no token on its first line\n";
      return exit_invalid_options;
    }
  }

  auto logger = spdlog::stderr_color_mt("tcpnetlock_server");
  spdlog::set_default_logger(logger);
  spdlog::set_level(debug ? spdlog::level::debug : info ? spdlog::level::info : spdlog::level::warn);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    tnl::Server server(config);
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
