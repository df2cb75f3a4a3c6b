// How tcpnetlock_admin shows the HTTP API's JSON to people: durations, tables, records.
// Pure functions, no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tnl::admin {

/// Seconds since the epoch of an RFC 3339 time: "2026-11-23T10:15:02.123Z", with any
/// number of fraction digits, `Z`/`z` or a `+HH:MM`/`-HH:MM` offset, `T`, `t` or ' '
/// between date and time. nullopt when `text` is not one.
[[nodiscard]] std::optional<double> parse_rfc3339(std::string_view text);

/// When a lock record expires, for people: "-" for a lock a connection holds, "never"
/// for a detached lock without a TTL, "in 4m59s", or "expired". Measured on the
/// server's clock (expiresAt - createdAt - heldSeconds), so the two clocks need not
/// agree; the raw `expiresAt` text when that cannot be worked out.
[[nodiscard]] std::string expires_text(const nlohmann::json& record);

/// Number of columns `text` takes on a terminal: its UTF-8 code points.
[[nodiscard]] std::size_t display_width(std::string_view text);

/// Text for one table cell: control characters become '?', an empty text "-", and text
/// wider than `max_width` (0: no limit) is cut, ending in "...".
[[nodiscard]] std::string cell(std::string_view text, std::size_t max_width = 0);

/// An aligned table: a header line, then one line per row; columns left-aligned and
/// separated by two spaces, no trailing white space. Rows shorter than the header get
/// empty cells.
[[nodiscard]] std::string format_table(const std::vector<std::string>& header,
                                       const std::vector<std::vector<std::string>>& rows);

/// The `list` table of lock records: NAME, KIND, HOLDER (who, or else the peer), TOKEN,
/// HELD, EXPIRES, WAITERS, REASON, ID. Fields a record lacks show as "-".
[[nodiscard]] std::string format_lock_table(const nlohmann::json& records);

/// Every field of a lock record, one `key: value` line each: the documented fields
/// first, in the documentation's order, then any others. Strings as they are (`""` when
/// empty), other values as JSON. Durations get a hint for people ("heldSeconds: 125.5
/// (2m05s)", "expiresAt: ... (in 4m59s)", "expiresAt: never"); `waiters: N` is followed by
/// each waiter's fields as `waiters[I].KEY: value` lines, I counting from 1 (first in line).
[[nodiscard]] std::string format_record(const nlohmann::json& record);

/// A flat JSON object as `key: value` lines, in key order (nested values as JSON).
[[nodiscard]] std::string format_key_values(const nlohmann::json& object);

}  // namespace tnl::admin
