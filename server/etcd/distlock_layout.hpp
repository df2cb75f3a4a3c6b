// distlock's own layout on etcd, for the lock names of the realm that the server's prefix
// is for (--etcd-layout distlock; issue 14). No I/O.
//
// The real distlock keeps lock NAME under prefix P as the key P + NAME, with no lease and the
// value "<unix seconds>;<hostname>;<reason>"; it serialises its own operations with etcd's
// mutex recipe on P + "__internal_lock" (keys P + "__internal_lock/<lease hex>"), GETs P + NAME
// and PUTs it when absent. Our lock name of distlock's NAME under P is
// distlock::realm_lock_name(P, NAME) = encode(P) + "-" + NAME (common/distlock_realm.hpp):
// such a name is kept as the key P + NAME, the same key a real distlock uses, so both exclude
// each other. Every other name keeps the recipe layout (etcd_keys.hpp).
//
// Our own record of such a lock (id, kind, expiry, who) cannot go into P + NAME (distlock's
// value): it goes into the index P + ".ids/" + id, whose value is then
// P + NAME + "\n" + <LockValue as JSON> (a recipe index holds only the key, never a '\n').
// The index is written in the same transaction as the key: both have one create revision,
// which is how a reader tells that the key is still the one the index describes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "etcd_keys.hpp"

namespace tnl::etcd {

/// How a server lays out its locks on etcd (--etcd-layout).
enum class LayoutChoice : std::uint8_t {
  recipe,    ///< every name as etcd's lock recipe (P + name + "/" + id)
  distlock,  ///< the realm's distlock names as distlock does (P + NAME), the others as recipe
  automatic, ///< distlock when the prefix is exactly "/distlock/", else recipe
};

/// "recipe", "distlock" or "auto"; nullopt for anything else.
[[nodiscard]] std::optional<LayoutChoice> parse_layout_choice(std::string_view text);
/// The text of `choice` ("auto" for automatic).
[[nodiscard]] std::string_view layout_choice_name(LayoutChoice choice);
/// Whether `choice` means the distlock layout for a realm of `prefix` (ending in '/').
[[nodiscard]] bool uses_distlock_layout(LayoutChoice choice, std::string_view prefix);

/// What distlock writes as a lock's value, taken apart.
struct DistlockValue {
  std::int64_t since_s = 0;  ///< unix seconds; 0 when the value does not say
  std::string host;
  std::string reason;
};

/// "<since_s>;<host>;<reason>" (a ';' in host would shift distlock's fields: written as '_').
[[nodiscard]] std::string format_distlock_value(const DistlockValue& value);
/// Reads distlock's value tolerantly (missing fields are empty, a bad number is 0; the
/// reason is everything after the second ';').
[[nodiscard]] DistlockValue parse_distlock_value(std::string_view text);

/// The distlock layout of one realm; disabled() keeps every name in the recipe layout.
class DistlockLayout {
 public:
  /// `enabled`: whether the realm's distlock names use distlock's layout; `prefix`: P, ending in '/'.
  DistlockLayout(bool enabled, std::string prefix);

  [[nodiscard]] bool enabled() const { return enabled_; }
  /// P + NAME for our lock name encode(P) + "-" + NAME; nullopt for a name outside the
  /// realm (or when disabled).
  [[nodiscard]] std::optional<std::string> key_for(std::string_view lock_name) const;
  /// Our lock name of a key P + NAME that distlock may have made: NAME a valid lock name (so
  /// no '/': neither an index, nor a recipe key, nor distlock's internal mutex); nullopt
  /// otherwise (or when disabled).
  [[nodiscard]] std::optional<std::string> name_for_key(std::string_view key) const;
  /// Whether `key` is one of distlock's internal mutex keys (P + "__internal_lock/...").
  [[nodiscard]] bool is_mutex_key(std::string_view key) const;
  /// Whether `lock_name` may not be used (when enabled): "__internal_lock", whose recipe keys
  /// would be distlock's internal mutex keys.
  [[nodiscard]] bool reserved(std::string_view lock_name) const;
  /// P + "__internal_lock/": the range of distlock's internal mutex.
  [[nodiscard]] const std::string& mutex_prefix() const { return mutex_prefix_; }

  /// The index value of our lock on `key`, described by `value`.
  [[nodiscard]] static std::string index_value(std::string_view key, const LockValue& value);
  /// An index value of ours in this layout, taken apart; nullopt for a recipe index (or
  /// anything else).
  struct Index {
    std::string key;
    LockValue value;
  };
  [[nodiscard]] std::optional<Index> parse_index(std::string_view text) const;

 private:
  bool enabled_;
  std::string prefix_;
  std::string realm_head_;  ///< encode(P) + "-"
  std::string mutex_prefix_;
};

}  // namespace tnl::etcd
