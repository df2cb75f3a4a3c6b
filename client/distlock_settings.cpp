#include "distlock_settings.hpp"

#include <cstdlib>
#include <string_view>

#include "cli_support.hpp"
#include "distlock_realm.hpp"
#include "duration.hpp"
#include "protocol.hpp"
#include "protocol_requests.hpp"

namespace tnl::distlock {

namespace {

/// The first source's value, else `fallback`.
std::string first_of(const std::optional<std::string>& flag, const std::optional<std::string>& env,
                     const std::optional<std::string>& config, std::string fallback) {
  if (flag) return *flag;
  if (env) return *env;
  if (config) return *config;
  return fallback;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::variant<Endpoint, std::string> parse_endpoint(std::string_view text) {
  const std::string original{text};
  constexpr std::string_view scheme = "tcp://";
  if (text.compare(0, scheme.size(), scheme) == 0) text.remove_prefix(scheme.size());
  if (text.find("://") != std::string_view::npos) {
    return "endpoint '" + original +
           "': give our servers' addresses (host or host:port), not URLs: tcpnetlock_distlock talks to "
           "tcpnetlock servers, not to etcd";
  }
  Endpoint endpoint;
  endpoint.port = default_port;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return "endpoint '" + original + "': no ']' after the IPv6 address";
    endpoint.host = std::string{text.substr(1, close - 1)};
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "endpoint '" + original + "': expected ':PORT' after ']'";
      port_text = rest.substr(1);
      if (port_text.empty()) return "endpoint '" + original + "': no port after ':'";
    }
  } else if (const auto colon = text.find(':');
             colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    endpoint.host = std::string{text.substr(0, colon)};
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return "endpoint '" + original + "': no port after ':'";
  } else {
    endpoint.host = std::string{text};  // a name, an IPv4 address, or a bare IPv6 address
  }
  if (endpoint.host.empty()) return "endpoint '" + original + "': no host";
  if (!port_text.empty()) {
    const auto port = parse_port(port_text);
    if (!port) return "endpoint '" + original + "': the port must be a number from 1 to 65535";
    endpoint.port = *port;
  }
  return endpoint;
}

}  // namespace

Getenv process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string{value};
  };
}

SourceValues environment_values(const Getenv& getenv) {
  SourceValues values;
  values.lock_name = getenv(env_lockname);
  values.reason = getenv(env_reason);
  values.timeout = getenv(env_timeout);
  values.endpoints = getenv(env_endpoints);
  values.prefix = getenv(env_prefix);
  return values;
}

ConfigPath config_path(const std::optional<std::string>& flag, const Getenv& getenv) {
  if (flag) return {*flag, true};
  if (auto env = getenv(env_config)) return {std::move(*env), true};
  return {default_config_path, false};
}

std::variant<std::optional<double>, std::string> parse_timeout(const std::string& text) {
  const std::string_view value = strip(text);
  if (value == "-1") return std::optional<double>{};
  const auto seconds = parse_duration(value);
  if (!seconds || *seconds > cli::max_option_seconds) {
    return "invalid timeout '" + text +
           "': give -1 (wait for ever), 0 (do not wait) or the seconds to wait (at most a year; 90s, 10m also work)";
  }
  return std::optional<double>{*seconds};
}

std::variant<std::vector<Endpoint>, std::string> parse_endpoints(const std::string& text) {
  std::vector<Endpoint> endpoints;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of(", \t\n", start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      auto endpoint = parse_endpoint(std::string_view(text).substr(start, end - start));
      if (auto* problem = std::get_if<std::string>(&endpoint)) return std::move(*problem);
      endpoints.push_back(std::get<Endpoint>(std::move(endpoint)));
    }
    start = end + 1;
  }
  if (endpoints.empty()) return std::string{"no endpoint given: list our servers as host[:port],..."};
  return endpoints;
}

std::variant<Settings, std::string> resolve_settings(Mode mode, bool nowait, const SourceValues& flags,
                                                     const SourceValues& env, const SourceValues& config) {
  Settings settings;
  settings.mode = mode;
  settings.prefix = first_of(flags.prefix, env.prefix, config.prefix, std::string{default_prefix});
  if (mode != Mode::list) {
    settings.name = first_of(flags.lock_name, env.lock_name, config.lock_name, "");
    if (settings.name.empty()) {
      return std::string{"no lock name: give --lock-name, DISTLOCK_LOCKNAME or lockname in the config file"};
    }
    if (!is_valid_lock_name(settings.name)) {
      return "invalid lock name '" + settings.name + "' (allowed: letters, digits, '_' and '-')";
    }
    settings.lock_name = realm_lock_name(settings.prefix, settings.name);
  }
  settings.reason = first_of(flags.reason, env.reason, config.reason, "");
  if (auto problem = check_reason(settings.reason)) return "invalid reason: " + *problem;
  const std::optional<std::string> flag_timeout = nowait ? std::optional<std::string>("0") : flags.timeout;
  auto timeout = parse_timeout(first_of(flag_timeout, env.timeout, config.timeout, "-1"));
  if (auto* problem = std::get_if<std::string>(&timeout)) return std::move(*problem);
  settings.wait_seconds = std::get<std::optional<double>>(timeout);
  auto endpoints = parse_endpoints(first_of(flags.endpoints, env.endpoints, config.endpoints, default_endpoint));
  if (auto* problem = std::get_if<std::string>(&endpoints)) return std::move(*problem);
  settings.endpoints = std::get<std::vector<Endpoint>>(std::move(endpoints));
  return settings;
}

}  // namespace tnl::distlock
