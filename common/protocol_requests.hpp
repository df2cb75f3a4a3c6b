// The request lines of the line protocol, built by the clients and parsed by the server,
// in one place: what a client sends is, by construction, what the server reads.
//
// `lock,name:X[,ttl:S][,client-id:ID][,wait:S][,fencing:1][,limit:N][,reason:TEXT]`
// (parsed by parse_lock_options, lock_options.hpp), `unlock,id:ID`, `renew,id:ID,ttl:S`,
// `.locks[,name:X]`, `unlock-name,name:X[,admin-token:T]`; the others (`release`, `.keepalive`, `.ping`, `.stats`) have no
// parameters and are format_request(action::...) (protocol.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "lock_id.hpp"
#include "protocol.hpp"

namespace tnl {

/// How long a detached lock lives after it is granted or renewed.
struct Ttl {
  std::optional<double> seconds;  ///< nullopt: no expiry (`ttl:inf`)
};

/// Parses a TTL as the server does: a decimal number of seconds from min_ttl_seconds to
/// max_ttl_seconds (lock_options.hpp), or `inf`. nullopt when `text` is neither.
[[nodiscard]] std::optional<Ttl> parse_ttl(std::string_view text);

/// Seconds as the protocol takes them: plain decimal (no exponent), to the millisecond,
/// without trailing zeros ("600", "0.5"); `inf` for nullopt.
[[nodiscard]] std::string format_protocol_seconds(std::optional<double> seconds);

/// What to ask for in a `lock` request: the contract's name and client id, and the
/// opt-in extensions (all off by default, which is tcpnetlock's plain `lock,name:X`).
struct LockRequest {
  std::string name;
  std::string client_id;  ///< empty: none sent
  /// How long the server may queue us when the name is busy: 0 = not at all (nothing
  /// sent), nullopt = forever (`wait:inf`).
  std::optional<double> wait_seconds = 0.0;
  bool fencing = false;   ///< ask for `ok,token:N`
  std::size_t limit = 1;  ///< holders allowed at once (sent only when not 1)
  std::string reason;     ///< shown by `.locks` (sent only when not empty)
};

/// Why `reason` cannot be sent (too long, a control character, or a ',' which the
/// protocol would split on); nullopt when it can.
[[nodiscard]] std::optional<std::string> check_reason(std::string_view reason);

/// The request line for `request`, with its '\n'. Only what differs from tcpnetlock's
/// plain request is sent, so a default request is byte-identical to
/// `lock,name:X[,client-id:ID]`. With `ttl`, the lock is detached: `ttl:SECONDS` follows
/// the name. Throws std::invalid_argument for a request the server would refuse as invalid.
[[nodiscard]] std::string format_lock_request(const LockRequest& request, std::optional<Ttl> ttl = std::nullopt);

/// `unlock,id:ID\n`. Throws std::invalid_argument when `id` is not a lock id.
[[nodiscard]] std::string format_unlock_request(std::string_view id);

/// `unlock-name,name:NAME\n` (with `,admin-token:TOKEN` when `admin_token` is not empty).
/// Throws std::invalid_argument when `name` is not a lock name, or `admin_token` cannot be
/// sent (a ',' or a control character, or white space at either end, which the server strips).
[[nodiscard]] std::string format_unlock_name_request(std::string_view name, std::string_view admin_token = {});

/// A parsed `unlock-name` request.
struct UnlockNameRequest {
  std::string name;
  std::optional<std::string> admin_token;  ///< as sent; nullopt: none
};

/// An `unlock-name` request's name and admin token, or `err,invalid lock name` (no `name:`,
/// or not a lock name).
[[nodiscard]] std::variant<UnlockNameRequest, std::string_view> parse_unlock_name_request(const Request& request);

/// `renew,id:ID,ttl:SECONDS\n`. Throws std::invalid_argument when `id` is not a lock id or
/// `ttl` is not one the server accepts.
[[nodiscard]] std::string format_renew_request(std::string_view id, Ttl ttl);

/// `.locks\n`, or `.locks,name:NAME\n` for one name. Throws std::invalid_argument when
/// `name` is not a lock name.
[[nodiscard]] std::string format_locks_request(std::optional<std::string_view> name = std::nullopt);

/// A parsed `.locks` request.
struct LocksRequest {
  std::optional<std::string> name;  ///< only this name's locks; nullopt: every name
};

/// A `.locks` request's optional `name:`, or `err,invalid lock name`.
[[nodiscard]] std::variant<LocksRequest, std::string_view> parse_locks_request(const Request& request);

/// A parsed `renew` request.
struct RenewRequest {
  LockId id;
  std::optional<double> ttl_seconds;  ///< nullopt: `ttl:inf`
};

/// The `id:` of an `unlock` or `renew` request, or the error answer to send: without any
/// `id:` the line is not one of ours (tcpnetlock answered `unlock,name:X` with
/// bad-action, and so do we); with one that is not a lock id, `err,invalid lock id`.
[[nodiscard]] std::variant<LockId, std::string_view> parse_lock_id_param(const Request& request);

/// A `renew` request's id and TTL, or the error answer to send (parse_lock_id_param's,
/// or `err,invalid ttl` for a missing or invalid `ttl:`).
[[nodiscard]] std::variant<RenewRequest, std::string_view> parse_renew_request(const Request& request);

}  // namespace tnl
