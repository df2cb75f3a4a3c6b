#include "distlock_layout.hpp"

#include <utility>

#include "distlock_realm.hpp"
#include "protocol.hpp"

namespace tnl::etcd {

namespace {

constexpr std::string_view mutex_name = "__internal_lock";

}  // namespace

std::optional<LayoutChoice> parse_layout_choice(std::string_view text) {
  if (text == "recipe") return LayoutChoice::recipe;
  if (text == "distlock") return LayoutChoice::distlock;
  if (text == "auto") return LayoutChoice::automatic;
  return std::nullopt;
}

std::string_view layout_choice_name(LayoutChoice choice) {
  switch (choice) {
    case LayoutChoice::recipe:
      return "recipe";
    case LayoutChoice::distlock:
      return "distlock";
    case LayoutChoice::automatic:
      return "auto";
  }
  return "auto";
}

bool uses_distlock_layout(LayoutChoice choice, std::string_view prefix) {
  if (choice == LayoutChoice::automatic) return prefix == distlock::default_prefix;
  return choice == LayoutChoice::distlock;
}

std::string format_distlock_value(const DistlockValue& value) {
  std::string host = value.host;
  for (char& c : host) {
    if (c == ';') c = '_';
  }
  return std::to_string(value.since_s) + ";" + host + ";" + value.reason;
}

DistlockValue parse_distlock_value(std::string_view text) {
  DistlockValue value;
  const auto first = text.find(';');
  const std::string_view since = text.substr(0, first);
  if (!since.empty() && since.size() <= 18) {
    std::int64_t number = 0;
    bool digits = true;
    for (const char c : since) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      number = number * 10 + (c - '0');
    }
    if (digits) value.since_s = number;
  }
  if (first == std::string_view::npos) return value;
  const std::string_view rest = text.substr(first + 1);
  const auto second = rest.find(';');
  value.host = std::string(rest.substr(0, second));
  if (second != std::string_view::npos) value.reason = std::string(rest.substr(second + 1));
  return value;
}

DistlockLayout::DistlockLayout(bool enabled, std::string prefix)
    : enabled_(enabled),
      prefix_(std::move(prefix)),
      realm_head_(distlock::encode_prefix(prefix_) + "-"),
      mutex_prefix_(prefix_ + std::string(mutex_name) + "/") {}

std::optional<std::string> DistlockLayout::key_for(std::string_view lock_name) const {
  if (!enabled_) return std::nullopt;
  if (lock_name.size() <= realm_head_.size() || lock_name.compare(0, realm_head_.size(), realm_head_) != 0) {
    return std::nullopt;
  }
  return prefix_ + std::string(lock_name.substr(realm_head_.size()));
}

std::optional<std::string> DistlockLayout::name_for_key(std::string_view key) const {
  if (!enabled_ || key.size() <= prefix_.size() || key.compare(0, prefix_.size(), prefix_) != 0) return std::nullopt;
  const std::string_view name = key.substr(prefix_.size());
  if (!is_valid_lock_name(name)) return std::nullopt;
  std::string lock_name = realm_head_ + std::string(name);
  if (!is_valid_lock_name(lock_name)) return std::nullopt;  // too long with the realm in front
  return lock_name;
}

bool DistlockLayout::reserved(std::string_view lock_name) const { return enabled_ && lock_name == mutex_name; }

bool DistlockLayout::is_mutex_key(std::string_view key) const {
  return enabled_ && key.size() > mutex_prefix_.size() && key.compare(0, mutex_prefix_.size(), mutex_prefix_) == 0;
}

std::string DistlockLayout::index_value(std::string_view key, const LockValue& value) {
  std::string text(key);
  text.push_back('\n');
  text += encode(value);
  return text;
}

std::optional<DistlockLayout::Index> DistlockLayout::parse_index(std::string_view text) const {
  const auto newline = text.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  const std::string_view key = text.substr(0, newline);
  if (!name_for_key(key)) return std::nullopt;
  Index index;
  index.key = std::string(key);
  index.value = decode(text.substr(newline + 1));
  return index;
}

}  // namespace tnl::etcd
