// A LockView as JSON: the `.locks` answer of the line protocol, and the lock records of the
// HTTP API (docs/HTTP-API.md).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "lock_view.hpp"

namespace tnl {

/// `prefix` then {"locks":[{"name","limit","holders":[{"id","kind","client_id","peer","since",
/// "held_seconds","token","fenced","reason","expires"}],"waiters"}]} for every name of the
/// view's listing (none when it has none). The holders are followed by the name's
/// lock-delays, of kind "delay" (see docs/PROTOCOL.md). "held_seconds" counts up to the
/// view's as_of. A token the backend does not call durable is null. Times are RFC 3339 UTC.
/// Bytes that are not UTF-8 (never in names, possible in reasons) are replaced, so the line
/// is always valid JSON.
///
/// Written straight into one string rather than through a JSON tree: `.locks` with 19,000
/// holders must answer within milliseconds. Every value is a number, a fixed word, a
/// validated name or id, or a string passed through nlohmann-json's escaping unless it is
/// plain printable ASCII.
///
/// `show_ids` false leaves every holder's "id" out: a detached lock's id is its creator's
/// capability, not for every reader (used when an admin token is configured).
/// `suffix` is appended at the end (e.g. the line's "\n").
[[nodiscard]] std::string locks_to_json(const LockView& view, std::string_view prefix = {}, bool show_ids = true,
                                        std::string_view suffix = {});

/// One HTTP lock record of `holder` (a holder or a lock-delay of `name`): Tracker's id,
/// service, who, createdAt, then ours (see docs/HTTP-API.md), with the name's limit and
/// queue; "heldSeconds" counts up to `as_of`. `show_id` false leaves "id" out (for readers
/// without the admin token); a token that is not durable is null.
[[nodiscard]] nlohmann::ordered_json lock_record(const NameRecord& name, const HoldRecord& holder,
                                                 std::chrono::system_clock::time_point as_of, bool show_id = true);

/// "connection", "detached" or "delay".
[[nodiscard]] const char* kind_name(HoldKind kind);

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T10:00:00.123Z.
[[nodiscard]] std::string format_rfc3339(std::chrono::system_clock::time_point time);
/// Appends format_rfc3339(time) to `out`.
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point time);

/// Serialises for the wire: one line, invalid UTF-8 replaced rather than thrown on.
[[nodiscard]] std::string dump_json(const nlohmann::ordered_json& json);

}  // namespace tnl
