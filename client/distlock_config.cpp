#include "distlock_config.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <sstream>

namespace tnl::distlock {

namespace {

/// The config file's size limit: a config file is a few lines; anything far larger is a
/// mistake (a log, a device), not worth reading into memory.
constexpr std::streamsize max_config_bytes = 1 << 20;

/// A scalar key's value; nullopt when absent or null. Throws for a map or a list.
std::optional<std::string> scalar(const YAML::Node& root, const char* key) {
  const YAML::Node node = root[key];
  if (!node || node.IsNull()) return std::nullopt;
  if (!node.IsScalar()) throw std::runtime_error(std::string{"'"} + key + "' must be a single value");
  return node.as<std::string>();
}

}  // namespace

std::variant<SourceValues, std::string> parse_config(const std::string& text, const std::string& origin) {
  try {
    const YAML::Node root = YAML::Load(text);
    SourceValues values;
    if (!root || root.IsNull()) return values;  // an empty file
    if (!root.IsMap()) return origin + ": expected keys (lockname, reason, endpoints, timeout, prefix)";
    values.lock_name = scalar(root, "lockname");
    values.reason = scalar(root, "reason");
    values.timeout = scalar(root, "timeout");
    values.prefix = scalar(root, "prefix");
    const YAML::Node endpoints = root["endpoints"];
    if (endpoints && !endpoints.IsNull()) {
      if (endpoints.IsScalar()) {
        values.endpoints = endpoints.as<std::string>();
      } else if (endpoints.IsSequence()) {
        std::string joined;
        for (const YAML::Node& item : endpoints) {
          if (!item.IsScalar()) return origin + ": 'endpoints' must be a list of host[:port]";
          joined += (joined.empty() ? "" : ",") + item.as<std::string>();
        }
        values.endpoints = joined;
      } else {
        return origin + ": 'endpoints' must be a list of host[:port]";
      }
    }
    return values;
  } catch (const std::exception& e) {
    return origin + ": " + e.what();
  }
}

std::variant<SourceValues, std::string> read_config(const std::string& path, bool required) {
  std::error_code error_code;
  if (std::filesystem::is_directory(path, error_code)) return "config file " + path + " is a directory";
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    if (error == ENOENT && !required) return SourceValues{};
    return "cannot read config file " + path + ": " + std::strerror(error);
  }
  std::string text(static_cast<std::size_t>(max_config_bytes) + 1, '\0');
  file.read(text.data(), max_config_bytes + 1);
  if (file.bad()) return "cannot read config file " + path;
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (static_cast<std::streamsize>(text.size()) > max_config_bytes)
    return "config file " + path + " is larger than 1 MiB";
  return parse_config(text, path);
}

}  // namespace tnl::distlock
