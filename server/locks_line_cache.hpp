// The `.locks` answer, built once per change of the table and shared by every reader.
//
// A thousand readers of the full listing of 5,000 locks used to cost a thousand copies of
// it (170 MB) and as many builds (17 s of event loop). Now one immutable line is built
// when the table has changed since the last one (LockTable::version()) and handed out as a
// shared pointer: the connections write the same bytes. The same holds for the listing of
// one name (a semaphore's can be megabytes). Its "held_seconds" are those of the moment it
// was built, so the lines are also rebuilt once they are max_age old.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "lock_table.hpp"
#include "lock_table_json.hpp"

namespace tnl {

class LocksLineCache {
 public:
  /// How stale the held_seconds of a shared line may be.
  static constexpr std::chrono::seconds max_age{1};
  /// Single-name lines kept at most between two changes (a bound on what a reader asking
  /// for many names can make us keep; past it they are built for each request).
  static constexpr std::size_t max_names = 4096;

  /// The whole `.locks` answer line, "locks,{...}\n" (newline included), for `table` as of
  /// `clocks`; only `only` when given. `show_ids` false leaves every holder's id out.
  std::shared_ptr<const std::string> line(const LockTable& table, const std::optional<std::string>& only,
                                          bool show_ids, const ClockReadings& clocks);

 private:
  /// Which listing: the name (empty: every name) and whether it shows ids.
  using Key = std::pair<std::string, bool>;

  /// Lines built since the table was at version_, at most max_age ago (built_); dropped
  /// together when either moves on. Readers still writing a dropped line keep it alive.
  std::map<Key, std::shared_ptr<const std::string>> lines_;
  std::uint64_t version_ = 0;
  LockTable::TimePoint built_{};
};

}  // namespace tnl
