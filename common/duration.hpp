// Durations as people type them on command lines: "90s", "10m", "1h30m", "500ms", "2d", or
// plain seconds ("10", "0.5"). The wire protocol keeps plain decimal seconds (clients convert).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tnl {

/// The accepted forms, for error messages.
inline constexpr std::string_view duration_forms =
    "seconds (10, 0.5) or numbers with units ms, s, m, h, d, largest first (500ms, 90s, 10m, 1h30m, 2d)";

/// Parses a duration, in seconds. Accepted, with white space around it ignored:
/// - a plain decimal number of seconds: digits with at most one '.' ("10", "0.5", ".5");
/// - one or more NUMBER UNIT pieces, NUMBER as above, UNIT one of d (24 h), h, m, s, ms,
///   each unit at most once and largest first ("1h30m", "1.5h", "1s500ms");
/// - `inf` when `allow_infinite` (returned as +infinity).
/// No signs, exponents, upper-case units or inner spaces. nullopt for anything else,
/// including text over 64 characters. Range checks are the caller's.
[[nodiscard]] std::optional<double> parse_duration(std::string_view text, bool allow_infinite = false);

/// `seconds` the short way people write it: "1ms", "90s", "10m", "1h30m", "365d", "1.5s".
/// Whole milliseconds at most; used to print the limits of an option.
[[nodiscard]] std::string format_duration(double seconds);

}  // namespace tnl
