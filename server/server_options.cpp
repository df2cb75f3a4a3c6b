#include "server_options.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli_format.hpp"
#include "protocol.hpp"

namespace tnl {

namespace {

/// A whole number in [min, max] spelt with digits only; nullopt otherwise.
std::optional<long> whole_number(std::string_view text, long min, long max) {
  long value = 0;
  const auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (problem != std::errc{} || end != text.data() + text.size() || value < min || value > max) return std::nullopt;
  return value;
}

/// A finite number of seconds spelt as a whole; nullopt otherwise.
std::optional<double> seconds_value(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

/// How a duration option may be set.
struct DurationRange {
  bool zero_means_off;  ///< 0 is allowed and disables the feature
  double min;           ///< otherwise at least this many seconds (finer does not make sense)
  double max;           ///< and at most this many
};

/// "from 0.01 to 86400 seconds", for messages.
std::string describe(const DurationRange& range) {
  std::ostringstream text;
  text << (range.zero_means_off ? "0 (off) or a number of seconds from " : "a number of seconds from ") << range.min
       << " to " << range.max;
  return text.str();
}

/// Checks a duration option's value against `range`.
CLI::Validator duration(const DurationRange& range) {
  return CLI::Validator(
      [range](std::string& text) -> std::string {
        const auto value = seconds_value(text);
        const bool fits = value && ((range.zero_means_off && *value == 0) || (*value >= range.min && *value <= range.max));
        return fits ? std::string() : "'" + text + "' is not " + describe(range);
      },
      "");
}

std::chrono::milliseconds to_milliseconds(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

/// The token: the file's first line without surrounding white space; empty when unreadable.
std::string read_token(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return std::string(strip(line));
}

constexpr DurationRange first_line_range{true, 0.01, 86400};
constexpr DurationRange holder_range{true, 0.01, 86400.0 * 365};
/// Up to an hour: a delay is for a command to stop, and every forced release pays it.
constexpr DurationRange lock_delay_range{true, 0.01, 3600};
constexpr DurationRange http_request_range{false, 0.01, 3600};
constexpr DurationRange http_idle_range{false, 0.01, 86400};
constexpr DurationRange http_write_range{false, 0.01, 3600};
constexpr DurationRange write_range{false, 0.01, 86400};

}  // namespace

std::optional<TcpKeepalive> parse_tcp_keepalive(const std::string& text) {
  const auto first = text.find(',');
  const auto second = first == std::string::npos ? first : text.find(',', first + 1);
  if (second == std::string::npos) return std::nullopt;
  const std::string_view all(text);
  const auto count = whole_number(all.substr(second + 1), 0, 127);
  if (!count) return std::nullopt;
  if (*count == 0) return TcpKeepalive{std::chrono::seconds(10), std::chrono::seconds(5), 0};
  const auto idle = whole_number(all.substr(0, first), 1, 32767);
  const auto interval = whole_number(all.substr(first + 1, second - first - 1), 1, 32767);
  if (!idle || !interval) return std::nullopt;
  return TcpKeepalive{std::chrono::seconds(*idle), std::chrono::seconds(*interval), static_cast<int>(*count)};
}

bool parse_http_address(const std::string& text, ServerConfig& config) {
  if (text == "off") {
    config.http_enabled = false;
    return true;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string address = text.substr(0, colon);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') address = address.substr(1, address.size() - 2);
  const auto port = whole_number(std::string_view(text).substr(colon + 1), 0, 65535);
  if (!port) return false;
  config.http_enabled = true;
  config.http_address = address;
  config.http_port = static_cast<std::uint16_t>(*port);
  return true;
}

ParsedServerOptions parse_server_options(int argc, const char* const* argv) {
  ServerOptions options;
  ServerConfig& config = options.config;
  std::string first_line_timeout = "30";
  std::string holder_timeout = "0";
  std::string lock_delay = "0";
  std::string start_grace;  // empty: the lock-delay
  std::string write_timeout = "10";
  std::string http_request_timeout = "5";
  std::string http_idle_timeout = "30";
  std::string http_write_timeout = "10";
  std::string tcp_keepalive = "10,5,3";
  std::string http = "127.0.0.1:7655";
  std::string admin_token_file;

  CLI::App app{"tcpnetlock_server: a lock server; a lock is held for as long as its TCP connection is open"};
  cli::use_help_format(app);  // common/cli_format: wrapped at 99 columns, no type/range clutter
  // A repeated option takes its last value, as Python's argparse does (tcpnetlock's tests
  // pass the port twice).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--listen", config.listen, "Address or host name to listen on (every address it resolves to)")
      ->capture_default_str();
  app.add_option("--port", config.port, "TCP port to listen on; 0 picks a free one")->capture_default_str();
  app.add_option("--port-file", config.port_file, "Write the bound port to this file once listening");
  app.add_option("--max-line-length", config.max_line_length,
                 "Longest request line accepted, in bytes; longer ones get 'err,line too long'")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20));
  app.add_option("--first-line-timeout", first_line_timeout,
                 "Close a connection that sends no request within this many seconds (0: never)")
      ->capture_default_str()
      ->check(duration(first_line_range))
      ->type_name("SECONDS");
  app.add_option("--write-timeout", write_timeout,
                 "Cut a connection whose client takes no answer for this many seconds (a holder loses its lock)")
      ->capture_default_str()
      ->check(duration(write_range))
      ->type_name("SECONDS");
  app.add_option("--tcp-keepalive", tcp_keepalive,
                 "Keepalive probing as IDLE,INTERVAL,COUNT seconds/probes (COUNT 0: off); a vanished peer "
                 "loses its lock after IDLE+INTERVAL*COUNT seconds")
      ->capture_default_str();
  app.add_option("--holder-timeout", holder_timeout,
                 "A holder that sends no line for this many seconds loses its lock (0: never)")
      ->capture_default_str()
      ->check(duration(holder_range))
      ->type_name("SECONDS");
  app.add_option("--lock-delay", lock_delay,
                 "After the server takes a lock away without its holder's consent (holder timeout, peer "
                 "unreachable, answers not read, forced release), grant it to nobody for this many seconds, so "
                 "that what the old holder runs can stop (0: at once)")
      ->capture_default_str()
      ->check(duration(lock_delay_range))
      ->type_name("SECONDS");
  app.add_option("--start-grace", start_grace,
                 "Grant nothing for this many seconds after start (requests that wait are queued), since the "
                 "holders of a server that ended without releasing may still run; default: the --lock-delay. "
                 "0: grant at once (only where no server before this one can have had holders)")
      ->check(duration(lock_delay_range))
      ->type_name("SECONDS");
  app.add_option("--state-dir", config.state_dir,
                 "Directory for state that survives restarts and crashes: detached locks and the fencing "
                 "token high-water mark")
      ->check(CLI::ExistingDirectory);
  app.add_option("--http", http, "Serve the HTTP admin API, metrics and status page on ADDRESS:PORT; 'off' disables it")
      ->capture_default_str();
  app.add_option("--http-port-file", config.http_port_file, "Write the bound HTTP port to this file once listening");
  app.add_option("--http-allowed-host", config.http_allowed_hosts,
                 "A host name HTTP requests may be addressed to (the Host header), besides IP addresses and "
                 "localhost; repeat for more, '*' allows any (the default for a non-loopback --http)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->delimiter(',');
  app.add_option("--http-request-timeout", http_request_timeout,
                 "An HTTP request (head and body) must arrive within this many seconds of its first byte, and a "
                 "new connection's first request within this many seconds of connecting")
      ->capture_default_str()
      ->check(duration(http_request_range))
      ->type_name("SECONDS");
  app.add_option("--http-idle-timeout", http_idle_timeout,
                 "Close a keep-alive HTTP connection after this many seconds without a request")
      ->capture_default_str()
      ->check(duration(http_idle_range))
      ->type_name("SECONDS");
  app.add_option("--http-write-timeout", http_write_timeout,
                 "Close an HTTP connection whose client does not take an answer within this many seconds")
      ->capture_default_str()
      ->check(duration(http_write_range))
      ->type_name("SECONDS");
  app.add_option("--http-max-connections", config.http_max_connections,
                 "Open HTTP connections at most; a new one beyond evicts the one idle longest")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  app.add_option("--admin-token-file", admin_token_file,
                 "Creating, renewing and releasing locks over HTTP, and seeing lock ids, needs "
                 "'Authorization: Bearer TOKEN' with the token on this file's first line (required for a "
                 "non-loopback --http)")
      ->check(CLI::ExistingFile);
  app.add_flag("--allow-remote-shutdown", config.allow_remote_shutdown,
               "Let any client stop the server with '.server-shutdown' (refused otherwise)");
  app.add_flag("--debug", options.debug, "Log every connection");
  app.add_flag("--info", options.info, "Log every lock granted, refused and freed");

  ParsedServerOptions parsed;
  const auto invalid = [&parsed](const std::string& message) {
    parsed.exit_code = exit_invalid_options;
    parsed.error = message + "\n";
    return parsed;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out;
    std::ostringstream err;
    const int code = app.exit(e, out, err);
    parsed.output = out.str();
    parsed.error = err.str();
    parsed.exit_code = code == 0 ? 0 : exit_invalid_options;
    return parsed;
  }
  // Validated above.
  config.first_line_timeout = to_milliseconds(*seconds_value(first_line_timeout));
  config.holder_timeout = to_milliseconds(*seconds_value(holder_timeout));
  config.lock_delay = to_milliseconds(*seconds_value(lock_delay));
  config.start_grace = start_grace.empty() ? config.lock_delay : to_milliseconds(*seconds_value(start_grace));
  config.write_timeout = to_milliseconds(*seconds_value(write_timeout));
  config.http_request_timeout = to_milliseconds(*seconds_value(http_request_timeout));
  config.http_idle_timeout = to_milliseconds(*seconds_value(http_idle_timeout));
  config.http_write_timeout = to_milliseconds(*seconds_value(http_write_timeout));
  const auto keepalive = parse_tcp_keepalive(tcp_keepalive);
  if (!keepalive) {
    return invalid("--tcp-keepalive: expected IDLE,INTERVAL,COUNT (IDLE and INTERVAL whole seconds from 1 to 32767, "
                   "COUNT probes from 0 to 127; e.g. 10,5,3), got '" + tcp_keepalive + "'");
  }
  config.tcp_keepalive = *keepalive;
  if (!parse_http_address(http, config)) {
    return invalid("--http: expected ADDRESS:PORT (e.g. 127.0.0.1:7655 or [::1]:7655) or off, got '" + http + "'");
  }
  for (const auto& host : config.http_allowed_hosts) {
    if (host.empty()) return invalid("--http-allowed-host: empty host name");
  }
  if (!admin_token_file.empty()) {
    config.admin_token = read_token(admin_token_file);
    if (config.admin_token.empty()) {
      return invalid("--admin-token-file: " + admin_token_file + " has no token on its first line");
    }
  }
  parsed.options = std::move(options);
  return parsed;
}

}  // namespace tnl
