// What tcpnetlock_distlock is asked to do, from its four sources in order of precedence:
// the command line, then DISTLOCK_* variables, then the YAML config file, then defaults.
// Plain functions over plain values, so that unit tests drive the precedence directly.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace tnl::distlock {

/// Environment variables, as distlock names them.
inline constexpr const char* env_lockname = "DISTLOCK_LOCKNAME";
inline constexpr const char* env_reason = "DISTLOCK_REASON";
inline constexpr const char* env_timeout = "DISTLOCK_TIMEOUT";
inline constexpr const char* env_endpoints = "DISTLOCK_ENDPOINTS";
inline constexpr const char* env_prefix = "DISTLOCK_PREFIX";
inline constexpr const char* env_config = "DISTLOCK_CONFIG";
/// Ours: a file whose first line is the server's admin token, which `--unlock` needs when
/// the server has one (--admin-token-file).
inline constexpr const char* env_admin_token_file = "DISTLOCK_ADMIN_TOKEN_FILE";

/// distlock's config file when neither --config nor DISTLOCK_CONFIG names one.
inline constexpr const char* default_config_path = "/etc/distlock/distlock.yaml";
/// Our server when no endpoint is given.
inline constexpr const char* default_endpoint = "localhost:7654";

/// One server to talk to.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint& a, const Endpoint& b) { return a.host == b.host && a.port == b.port; }
};

/// What one source gives (nullopt: it says nothing about it). The command line, the
/// environment and the config file each fill one.
struct SourceValues {
  std::optional<std::string> lock_name;
  std::optional<std::string> reason;
  std::optional<std::string> timeout;    ///< seconds, -1 for ever, as text
  std::optional<std::string> endpoints;  ///< comma-separated
  std::optional<std::string> prefix;
};

/// What to do.
enum class Mode {
  run,     ///< `-- COMMAND...`: run it holding the lock (a connection lock)
  lock,    ///< --lock: take a detached lock and exit with it held
  unlock,  ///< --unlock: release the name's detached lock, whoever took it
  list,    ///< --list: show the realm's locks
};

/// The settings, resolved and checked.
struct Settings {
  Mode mode = Mode::run;
  std::string name;       ///< distlock's lock name (empty with --list)
  std::string lock_name;  ///< ours: name in the prefix's realm (distlock_realm.hpp)
  std::string reason;
  /// How long to wait for a busy lock: nullopt for ever (-1, the default), 0 not at all.
  std::optional<double> wait_seconds;
  std::vector<Endpoint> endpoints;  ///< never empty
  std::string prefix;
};

/// Looks a variable up; nullopt when unset. An empty value counts as unset (as distlock's
/// configuration library has it).
using Getenv = std::function<std::optional<std::string>(const char* name)>;

/// The process environment as a Getenv.
[[nodiscard]] Getenv process_environment();

/// The DISTLOCK_* variables that `getenv` has.
[[nodiscard]] SourceValues environment_values(const Getenv& getenv);

/// The config file to read: --config, else DISTLOCK_CONFIG, else the default. `named` is
/// set when one was named (then a missing file is an error; the default may be absent).
struct ConfigPath {
  std::string path;
  bool named = false;
};
[[nodiscard]] ConfigPath config_path(const std::optional<std::string>& flag, const Getenv& getenv);

/// `text` as --timeout takes it: -1 (for ever: nullopt), or seconds from 0 (do not wait)
/// to a year, as a plain number or a duration ("90s", "10m"). The problem otherwise.
[[nodiscard]] std::variant<std::optional<double>, std::string> parse_timeout(const std::string& text);

/// A comma- or space-separated list of our servers: `host`, `host:port`, `[v6]:port`,
/// optionally `tcp://` first (the port defaults to 7654). The problem otherwise (an empty
/// list, a bad port, an etcd URL such as `http://...`).
[[nodiscard]] std::variant<std::vector<Endpoint>, std::string> parse_endpoints(const std::string& text);

/// Resolves each setting from the first source that has it: `flags`, then `env`, then
/// `config`, then the default; `nowait` (the flag) is a --timeout of 0 on the command
/// line. Checks them for `mode` (a lock name for all but --list, a valid one). The
/// settings, or the problem.
[[nodiscard]] std::variant<Settings, std::string> resolve_settings(Mode mode, bool nowait, const SourceValues& flags,
                                                                   const SourceValues& env, const SourceValues& config);

}  // namespace tnl::distlock
