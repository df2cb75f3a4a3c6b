// The parameters of a `lock` request, validated: the contract's name and client id, and
// this project's opt-in extensions (wait, fencing, limit, reason, ttl).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "protocol.hpp"

namespace tnl {

/// Largest number of simultaneous holders a `limit:N` semaphore may allow.
inline constexpr std::size_t max_lock_limit = 10'000;
/// Longest `reason:TEXT`, in bytes.
inline constexpr std::size_t max_reason_length = 256;
/// Longest lease of a detached lock (`ttl:SECONDS`, HTTP `"ttl"`, every client's --ttl): a
/// year. The one limit: every front end and every message about it reads it from here.
inline constexpr double max_ttl_seconds = 365.0 * 24 * 3600;
/// Shortest lease of a detached lock, for every front end: a tenth of a second. Shorter
/// ones (1e-7, 1e-300) would keep the server busy expiring and renewing, and no client
/// can renew in time anyway.
inline constexpr double min_ttl_seconds = 0.1;

struct LockOptions {
  std::string name;
  std::string client_id;  ///< empty when not sent
  /// How long to queue when the name is busy: 0 = not at all (tcpnetlock's behaviour),
  /// nullopt = forever (`wait:inf`).
  std::optional<double> wait_seconds = 0.0;
  bool fencing = false;   ///< answer `ok,token:N`
  std::size_t limit = 1;  ///< holders allowed at once
  std::string reason;     ///< free text shown by `.locks`
  /// `ttl:` was sent: the lock is detached from the connection once granted.
  bool detached = false;
  /// How long a detached lock is held without a renewal; nullopt = until unlocked (`ttl:inf`).
  std::optional<double> ttl_seconds;
};

/// Validates a `lock` request. On failure returns the error answer to send
/// (one of the answer:: constants), after which the server closes the connection.
[[nodiscard]] std::variant<LockOptions, std::string_view> parse_lock_options(const Request& request);

/// Parses a wait in seconds: a non-negative decimal number, or `inf` (returned as nullopt).
/// Returns false when `text` is neither.
[[nodiscard]] bool parse_wait_seconds(std::string_view text, std::optional<double>& seconds);

/// Parses a lease in seconds: a decimal number from min_ttl_seconds to max_ttl_seconds,
/// or `inf` (returned as nullopt). Returns false when `text` is neither.
[[nodiscard]] bool parse_ttl_seconds(std::string_view text, std::optional<double>& seconds);

/// Whether `seconds` is a lease every front end accepts: from min_ttl_seconds to
/// max_ttl_seconds (NaN is not).
[[nodiscard]] bool is_valid_ttl_seconds(double seconds);

/// The TTL rule in words, built from min_ttl_seconds and max_ttl_seconds:
/// "a number of seconds >= 0.1 and <= 31536000" (the HTTP API's 400 says "ttl must be " this).
[[nodiscard]] std::string ttl_rule_text();

/// The reason (or HTTP `who`) rule in words, built from max_reason_length:
/// "a string of at most 256 printable bytes".
[[nodiscard]] std::string reason_rule_text();

/// Free text a reason (or an HTTP `who`) may be: at most max_reason_length bytes, no control bytes.
[[nodiscard]] bool is_valid_reason(std::string_view text);

}  // namespace tnl
