#include "locks_line_cache.hpp"

#include "protocol.hpp"

namespace tnl {

std::shared_ptr<const std::string> LocksLineCache::line(const LockTable& table, const std::optional<std::string>& only,
                                                        bool show_ids, const ClockReadings& clocks) {
  const auto build = [&] {
    return std::make_shared<const std::string>(locks_to_json(table, only, clocks, answer::locks_prefix, show_ids, "\n"));
  };
  if (only) return build();
  Cached& cached = full_[show_ids ? 1 : 0];
  if (!cached.line || cached.version != table.version() || clocks.steady_now - cached.built >= max_age ||
      clocks.steady_now < cached.built) {
    cached.line.reset();  // readers still writing the old line keep it; nobody else does
    cached = Cached{build(), table.version(), clocks.steady_now};
  }
  return cached.line;
}

}  // namespace tnl
