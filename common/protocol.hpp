// The tcpnetlock line protocol: request parsing, answers and validation.
//
// A request is one line: ACTION followed by zero or more ",KEY:VALUE" parameters.
// See docs/PROTOCOL.md for the protocol as users see it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tnl {

/// TCP port the server listens on, and clients connect to, by default.
inline constexpr std::uint16_t default_port = 7654;

/// Longest request line the server buffers by default (bytes, without the line end).
inline constexpr std::size_t default_max_line_length = 1024;

/// Request actions.
namespace action {
inline constexpr std::string_view lock = "lock";
inline constexpr std::string_view release = "release";
inline constexpr std::string_view keepalive = ".keepalive";
inline constexpr std::string_view ping = ".ping";
inline constexpr std::string_view stats = ".stats";
inline constexpr std::string_view server_shutdown = ".server-shutdown";
inline constexpr std::string_view locks = ".locks";
/// Frees a detached lock by id: `unlock,id:ID`.
inline constexpr std::string_view unlock = "unlock";
/// Extends a detached lock's TTL: `renew,id:ID,ttl:SECONDS`.
inline constexpr std::string_view renew = "renew";
/// Frees every detached hold of a name, whoever took it (distlock's `--unlock`):
/// `unlock-name,name:NAME`. A name of its own, not `unlock,name:`, which tcpnetlock
/// answered with bad-action and so do we.
inline constexpr std::string_view unlock_name = "unlock-name";
}  // namespace action

/// Request parameter keys.
namespace param {
inline constexpr std::string_view name = "name";
inline constexpr std::string_view client_id = "client-id";
inline constexpr std::string_view wait = "wait";
inline constexpr std::string_view fencing = "fencing";
inline constexpr std::string_view limit = "limit";
inline constexpr std::string_view reason = "reason";
inline constexpr std::string_view token = "token";
/// Makes a `lock` detached, held for this many seconds (or `inf`) after the connection ends.
inline constexpr std::string_view ttl = "ttl";
/// A lock's id (a UUID), as `ok,id:ID` returned it.
inline constexpr std::string_view id = "id";
/// The server's admin token, which `unlock-name` needs when the server has one.
inline constexpr std::string_view admin_token = "admin-token";
}  // namespace param

/// Answers, each sent as one line terminated by '\n'.
namespace answer {
inline constexpr std::string_view ok = "ok";
inline constexpr std::string_view not_granted = "not-granted";
inline constexpr std::string_view released = "released";
inline constexpr std::string_view alive = "alive";
inline constexpr std::string_view pong = "pong";
inline constexpr std::string_view bad_request = "bad-request";
inline constexpr std::string_view bad_action = "bad-action";
inline constexpr std::string_view shutting_down = "shutting-down";
/// Prefix of the `.stats` answer; a one-line JSON object follows it.
inline constexpr std::string_view stats_prefix = "stats,";
/// Prefix of the `.locks` answer; a one-line JSON object follows it.
inline constexpr std::string_view locks_prefix = "locks,";
/// `ok` with a fencing token: "ok,token:N".
inline constexpr std::string_view ok_token_prefix = "ok,token:";
/// `ok` for a detached lock: "ok,id:ID", or "ok,id:ID,token:N" with fencing.
inline constexpr std::string_view ok_id_prefix = "ok,id:";
/// Answer to `renew`.
inline constexpr std::string_view renewed = "renewed";
/// Sent before the server takes a lock away from its holder: "lost,REASON".
inline constexpr std::string_view lost_prefix = "lost,";
/// Prefix of every error answer; a human-readable reason follows it.
inline constexpr std::string_view error_prefix = "err,";
inline constexpr std::string_view invalid_lock_name = "err,invalid lock name";
inline constexpr std::string_view invalid_client_id = "err,invalid client id";
inline constexpr std::string_view line_too_long = "err,line too long";
inline constexpr std::string_view invalid_wait = "err,invalid wait";
inline constexpr std::string_view invalid_fencing = "err,invalid fencing";
inline constexpr std::string_view invalid_limit = "err,invalid limit";
inline constexpr std::string_view invalid_reason = "err,invalid reason";
inline constexpr std::string_view limit_mismatch = "err,limit mismatch";
inline constexpr std::string_view invalid_ttl = "err,invalid ttl";
inline constexpr std::string_view invalid_lock_id = "err,invalid lock id";
inline constexpr std::string_view unknown_lock_id = "err,unknown lock id";
inline constexpr std::string_view held_by_connection = "err,lock is held by a connection";
/// `unlock-name` of a name that nothing holds (or only connections, see held_by_connection).
inline constexpr std::string_view lock_not_held = "err,lock is not held";
/// `unlock-name` without the right `admin-token:` on a server that has an admin token.
inline constexpr std::string_view admin_token_required = "err,unlock by name needs the admin token";
inline constexpr std::string_view state_write_failed = "err,server cannot persist the lock, try again later";
/// The lock backend cannot serve (etcd out of reach, or this replica's lease given up on):
/// nothing was done; try again later or on another replica.
inline constexpr std::string_view backend_unavailable = "err,backend unavailable";
inline constexpr std::string_view out_of_descriptors = "err,server out of file descriptors, try again later";
inline constexpr std::string_view first_line_timeout = "err,no request received in time";
inline constexpr std::string_view shutdown_disabled =
    "err,server-shutdown is disabled (start the server with --allow-remote-shutdown)";
}  // namespace answer

