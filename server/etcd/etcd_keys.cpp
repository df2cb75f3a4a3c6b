#include "etcd_keys.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <utility>

namespace tnl::etcd {

namespace {

constexpr std::string_view index_dir = ".ids/";

std::string_view kind_name(HoldKind kind) {
  switch (kind) {
    case HoldKind::connection:
      return "connection";
    case HoldKind::detached:
      return "detached";
    case HoldKind::delay:
      return "delay";
  }
  return "connection";
}

/// A string field, when it is one.
void read_string(const nlohmann::json& object, const char* field, std::string& out) {
  const auto it = object.find(field);
  if (it != object.end() && it->is_string()) out = it->get<std::string>();
}

/// An integer field, when it is one.
std::optional<std::int64_t> read_int(const nlohmann::json& object, const char* field) {
  const auto it = object.find(field);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(value);
  }
  return std::nullopt;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

KeyLayout::KeyLayout(std::string prefix) : prefix_(std::move(prefix)) {
  if (prefix_.empty() || prefix_.back() != '/') prefix_ += '/';
  index_prefix_ = prefix_ + std::string(index_dir);
}

std::string KeyLayout::name_prefix(std::string_view name) const {
  std::string key;
  key.reserve(prefix_.size() + name.size() + 1);
  key.append(prefix_).append(name).push_back('/');
  return key;
}

std::string KeyLayout::lock_key(std::string_view name, const LockId& id) const {
  std::string key = name_prefix(name);
  id.append_to(key);
  return key;
}

std::string KeyLayout::index_key(const LockId& id) const {
  std::string key = index_prefix_;
  id.append_to(key);
  return key;
}

ParsedKey KeyLayout::parse(std::string_view key) const {
  ParsedKey parsed;
  if (key.size() <= prefix_.size() || key.compare(0, prefix_.size(), prefix_) != 0) return parsed;
  const std::string_view rest = key.substr(prefix_.size());
  if (rest.compare(0, index_dir.size(), index_dir) == 0) {
    parsed.kind = ParsedKey::Kind::index;
    parsed.suffix = rest.substr(index_dir.size());
    return parsed;
  }
  // The name ends at the first '/': every key the range P + name + "/" covers is the name's.
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return parsed;
  parsed.kind = ParsedKey::Kind::lock;
  parsed.name = rest.substr(0, slash);
  parsed.suffix = rest.substr(slash + 1);
  return parsed;
}

std::string encode(const LockValue& value) {
  nlohmann::ordered_json json;
  json["id"] = value.id ? value.id->str() : std::string{};
  json["kind"] = kind_name(value.kind);
  json["limit"] = value.limit;
  json["client_id"] = value.client_id;
  json["peer"] = value.peer;
  json["reason"] = value.reason;
  json["since_ms"] = value.since_ms;
  if (value.expires_ms) json["expires_ms"] = *value.expires_ms;
  json["fenced"] = value.fenced;
  json["replica"] = value.replica;
  // Client ids, peers and reasons are the clients' text: never let bad UTF-8 throw.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

LockValue decode(std::string_view text) {
  LockValue value;
  value.foreign = true;
  if (text.empty() || text.front() != '{') return value;
  nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!json.is_object()) return value;
  if (const auto it = json.find("id"); it != json.end() && it->is_string()) {
    value.id = LockId::parse(it->get<std::string>());
  }
  if (const auto it = json.find("kind"); it != json.end() && it->is_string()) {
    const auto kind = it->get<std::string>();
    if (kind == "detached") value.kind = HoldKind::detached;
    if (kind == "delay") value.kind = HoldKind::delay;
  }
  if (const auto limit = read_int(json, "limit"); limit && *limit >= 1) value.limit = static_cast<std::size_t>(*limit);
  read_string(json, "client_id", value.client_id);
  read_string(json, "peer", value.peer);
  read_string(json, "reason", value.reason);
  read_string(json, "replica", value.replica);
  if (const auto since = read_int(json, "since_ms")) value.since_ms = *since;
  value.expires_ms = read_int(json, "expires_ms");
  if (const auto it = json.find("fenced"); it != json.end() && it->is_boolean()) value.fenced = it->get<bool>();
  value.foreign = !value.id.has_value();
  return value;
}

std::int64_t to_ms(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
  // Clamped to what the clock can hold: a foreign value may say anything.
  constexpr std::int64_t bound = std::int64_t{1} << 42;  // ~139 years: nanoseconds still fit
  ms = std::max(-bound, std::min(bound, ms));
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace tnl::etcd
