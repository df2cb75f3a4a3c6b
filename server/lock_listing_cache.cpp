#include "lock_listing_cache.hpp"

namespace tnl {

std::shared_ptr<const LockListingCache::Listing> LockListingCache::listing(const LockTable& table,
                                                                         const std::optional<std::string>& only,
                                                                         LockTable::TimePoint now) {
  if (pacer_.must_rebuild(table.version(), now, !listings_.empty())) {
    listings_.clear();
    pacer_.restart(table.version(), now);
  }
  const std::string key = only.value_or(std::string{});
  if (const auto cached = listings_.find(key); cached != listings_.end()) return cached->second;
  const auto started = ListingPacer::Clock::now();
  auto built = std::make_shared<const Listing>(table.snapshot(only));
  // A name nobody holds or awaits lists nothing: not worth keeping (and a client could ask
  // for any number of them).
  if (!only || (listings_.size() < max_names && !built->empty())) {
    pacer_.built(ListingPacer::Clock::now() - started);
    listings_.emplace(key, built);
  }
  return built;
}

}  // namespace tnl
