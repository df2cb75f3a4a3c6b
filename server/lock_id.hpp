// The id of one lock grant: a random (version 4) UUID, kept as 128 bits and shown in
// the canonical 8-4-4-4-12 hex form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace tnl {

struct LockId {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  /// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower-case.
  [[nodiscard]] std::string str() const;
  /// Appends str() to `out` without a temporary.
  void append_to(std::string& out) const;
  /// Accepts the canonical form in either case; nullopt for anything else.
  [[nodiscard]] static std::optional<LockId> parse(std::string_view text);

  friend bool operator==(const LockId& a, const LockId& b) { return a.high == b.high && a.low == b.low; }
  friend bool operator!=(const LockId& a, const LockId& b) { return !(a == b); }
};

/// Hands out random version 4 UUIDs; seeded once from the operating system.
class LockIdGenerator {
 public:
  LockIdGenerator();
  /// A fresh id; collisions are as likely as for any random UUID (2^-122 per pair).
  LockId next();

 private:
  std::mt19937_64 random_;
};

}  // namespace tnl

template <>
struct std::hash<tnl::LockId> {
  std::size_t operator()(const tnl::LockId& id) const noexcept { return id.high ^ (id.low * 0x9e3779b97f4a7c15ULL); }
};
