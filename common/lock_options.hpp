// The parameters of a `lock` request, validated: the contract's name and client id, and
// this project's opt-in extensions (wait, fencing, limit, reason).
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

struct LockOptions {
  std::string name;
  std::string client_id;  ///< empty when not sent
  /// How long to queue when the name is busy: 0 = not at all (tcpnetlock's behaviour),
  /// nullopt = forever (`wait:inf`).
  std::optional<double> wait_seconds = 0.0;
  bool fencing = false;   ///< answer `ok,token:N`
  std::size_t limit = 1;  ///< holders allowed at once
  std::string reason;     ///< free text shown by `.locks`
};

/// Validates a `lock` request. On failure returns the error answer to send
/// (one of the answer:: constants), after which the server closes the connection.
[[nodiscard]] std::variant<LockOptions, std::string_view> parse_lock_options(const Request& request);

/// Parses a wait in seconds: a non-negative decimal number, or `inf` (returned as nullopt).
/// Returns false when `text` is neither.
[[nodiscard]] bool parse_wait_seconds(std::string_view text, std::optional<double>& seconds);

}  // namespace tnl
