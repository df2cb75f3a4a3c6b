// The lock table as JSON: the `.locks` answer of the line protocol, and the lock records
// of the HTTP API (docs/HTTP-API.md).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lock_table.hpp"

namespace tnl {

/// Turns the table's steady times into wall-clock times, from one reading of each clock.
struct ClockReadings {
  LockTable::TimePoint steady_now = LockTable::Clock::now();
  std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now();

  [[nodiscard]] std::chrono::system_clock::time_point wall(LockTable::TimePoint steady) const {
    return wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(steady - steady_now);
  }
  [[nodiscard]] double seconds_since(LockTable::TimePoint steady) const {
    return std::chrono::duration<double>(steady_now - steady).count();
  }
};

/// `prefix` then {"locks":[{"name","limit","holders":[{"id","kind","client_id","peer","since",
/// "held_seconds","token","fenced","reason","expires"}],"waiters"}]} for every name in use (only
/// `only`, when given). The holders are followed by the name's lock-delays, of kind
/// "delay" (see docs/PROTOCOL.md). A token the table does not call durable is null. Times
/// are RFC 3339 UTC. Bytes that are not UTF-8 (never in names, possible in reasons) are
/// replaced, so the line is always valid JSON.
///
/// Written straight into one string rather than through a JSON tree: `.locks` with 19,000
/// holders must answer within milliseconds. Every value is a number, a fixed word, a
/// validated name or id, or a string passed through nlohmann-json's escaping unless it is
/// plain printable ASCII.
///
/// `show_ids` false leaves every holder's "id" out: a detached lock's id is its creator's
/// capability, not for every reader (used when an admin token is configured).
/// `suffix` is appended at the end (e.g. the line's "\n").
[[nodiscard]] std::string locks_to_json(const LockTable& table, const std::optional<std::string>& only,
                                        const ClockReadings& clocks, std::string_view prefix = {},
                                        bool show_ids = true, std::string_view suffix = {});

/// One HTTP lock record: Tracker's id, service, who, createdAt, then ours (see docs/HTTP-API.md).
/// `show_id` false leaves "id" out (for readers without the admin token); `show_token`
/// false makes "token" null (a token that is not durable: LockTable::token_durable).
[[nodiscard]] nlohmann::ordered_json lock_record(const std::string& name, std::size_t limit,
                                                 const LockTable::Holder& holder,
                                                 const std::vector<LockTable::Holder>& waiters,
                                                 const ClockReadings& clocks, bool show_id = true,
                                                 bool show_token = true);

/// "connection", "detached" or "delay".
[[nodiscard]] const char* kind_name(LockTable::Kind kind);

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T10:00:00.123Z.
[[nodiscard]] std::string format_rfc3339(std::chrono::system_clock::time_point time);
/// Appends format_rfc3339(time) to `out`.
void append_rfc3339(std::string& out, std::chrono::system_clock::time_point time);

/// Serialises for the wire: one line, invalid UTF-8 replaced rather than thrown on.
[[nodiscard]] std::string dump_json(const nlohmann::ordered_json& json);

}  // namespace tnl
