// The lock table as JSON: the `.locks` answer of the line protocol, and the lock records
// of the HTTP API (docs/HTTP-API.md).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
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

/// {"locks":[{"name","limit","waiters","holders":[{"id","kind","client_id","peer","since",
/// "held_seconds","token","reason","expires"}]}]}. Times are RFC 3339 UTC. Bytes that are
/// not UTF-8 (never in names, possible in reasons) are replaced, so the line is always valid JSON.
[[nodiscard]] std::string locks_to_json(const std::vector<LockTable::NameState>& names, const ClockReadings& clocks);

/// One HTTP lock record: Tracker's id, service, who, createdAt, then ours (see docs/HTTP-API.md).
[[nodiscard]] nlohmann::ordered_json lock_record(const std::string& name, std::size_t limit,
                                                 const LockTable::Holder& holder,
                                                 const std::vector<LockTable::Holder>& waiters,
                                                 const ClockReadings& clocks);

/// "connection" or "detached".
[[nodiscard]] const char* kind_name(LockTable::Kind kind);

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T10:00:00.123Z.
[[nodiscard]] std::string format_rfc3339(std::chrono::system_clock::time_point time);

/// Serialises for the wire: one line, invalid UTF-8 replaced rather than thrown on.
[[nodiscard]] std::string dump_json(const nlohmann::ordered_json& json);

}  // namespace tnl
