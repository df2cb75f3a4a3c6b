#include "locks_line_cache.hpp"

#include "protocol.hpp"

namespace tnl {

std::shared_ptr<const std::string> LocksLineCache::line(const LockTable& table, const std::optional<std::string>& only,
                                                        bool show_ids, const ClockReadings& clocks) {
  if (lines_.empty() || version_ != table.version() || clocks.steady_now - built_ >= max_age ||
      clocks.steady_now < built_) {
    lines_.clear();
    version_ = table.version();
    built_ = clocks.steady_now;
  }
  Key key{only.value_or(std::string{}), show_ids};
  if (const auto cached = lines_.find(key); cached != lines_.end()) return cached->second;
  auto built = std::make_shared<const std::string>(
      locks_to_json(table, only, clocks, answer::locks_prefix, show_ids, "\n"));
  // A name nobody holds or awaits has a tiny answer: not worth keeping (and a reader could
  // ask for any number of them).
  const bool keep = !only || (lines_.size() < max_names && (!table.holders(*only).empty() || table.waiters(*only) > 0));
  if (keep) lines_.emplace(std::move(key), built);
  return built;
}

}  // namespace tnl