/// One parsed request line.
struct Request {
  /// The action, stripped of surrounding white space; never empty.
  std::string action;
  /// Parameters in the order sent; keys are never empty.
  std::vector<std::pair<std::string, std::string>> params;

  /// Value of parameter `key` (the last one when sent more than once), if present.
  [[nodiscard]] std::optional<std::string_view> param(std::string_view key) const;
};

/// How the first request line of some input ends (docs/PROTOCOL.md, "Line ends"):
/// `\n` and `\r\n` end a line; so does `\r\0` (telnet), and a `\r` that is the last byte
/// received so far (clients that end lines with CR alone); any other `\r` is part of the line.
struct LineEnd {
  std::size_t line_length = 0;  ///< bytes of the line, without its end
  std::size_t end_length = 0;   ///< bytes of the end: 1 (`\n`, or a last `\r`) or 2
  /// The end is a `\r` that was the last byte of the input: a `\n` or `\0` arriving right
  /// after it belongs to it, and is skipped (see ends_open_cr).
  bool open_cr = false;
};

/// Where the first line of `input` ends; nullopt while no complete line has arrived.
[[nodiscard]] std::optional<LineEnd> find_line_end(std::string_view input);

/// True when `c`, arriving right after an open `\r` line end, is the rest of that line end.
[[nodiscard]] constexpr bool ends_open_cr(char c) { return c == '\n' || c == '\0'; }

/// Parses one request line (without its '\n'; a trailing '\r' is white space like any
/// other). Returns nullopt for a bad request: an empty action or an empty parameter key.
[[nodiscard]] std::optional<Request> parse_request(std::string_view line);

/// Formats a request line, including its trailing '\n'.
[[nodiscard]] std::string format_request(
    std::string_view action,
    const std::vector<std::pair<std::string_view, std::string_view>>& params = {});

/// Strips ASCII white space (space, \t, \n, \v, \f, \r) from both ends.
[[nodiscard]] std::string_view strip(std::string_view text);

/// True when `name` matches ^[a-zA-Z0-9_-]+$.
[[nodiscard]] bool is_valid_lock_name(std::string_view name);

/// True when `id` matches ^[a-zA-Z0-9.@_-]+$.
[[nodiscard]] bool is_valid_client_id(std::string_view id);

}  // namespace tnl
