#include "locks_line_cache.hpp"

#include "lock_view_json.hpp"
#include "protocol.hpp"

namespace tnl {

namespace {

/// A wall-clock time on the pacer's time line (ages only are compared).
ListingPacer::TimePoint pacer_time(std::chrono::system_clock::time_point time) {
  return ListingPacer::TimePoint(std::chrono::duration_cast<ListingPacer::Clock::duration>(time.time_since_epoch()));
}

}  // namespace

LocksLineCache::LocksLineCache(std::size_t unread_budget, ListingPacer::Clock::duration slow_build)
    : pacer_(slow_build), unread_budget_(unread_budget) {}

std::shared_ptr<const std::string> LocksLineCache::line(const LockView& view, const std::optional<std::string>& only,
                                                        bool show_ids) {
  const auto now = pacer_time(view.as_of);
  const bool too_much_unread = *alive_bytes_ - kept_bytes_ > unread_budget_;
  if (pacer_.must_rebuild(view.version, now, !lines_.empty(), too_much_unread)) {
    lines_.clear();
    kept_bytes_ = 0;
    // Aged from when the backend took its listing, not from now: a line is never more than
    // max_age behind the locks, however long the backend shared that listing before.
    pacer_.restart(view.version, view.listed_at ? std::min(now, pacer_time(*view.listed_at)) : now);
  }
  Key key{only.value_or(std::string{}), show_ids};
  if (const auto cached = lines_.find(key); cached != lines_.end()) return cached->second;
  const auto started = ListingPacer::Clock::now();
  auto* text = new std::string(locks_to_json(view, answer::locks_prefix, show_ids, "\n"));
  *alive_bytes_ += text->size();
  std::shared_ptr<const std::string> built(text, [alive = alive_bytes_](const std::string* line) {
    *alive -= line->size();
    delete line;
  });
  // A name nobody holds or awaits has a tiny answer: not worth keeping (and a reader could
  // ask for any number of them).
  const auto in_use = [&] {
    if (!view.names) return false;
    for (const auto& name : *view.names) {
      if (!name.holders.empty() || !name.waiters.empty()) return true;
    }
    return false;
  };
  const bool keep = !only || (lines_.size() < max_names && in_use());
  if (keep) {
    pacer_.built(ListingPacer::Clock::now() - started);
    kept_bytes_ += built->size();
    lines_.emplace(std::move(key), built);
  }
  return built;
}

}  // namespace tnl
