// The `.locks` answer, built once per change of the table and shared by every reader.
//
// A thousand readers of the full listing of 5,000 locks used to cost a thousand copies of
// it (170 MB) and as many builds (17 s of event loop). Now one immutable line is built
// when the table has changed since the last one (LockTable::version()) and handed out as a
// shared pointer: the connections write the same bytes. Its "held_seconds" are those of
// the moment it was built, so a line is also rebuilt once it is max_age old.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "lock_table.hpp"
#include "lock_table_json.hpp"

namespace tnl {

class LocksLineCache {
 public:
  /// How stale the held_seconds of a shared line may be.
  static constexpr std::chrono::seconds max_age{1};

  /// The whole `.locks` answer line, "locks,{...}\n" (newline included), for `table` as of
  /// `clocks`; only `only` when given (built each time: it is small). `show_ids` false
  /// leaves every holder's id out.
  std::shared_ptr<const std::string> line(const LockTable& table, const std::optional<std::string>& only,
                                          bool show_ids, const ClockReadings& clocks);

 private:
  /// The full listing last built, with or without ids.
  struct Cached {
    std::shared_ptr<const std::string> line;
    std::uint64_t version = 0;      ///< the table's version it shows
    LockTable::TimePoint built{};  ///< when
  };
  std::array<Cached, 2> full_;  ///< [show_ids]
};

}  // namespace tnl
