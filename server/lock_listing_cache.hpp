// The lock table as the HTTP list pages through it: every name in use, sorted, with its
// holders and waiters (LockTable::snapshot), built once per change of the table and shared
// by every list request, rebuilt as ListingPacer says.
//
// Each list request used to copy and sort the whole table, even for a page of one lock:
// 7 ms at 19,000 locks, which anyone who can reach the port could ask for as fast as the
// server answered (64 connections doing so kept /healthz waiting 1.5 to 2 s). Now a page
// costs a walk over the names and the records on it. No I/O.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "listing_pacer.hpp"
#include "lock_table.hpp"

namespace tnl {

class LockListingCache {
 public:
  using Listing = std::vector<LockTable::NameState>;

  /// Single-name listings kept at most between two rebuilds; past it they are built for
  /// each request.
  static constexpr std::size_t max_names = 4096;

  /// Every name in use in `table`, sorted (only `only`, when given), as of `now` (at most
  /// ListingPacer::max_age earlier).
  std::shared_ptr<const Listing> listing(const LockTable& table, const std::optional<std::string>& only,
                                         LockTable::TimePoint now);

 private:
  /// By name; "" is the whole table.
  std::map<std::string, std::shared_ptr<const Listing>> listings_;
  ListingPacer pacer_;
};

}  // namespace tnl
