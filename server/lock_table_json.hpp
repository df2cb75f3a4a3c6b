// The `.locks` answer: the lock table's state as one line of JSON.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "lock_table.hpp"

namespace tnl {

/// {"locks":[{"name","limit","waiters","holders":[{"client_id","peer","since","held_seconds",
/// "token","reason"}]}]}. `since` is RFC 3339 UTC, derived from the steady grant time and the
/// two clocks' readings now. Bytes that are not UTF-8 (never in names, possible in reasons)
/// are replaced, so the line is always valid JSON.
[[nodiscard]] std::string locks_to_json(const std::vector<LockTable::NameState>& names,
                                        LockTable::TimePoint steady_now,
                                        std::chrono::system_clock::time_point wall_now);

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T10:00:00.123Z.
[[nodiscard]] std::string format_rfc3339(std::chrono::system_clock::time_point time);

}  // namespace tnl
