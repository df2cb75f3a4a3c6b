#include "server_options.hpp"
#include "tls_options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "cli_format.hpp"
#include "etcd/distlock_layout.hpp"
#include "etcd/endpoints.hpp"
#include "protocol.hpp"
#include "version.hpp"

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

/// Checks that an option's value is a whole number of seconds in [min, max].
CLI::Validator whole_seconds(long min, long max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        return whole_number(text, min, max) ? std::string()
                                            : "'" + text + "' is not a whole number of seconds from " +
                                                  std::to_string(min) + " to " + std::to_string(max);
      },
      "");
}

/// The etcd lease TTL: at least 2 s (keepalives go every TTL/4, and the lease guard gives up
/// a margin of at least 1 s before it); at most an hour, since a replica that dies keeps its
/// connection locks for that long.
constexpr long min_etcd_lease_ttl = 2;
constexpr long max_etcd_lease_ttl = 3600;

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

/// Where an option's value came from, for messages ("" is the command line).
using Sources = std::map<std::string, std::string>;

/// " (from the environment variable X)" or "" for the command line.
std::string from(const Sources& sources, const std::string& option) {
  const auto found = sources.find(option);
  return found == sources.end() || found->second.empty() ? std::string() : " (from " + found->second + ")";
}

/// Options that only the command line sets.
bool command_line_only(const std::string& name) { return name == "help" || name == "version"; }

/// Gives `option` the `values` read from `source` (its callback and checks run as for the
/// command line); throws CLI::ValidationError naming the option and the source.
void give(CLI::Option& option, const std::vector<std::string>& values, const std::string& source, Sources& sources) {
  const std::string name = option.get_single_name();
  if (values.size() > 1 && option.get_multi_option_policy() != CLI::MultiOptionPolicy::TakeAll) {
    throw CLI::ValidationError("--" + name, "takes one value, not " + std::to_string(values.size()) +
                                                "; quote a value with commas or spaces (from " + source + ")");
  }
  try {
    for (const auto& value : values) option.add_result(value);
    option.run_callback();
  } catch (const CLI::Error& e) {
    throw CLI::ValidationError(std::string(e.what()) + " (from " + source + ")");
  }
  sources[name] = source;
}

/// Fills the options the command line left unset from TCPNETLOCK_SERVER_<OPTION> variables.
void apply_environment(CLI::App& app, Sources& sources) {
  for (CLI::Option* option : app.get_options()) {
    const std::string name = option->get_single_name();
    if (option->count() > 0 || command_line_only(name)) continue;
    const std::string variable = server_environment_name(name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || *value == '\0') continue;
    give(*option, {value}, "the environment variable " + variable, sources);
  }
}

/// What options need (`--http-tls` needs `--tls-cert`...): CLI11 checks it on the command
/// line alone, which refuses a need met by a lower source and misses a need left unmet
/// after one (TCPNETLOCK_SERVER_HTTP_TLS=true without a certificate served plain HTTP;
/// tls-only without tls-port in the file listened for nobody). So the needs are taken off
/// the options before parsing and checked once every source has been applied.
using Needs = std::vector<std::pair<CLI::Option*, CLI::Option*>>;

/// Takes every `needs` off the options of `app`; what they were.
Needs take_needs(CLI::App& app) {
  Needs needs;
  for (CLI::Option* option : app.get_options()) {
    for (CLI::Option* needed : option->get_needs()) needs.emplace_back(option, needed);
  }
  for (const auto& [option, needed] : needs) option->remove_needs(needed);
  return needs;
}

/// Whether some source gave `option`: a flag set to false was not given.
bool given(const CLI::Option& option) {
  if (option.count() == 0) return false;
  return option.get_type_size() != 0 || option.as<bool>();
}

/// Throws CLI::ValidationError for the first option given without what it needs.
void check_needs(const Needs& needs, const Sources& sources) {
  for (const auto& [option, needed] : needs) {
    if (!given(*option) || needed->count() > 0) continue;
    const std::string name = option->get_single_name();
    throw CLI::ValidationError("--" + name, "requires --" + needed->get_single_name() + from(sources, name));
  }
}

/// Largest config file read: every option with a long comment takes a few KiB.
constexpr std::size_t max_config_size = 1024 * 1024;

