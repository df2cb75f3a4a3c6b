// The id of one lock grant, kept as 128 bits and shown as a UUID in the canonical
// 8-4-4-4-12 hex form: the text both sides of the protocol use (`ok,id:ID`, `unlock,id:ID`,
// `renew,id:ID`, the HTTP API's lock ids).
//
// A detached hold's id is its creator's capability (whoever has it may unlock or renew
// the lock), so it is a random version 4 UUID: 122 bits from the kernel's CSPRNG.
// A connection hold's id is a version 8 UUID (RFC 9562's "custom" layout): 60 random
// bits, then the owner (the connection's number) in the low 62 bits. It lets the server
// go from an id to its holder in O(1) without an index entry per held connection: the
// owner says which connection, the connection says which name, and the full 128 bits are
// compared with that name's holders. It is no capability: releasing a connection's hold by
// id needs the admin (a forced release).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tnl {

struct LockId {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  /// Bits of a version 8 id that carry its owner.
  static constexpr std::uint64_t owner_mask = (std::uint64_t{1} << 62) - 1;

  /// "xxxxxxxx-xxxx-Vxxx-yxxx-xxxxxxxxxxxx", lower-case.
  [[nodiscard]] std::string str() const;
  /// For logs: the first 8 hex digits and "…", enough to tell locks apart in a log but not
  /// to use one (a detached lock's id is its creator's capability, and logs are read by more
  /// people than the admin token is given to).
  [[nodiscard]] std::string log_str() const { return str().substr(0, 8) + "\u2026"; }
  /// Appends str() to `out` without a temporary.
  void append_to(std::string& out) const;
  /// Accepts the canonical form in either case; nullopt for anything else.
  [[nodiscard]] static std::optional<LockId> parse(std::string_view text);

  /// The UUID version nibble (4: random, 8: a connection hold's).
  [[nodiscard]] int version() const { return static_cast<int>((high >> 12) & 0xf); }
  /// Whether the variant bits are RFC 9562's (10xx).
  [[nodiscard]] bool rfc_variant() const { return (low >> 62) == 0b10; }
  /// A random id, as every detached hold has.
  [[nodiscard]] bool is_random() const { return version() == 4 && rfc_variant(); }
  /// An id made by LockIdGenerator::for_owner: a connection hold's.
  [[nodiscard]] bool names_owner() const { return version() == 8 && rfc_variant(); }
  /// The owner a names_owner() id was made for.
  [[nodiscard]] std::uint64_t owner() const { return low & owner_mask; }

  friend bool operator==(const LockId& a, const LockId& b) { return a.high == b.high && a.low == b.low; }
  friend bool operator!=(const LockId& a, const LockId& b) { return !(a == b); }
};

/// Hands out ids from the kernel's CSPRNG (getrandom(2)), drawn in batches so that most
/// ids cost no system call.
class LockIdGenerator {
 public:
  /// A fresh random version 4 UUID; collisions are as likely as for any (2^-122 per pair).
  LockId next();
  /// A version 8 UUID for a hold of `owner` (below 2^62), with 60 random bits.
  LockId for_owner(std::uint64_t owner);

 private:
  /// 64 random bits from the batch, refilling it when it is used up.
  std::uint64_t random64();

  std::array<std::uint64_t, 128> batch_{};
  std::size_t used_ = batch_.size();
};

/// True when `text` is a lock id: LockId::parse accepts it (the canonical 8-4-4-4-12
/// hexadecimal form, either case), as the server hands them out and the clients check them.
[[nodiscard]] bool is_lock_id(std::string_view text);

/// Fills `out` with `size` bytes from the kernel's CSPRNG; throws std::system_error when it
/// cannot (never falls back to anything predictable).
void fill_random(void* out, std::size_t size);

}  // namespace tnl

template <>
struct std::hash<tnl::LockId> {
  std::size_t operator()(const tnl::LockId& id) const noexcept { return id.high ^ (id.low * 0x9e3779b97f4a7c15ULL); }
};
