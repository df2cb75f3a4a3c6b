// The `.locks` answer, built once per change of the locks and shared by every reader.
//
// A thousand readers of the full listing of 5,000 locks used to cost a thousand copies of
// it (170 MB) and as many builds (17 s of event loop). Now one immutable line is built
// when the locks have changed since the last one (LockView::version) and handed out as a
// shared pointer: the connections write the same bytes. The same holds for the listing of
// one name (a semaphore's can be megabytes). Its "held_seconds" are those of the view it
// was built from, so the lines are also rebuilt once they are max_age old (on the views'
// as_of: a wall clock stepped back or far ahead rebuilds them at once).
//
// A table that keeps changing would still cost a build per reader, and a copy per reader
// that does not read (each keeps its own version until the write timeout cuts it: 300 such
// readers of 2,000 locks pinned 160 MB). So a change is not always acted on at once: a line
// that was slow to build is reused for a while (ListingPacer: listings then take at most
// about a tenth of the event loop), and while the lines that readers have not taken yet
// (older versions, kept alive only by them) exceed `unread_budget`, the current ones are
// reused until they are max_age old. Either way a line is at most max_age
// behind the table, and what unread lines can pin is bounded by the budget plus one version
// per max_age for as long as the write timeout lets a reader keep one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "listing_pacer.hpp"
#include "lock_view.hpp"

namespace tnl {

class LocksLineCache {
 public:
  /// How stale a shared line may be (its held_seconds, and, under load, its holders).
  static constexpr auto max_age = ListingPacer::max_age;
  /// Single-name lines kept at most between two changes (a bound on what a reader asking
  /// for many names can make us keep; past it they are built for each request).
  static constexpr std::size_t max_names = 4096;
  /// Bytes of lines, besides the current ones, that readers may keep unread before a
  /// change of the table is acted on only once the current lines are max_age old.
  static constexpr std::size_t default_unread_budget = 16 * 1024 * 1024;

  /// `slow_build`: see ListingPacer (tests that are not about pacing turn it off).
  explicit LocksLineCache(std::size_t unread_budget = default_unread_budget,
                          ListingPacer::Clock::duration slow_build = ListingPacer::default_slow_build);

  /// The whole `.locks` answer line, "locks,{...}\n" (newline included), for `view` (read
  /// with LockQuery{only, nullopt, true}), or one built from an earlier view (at most
  /// max_age earlier, see above). `show_ids` false leaves every holder's id out.
  std::shared_ptr<const std::string> line(const LockView& view, const std::optional<std::string>& only,
                                          bool show_ids);

  /// Bytes of every line built here that is still alive (kept here or by a reader).
  [[nodiscard]] std::size_t alive_bytes() const { return *alive_bytes_; }

 private:
  /// Which listing: the name (empty: every name) and whether it shows ids.
  using Key = std::pair<std::string, bool>;

  /// Lines built since the pacer's last restart; dropped together when it says so. Readers
  /// still writing a dropped line keep it alive.
  std::map<Key, std::shared_ptr<const std::string>> lines_;
  ListingPacer pacer_;
  /// Bytes of the lines in lines_.
  std::size_t kept_bytes_ = 0;
  const std::size_t unread_budget_;
  /// Shared with every line's deleter, which may run after the cache is gone.
  std::shared_ptr<std::size_t> alive_bytes_ = std::make_shared<std::size_t>(0);
};

}  // namespace tnl
