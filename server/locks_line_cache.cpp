#include "locks_line_cache.hpp"

#include "protocol.hpp"

namespace tnl {

LocksLineCache::LocksLineCache(std::size_t unread_budget) : unread_budget_(unread_budget) {}

bool LocksLineCache::must_rebuild(const LockTable& table, LockTable::TimePoint now) const {
  if (lines_.empty() || now < built_ || now - built_ >= max_age) return true;
  if (version_ == table.version()) return false;
  // Changed: rebuild, unless building again this soon would take too much of the loop...
  if (build_time_ >= slow_build && now - built_ < pacing * build_time_) return false;
  // ... or readers already keep too many older lines unread.
  return *alive_bytes_ - kept_bytes_ <= unread_budget_;
}

std::shared_ptr<const std::string> LocksLineCache::line(const LockTable& table, const std::optional<std::string>& only,
                                                        bool show_ids, const ClockReadings& clocks) {
  if (must_rebuild(table, clocks.steady_now)) {
    lines_.clear();
    kept_bytes_ = 0;
    build_time_ = {};
    version_ = table.version();
    built_ = clocks.steady_now;
  }
  Key key{only.value_or(std::string{}), show_ids};
  if (const auto cached = lines_.find(key); cached != lines_.end()) return cached->second;
  const auto started = std::chrono::steady_clock::now();
  auto* text = new std::string(locks_to_json(table, only, clocks, answer::locks_prefix, show_ids, "\n"));
  *alive_bytes_ += text->size();
  std::shared_ptr<const std::string> built(text, [alive = alive_bytes_](const std::string* line) {
    *alive -= line->size();
    delete line;
  });
  // A name nobody holds or awaits has a tiny answer: not worth keeping (and a reader could
  // ask for any number of them).
  const bool keep = !only || (lines_.size() < max_names && (!table.holders(*only).empty() || table.waiters(*only) > 0));
  if (keep) {
    build_time_ += std::chrono::steady_clock::now() - started;
    kept_bytes_ += text->size();
    lines_.emplace(std::move(key), built);
  }
  return built;
}

}  // namespace tnl
