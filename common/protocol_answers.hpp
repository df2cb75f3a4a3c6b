// The answer lines of the line protocol that carry values, formatted by the server and
// parsed by the clients, in one place: `ok` / `ok,token:N`, `ok,id:ID[,token:N]`,
// `lost,REASON`, `stats,{...}` and `locks,{...}`. The fixed answers (`released`,
// `renewed`, `not-granted`, the `err,...` lines) are the answer:: constants (protocol.hpp).
//
// Formatters return the line without its '\n' (the server's Connection::answer adds it).
// The parsers that return a std::string_view return a view into the line they were given:
// keep the line alive while the view is used.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lock_id.hpp"
#include "protocol.hpp"

namespace tnl {

/// The REASON of every `lost,REASON` the server sends (docs/PROTOCOL.md).
namespace lost_reason {
/// The holder sent nothing for --holder-timeout.
inline constexpr std::string_view holder_timeout = "holder timeout";
/// An admin released the lock by id (HTTP DELETE, or a forced release).
inline constexpr std::string_view released_by_admin = "released by admin";
/// The holder reads no answers: one stayed unwritten for --write-timeout.
inline constexpr std::string_view answers_not_read = "answers not read";
/// TCP keepalive probes or a write went unanswered.
inline constexpr std::string_view peer_unreachable = "peer unreachable";
/// The backend can no longer vouch for the hold (lock_backend.hpp; etcd: a lost lease).
inline constexpr std::string_view backend_unavailable = "backend unavailable";
}  // namespace lost_reason

// `err,backend unavailable` and `lost,backend unavailable` say the same of the backend.
static_assert(answer::backend_unavailable.substr(answer::error_prefix.size()) == lost_reason::backend_unavailable);

/// A fencing token (the same alias as server/lock_view.hpp's).
using FencingToken = std::uint64_t;

/// A granted connection lock: `ok`, or `ok,token:N` when fencing was asked for.
struct LockResult {
  bool granted = false;
  /// The fencing token, when one was asked for and the lock granted.
  std::optional<FencingToken> token;
};

/// `ok`, or `ok,token:N` with a token.
[[nodiscard]] std::string format_lock_grant(std::optional<FencingToken> token);

/// Parses the answer to a (connection) lock request when it grants the lock: `ok`, or
/// `ok,token:N` (surrounding white space ignored). nullopt for any other line.
[[nodiscard]] std::optional<LockResult> parse_lock_grant(std::string_view answer);

/// A granted detached lock, as `ok,id:ID` or `ok,id:ID,token:T` announces it.
struct DetachedGrant {
  std::string id;
  std::optional<FencingToken> token;
};

/// `ok,id:ID`, or `ok,id:ID,token:N` with a token.
[[nodiscard]] std::string format_detached_grant(const LockId& id, std::optional<FencingToken> token);

/// Parses the answer to a detached lock request: a grant, or nullopt for any other line
/// (including an `ok,id:` whose id is not a lock id or whose token is not a number).
[[nodiscard]] std::optional<DetachedGrant> parse_detached_grant(std::string_view answer);

/// `lost,REASON` (REASON one of lost_reason::, or any text without a line end).
[[nodiscard]] std::string format_lost(std::string_view reason);

/// The REASON of a `lost,REASON` line (surrounding white space ignored), everything after
/// the first ','; nullopt for any other line.
[[nodiscard]] std::optional<std::string_view> parse_lost(std::string_view line);

/// `stats,` followed by the one-line JSON object `json`.
[[nodiscard]] std::string format_stats_answer(std::string_view json);

/// The JSON text of a `stats,{...}` answer (surrounding white space ignored); nullopt for
/// any other line.
[[nodiscard]] std::optional<std::string_view> parse_stats_answer(std::string_view line);

/// `locks,` followed by the one-line JSON object `json` (the server writes it straight into
/// one string with answer::locks_prefix in front, see locks_to_json; this is the same text).
[[nodiscard]] std::string format_locks_answer(std::string_view json);

/// The JSON text of a `locks,{...}` answer (surrounding white space ignored); nullopt for
/// any other line.
[[nodiscard]] std::optional<std::string_view> parse_locks_answer(std::string_view line);

/// True when `line` is an error answer: `err,` and a reason for humans.
[[nodiscard]] bool is_error_answer(std::string_view line);

}  // namespace tnl