/// Fills the options neither the command line nor the environment set from the config file
/// (CLI11's TOML reader: `key = value` lines, the option's long name as key). An unknown key
/// is an error, so a typo is not silently a default. (CLI11 2.1's own set_config() reads the
/// file before the environment, so a file would beat a variable: hence this, after it.)
void apply_config_file(CLI::App& app, const std::string& file, Sources& sources) {
  // A directory opens, and reads as empty: it would silently set nothing.
  std::error_code ignored;
  if (std::filesystem::is_directory(file, ignored)) {
    throw CLI::ValidationError("--config", file + " is a directory, not a file" + from(sources, "config"));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CLI::ValidationError("--config", "cannot read " + file + from(sources, "config"));
  // Read with a bound: a path to something endless (/dev/zero) must not take all memory.
  std::string text(max_config_size + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) throw CLI::ValidationError("--config", "cannot read " + file + from(sources, "config"));
  if (text.size() > max_config_size) {
    throw CLI::ValidationError("--config", file + " is larger than 1 MiB" + from(sources, "config"));
  }
  std::istringstream lines(text);
  const std::string source = "the config file " + file;
  for (const CLI::ConfigItem& item : CLI::ConfigTOML().from_config(lines)) {
    std::string key = item.fullname();
    if (!item.parents.empty()) throw CLI::ValidationError(source, "unknown key '" + key + "' (sections are not used)");
    std::replace(key.begin(), key.end(), '_', '-');  // lock_delay as well as lock-delay
    CLI::Option* option = key.empty() ? nullptr : app.get_option_no_throw("--" + key);
    if (option == nullptr || command_line_only(key) || key == "config") {
      throw CLI::ValidationError(source, "unknown key '" + item.fullname() + "'");
    }
    if (option->count() > 0 && sources[key] != source) continue;  // the command line or the environment set it
    give(*option, item.inputs, source, sources);
  }
}

/// Sets config.backend and config.etcd from the options' text (checked by CLI11 as far as
/// it can), and checks what goes with which backend; the error to print, if any.
std::optional<std::string> apply_backend(const CLI::App& app, const Sources& sources, const std::string& backend,
                                         const std::string& endpoints, const std::string& prefix,
                                         const std::string& lease_ttl, const std::string& layout,
                                         const std::string& start_grace, ServerConfig& config) {
  const auto given = [&app](const std::string& name) { return app.get_option("--" + name)->count() > 0; };
  config.backend = backend == "etcd" ? BackendKind::etcd : BackendKind::local;
  if (config.backend == BackendKind::local) {
    // Not ignored: replicas meant to share etcd that each ran alone would each grant every lock.
    for (const std::string name : {"etcd-endpoints", "etcd-prefix", "etcd-lease-ttl", "etcd-layout"}) {
      if (given(name)) {
        return "--" + name + from(sources, name) + " is for --backend etcd, but the backend is local" +
               from(sources, "backend") + ": add --backend etcd, or leave --" + name + " out";
      }
    }
    return std::nullopt;
  }
  if (endpoints.empty()) {
    return "--backend etcd" + from(sources, "backend") +
           " needs --etcd-endpoints (or TCPNETLOCK_ETCD_ENDPOINTS): the etcd members, e.g. http://127.0.0.1:2379";
  }
  try {
    config.etcd.endpoints = etcd::parse_endpoints(endpoints);
  } catch (const std::invalid_argument& e) {
    return "--etcd-endpoints: " + std::string(e.what()) + from(sources, "etcd-endpoints");
  }
  if (prefix.empty() || std::any_of(prefix.begin(), prefix.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    return "--etcd-prefix: '" + prefix + "' is not a key prefix (printable, without spaces, not empty)" +
           from(sources, "etcd-prefix");
  }
  config.etcd.prefix = prefix.back() == '/' ? prefix : prefix + "/";
  config.etcd.lease_ttl = std::chrono::seconds(*whole_number(lease_ttl, min_etcd_lease_ttl, max_etcd_lease_ttl));
  const auto choice = etcd::parse_layout_choice(layout);
  if (!choice) {
    return "--etcd-layout: '" + layout + "' is not one of recipe, distlock, auto" + from(sources, "etcd-layout");
  }
  config.etcd.layout = std::string(etcd::layout_choice_name(*choice));
  config.etcd.distlock_layout = etcd::uses_distlock_layout(*choice, config.etcd.prefix);
  if (!config.state_dir.empty()) {
    return "--state-dir" + from(sources, "state-dir") +
           " is for the local backend: with --backend etcd, detached locks are kept in etcd";
  }
  // 0 says what etcd does anyway (grant at once), and scripts written for both backends pass it.
  if (!start_grace.empty() && *seconds_value(start_grace) != 0) {
    return "--start-grace" + from(sources, "start-grace") +
           " is for the local backend: with --backend etcd, the locks of a replica that ended stay in etcd until "
           "its lease runs out, so there is nothing to wait for";
  }
  config.start_grace = std::chrono::milliseconds::zero();
  return std::nullopt;
}

}  // namespace

std::string server_environment_name(const std::string& option) {
  // The backend's settings are the deployment's, shared by every replica (and other tools).
  const bool backend_option = option == "backend" || option.rfind("etcd-", 0) == 0;
  std::string name = backend_option ? "TCPNETLOCK_" : "TCPNETLOCK_SERVER_";
  for (const char c : option) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::uint16_t default_http_port(std::uint16_t lock_port) {
  // 0 (and past the last port): a free port, which --http-port-file tells.
  return lock_port == 0 || lock_port == 65535 ? 0 : static_cast<std::uint16_t>(lock_port + 1);
}

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

namespace {

/// Parses `off`, ADDRESS:PORT or [IPV6]:PORT: false when malformed; `enabled` false for off.
bool parse_listen_address(const std::string& text, bool& enabled, std::string& address, std::uint16_t& port) {
  if (text == "off") {
    enabled = false;
    return true;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const auto number = whole_number(std::string_view(text).substr(colon + 1), 0, 65535);
  if (!number) return false;
  enabled = true;
  address = host;
  port = static_cast<std::uint16_t>(*number);
  return true;
}

}  // namespace

bool parse_http_address(const std::string& text, ServerConfig& config) {
  return parse_listen_address(text, config.http_enabled, config.http_address, config.http_port);
}

bool parse_grpc_address(const std::string& text, ServerConfig& config) {
  return parse_listen_address(text, config.grpc_enabled, config.grpc_address, config.grpc_port);
}

std::uint16_t default_grpc_port(std::uint16_t lock_port) {
  // 0 (and past the last port): a free port, which --grpc-port-file tells.
  return lock_port == 0 || lock_port >= 65534 ? 0 : static_cast<std::uint16_t>(lock_port + 2);
}

ParsedServerOptions parse_server_options(int argc, const char* const* argv) {
  ServerOptions options;
  ServerConfig& config = options.config;
  std::string first_line_timeout = "30";
  std::string holder_timeout = "0";
  std::string lock_delay = "0";
  std::string start_grace;  // empty: ServerConfig::default_start_grace()
  std::string write_timeout = "10";
  std::string http_request_timeout = "5";
  std::string http_idle_timeout = "30";
  std::string http_write_timeout = "10";
  std::string tcp_keepalive = "10,5,3";
  std::string http;  // empty: the default address (127.0.0.1, the lock port + 1)
  std::string grpc;  // empty: the default address (127.0.0.1, the lock port + 2)
  std::string admin_token_file;
  std::string config_file;
  std::string log_format = "text";
  std::string backend = "local";
  std::string etcd_endpoints;
  std::string etcd_prefix = EtcdConfig{}.prefix;
  std::string etcd_lease_ttl = std::to_string(EtcdConfig{}.lease_ttl.count());
  std::string etcd_layout = EtcdConfig{}.layout;

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
                 "holders of a server that ended without releasing may still run; default with a --lock-delay: "
                 "the lock-delay plus the least time a silent holder keeps its lock (the --holder-timeout or "
                 "the keepalive give-up, the shorter). 0: grant at once (only where no server before this "
                 "one can have had holders)")
      ->check(duration(lock_delay_range))
      ->type_name("SECONDS");
  app.add_option("--state-dir", config.state_dir,
                 "Directory for state that survives restarts and crashes: detached locks and the fencing "
                 "token high-water mark")
      ->check(CLI::ExistingDirectory);
  app.add_option("--http", http,
                 "Serve the HTTP admin API, metrics and status page on ADDRESS:PORT; 'off' disables it. Default: "
                 "127.0.0.1 and the lock port + 1 (7655; a free port with --port 0 or 65535), and a default that "
                 "cannot be bound only warns");
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
  app.add_option("--grpc", grpc,
                 "Serve Tracker's gRPC API (tracker.lock.v1alpha1.LockService, with server reflection) on "
                 "ADDRESS:PORT; 'off' disables it. Default: 127.0.0.1 and the lock port + 2 (7656; a free port "
                 "with --port 0, 65534 or 65535), and a default that cannot be bound only warns");
  app.add_option("--grpc-port-file", config.grpc_port_file, "Write the bound gRPC port to this file once listening");
  app.add_option("--admin-token-file", admin_token_file,
                 "Creating, renewing and releasing locks over HTTP and gRPC, and seeing lock ids, needs "
                 "'Authorization: Bearer TOKEN' (gRPC: 'authorization' metadata) with the token on this file's "
                 "first line (required for a non-loopback --http or --grpc)")
      ->check(CLI::ExistingFile);
  app.add_flag("--allow-remote-shutdown", config.allow_remote_shutdown,
               "Let any client stop the server with '.server-shutdown' (refused otherwise)");
  app.add_option("--backend", backend,
                 "Where the locks are kept: 'local' (this process's memory, and --state-dir) or 'etcd' (an etcd "
                 "cluster that any number of replicas share: --etcd-endpoints); environment TCPNETLOCK_BACKEND")
      ->capture_default_str()
      ->check(CLI::IsMember({"local", "etcd"}));
  app.add_option("--etcd-endpoints", etcd_endpoints,
                 "With --backend etcd: the etcd members, as http://HOST:PORT or HOST:PORT, separated by commas "
                 "(https is not supported yet); environment TCPNETLOCK_ETCD_ENDPOINTS")
      ->type_name("URL[,URL...]");
  app.add_option("--etcd-prefix", etcd_prefix,
                 "With --backend etcd: the realm, the start of every key of its locks ('/' appended when missing); "
                 "servers with different prefixes share nothing; environment TCPNETLOCK_ETCD_PREFIX")
      ->capture_default_str();
  app.add_option("--etcd-lease-ttl", etcd_lease_ttl,
                 "With --backend etcd: TTL of the replica's lease, in whole seconds from 2 to 3600: a replica that "
                 "dies keeps its connection locks that long, and one cut off from etcd tells its holders 'lost' "
                 "before it runs out; environment TCPNETLOCK_ETCD_LEASE_TTL")
      ->capture_default_str()
      ->check(whole_seconds(min_etcd_lease_ttl, max_etcd_lease_ttl))
      ->type_name("SECONDS");
  app.add_option("--etcd-layout", etcd_layout,
                 "With --backend etcd: how locks are laid out: 'recipe' (etcd's lock recipe, PREFIX + NAME + '/' + "
                 "id, so that 'etcdctl lock' excludes us), 'distlock' (the realm's distlock names, "
                 "tcpnetlock_distlock's, as distlock keeps them, PREFIX + NAME, so that a real distlock excludes us; "
                 "other names as recipe) or 'auto' (distlock when --etcd-prefix is exactly /distlock/); environment "
                 "TCPNETLOCK_ETCD_LAYOUT")
      ->capture_default_str()
      ->check(CLI::IsMember({"recipe", "distlock", "auto"}));
  add_tls_options(app, config.tls);
  app.add_flag("--debug", options.debug, "Log every connection");
  app.add_flag("--info", options.info, "Log every lock granted, refused and freed");
  app.add_option("--log-format", log_format,
                 "Log lines as 'text' or 'json' (one object per line: time, level, logger, pid, message); under "
                 "systemd without a timestamp and with a <N> priority prefix")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--config", config_file,
                 "Read options from FILE ('name = value' lines, TOML; see deploy/tcpnetlock-server.conf); the "
                 "environment (TCPNETLOCK_SERVER_<OPTION>) wins over it, the command line over both")
      ->type_name("FILE");
  app.set_version_flag("--version", version_line("tcpnetlock_server"), "Print the version and exit");
  app.footer("Every option may also be set as the environment variable TCPNETLOCK_SERVER_<OPTION> (e.g. "
             "TCPNETLOCK_SERVER_LOCK_DELAY=5, TCPNETLOCK_SERVER_DEBUG=true; the backend's as TCPNETLOCK_BACKEND and "
             "TCPNETLOCK_ETCD_<OPTION>) or in the --config file "
             "(TCPNETLOCK_SERVER_CONFIG); the command line wins over the environment, the environment over the "
             "file.");

  ParsedServerOptions parsed;
  const auto invalid = [&parsed](const std::string& message) {
    parsed.exit_code = exit_invalid_options;
    parsed.error = message + "\n";
    return parsed;
  };
  Sources sources;  // where each option set other than on the command line came from
  const Needs needs = take_needs(app);
  try {
    app.parse(argc, argv);
    apply_environment(app, sources);
    if (!config_file.empty()) apply_config_file(app, config_file, sources);
    check_needs(needs, sources);
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
  config.write_timeout = to_milliseconds(*seconds_value(write_timeout));
  config.http_request_timeout = to_milliseconds(*seconds_value(http_request_timeout));
  config.http_idle_timeout = to_milliseconds(*seconds_value(http_idle_timeout));
  config.http_write_timeout = to_milliseconds(*seconds_value(http_write_timeout));
  const auto keepalive = parse_tcp_keepalive(tcp_keepalive);
  if (!keepalive) {
    return invalid("--tcp-keepalive: expected IDLE,INTERVAL,COUNT (IDLE and INTERVAL whole seconds from 1 to 32767, "
                   "COUNT probes from 0 to 127; e.g. 10,5,3), got '" + tcp_keepalive + "'" +
                   from(sources, "tcp-keepalive"));
  }
  config.tcp_keepalive = *keepalive;
  // After the holder timeout, keepalive and lock-delay it depends on.
  config.start_grace =
      start_grace.empty() ? config.default_start_grace() : to_milliseconds(*seconds_value(start_grace));
  config.http_default_address = http.empty();
  if (http.empty()) {
    config.http_port = default_http_port(config.port);
  } else if (!parse_http_address(http, config)) {
    return invalid("--http: expected ADDRESS:PORT (e.g. 127.0.0.1:7655 or [::1]:7655) or off, got '" + http + "'" +
                   from(sources, "http"));
  }
  config.grpc_default_address = grpc.empty();
  if (grpc.empty()) {
    config.grpc_port = default_grpc_port(config.port);
  } else if (!parse_grpc_address(grpc, config)) {
    return invalid("--grpc: expected ADDRESS:PORT (e.g. 127.0.0.1:7656 or [::1]:7656) or off, got '" + grpc + "'" +
                   from(sources, "grpc"));
  }
  // gRPC is served without TLS here: with --tls-only (every lock client over TLS, so that
  // mutual TLS cannot be bypassed) the default gRPC listener stays off, and one asked for is
  // refused rather than left as a plain way around it.
  if (config.tls.only && config.grpc_enabled) {
    if (!config.grpc_default_address) {
      return invalid("--grpc: the gRPC API is served without TLS, and --tls-only asks for every lock client "
                     "over TLS: give --grpc off" + from(sources, "grpc"));
    }
    config.grpc_enabled = false;
  }
  for (const auto& host : config.http_allowed_hosts) {
    if (host.empty()) return invalid("--http-allowed-host: empty host name" + from(sources, "http-allowed-host"));
  }
  if (!admin_token_file.empty()) {
    config.admin_token = read_token(admin_token_file);
    if (config.admin_token.empty()) {
      return invalid("--admin-token-file: " + admin_token_file + " has no token on its first line" +
                     from(sources, "admin-token-file"));
    }
  }
  if (const auto problem = apply_backend(app, sources, backend, etcd_endpoints, etcd_prefix, etcd_lease_ttl,
                                          etcd_layout, start_grace, config)) {
    return invalid(*problem);
  }
  options.log_format = *parse_log_format(log_format);  // checked above
  parsed.options = std::move(options);
  return parsed;
}

}  // namespace tnl
