// Detached locks as the clients see them: lock ids, TTLs, and the answers that carry them.
//
// A detached lock (`lock,name:NAME,ttl:SECONDS`, see docs/HTTP-API.md) stays held after
// its connection ends, until `unlock,id:ID`, an admin's release or its TTL runs out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tnl {

/// True when `text` is a lock id: a UUID in its canonical 8-4-4-4-12 hexadecimal form
/// (either case), as the server hands them out.
[[nodiscard]] bool is_lock_id(std::string_view text);

/// How long a detached lock lives after it is granted or renewed.
struct Ttl {
  std::optional<double> seconds;  ///< nullopt: no expiry (`ttl:inf`)
};

/// Parses a TTL as the server does: a decimal number of seconds from min_ttl_seconds to
/// max_ttl_seconds (common/lock_options.hpp), or `inf`. nullopt when `text` is neither.
[[nodiscard]] std::optional<Ttl> parse_ttl(std::string_view text);

/// Seconds as the protocol takes them: plain decimal (no exponent), to the millisecond,
/// without trailing zeros ("600", "0.5"); `inf` for nullopt.
[[nodiscard]] std::string format_protocol_seconds(std::optional<double> seconds);

/// A granted detached lock, as `ok,id:ID` or `ok,id:ID,token:T` announces it.
struct DetachedGrant {
  std::string id;
  std::optional<std::uint64_t> token;
};

/// Parses the answer to a detached lock request: a grant, or nullopt for any other line
/// (including an `ok,id:` whose id is not a lock id or whose token is not a number).
[[nodiscard]] std::optional<DetachedGrant> parse_detached_grant(std::string_view answer);

}  // namespace tnl
