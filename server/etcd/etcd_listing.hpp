// From the keys of a realm (a Range over the prefix) to what readers are shown: the names in
// use with their holders, delays and waiters, and the totals. No I/O.
//
// A name's keys are ordered by create revision; the name's limit is the first key's (a key
// not written by us counts as a mutex); the first `limit` keys hold (a lock-delay's key keeps
// its slot: it is listed as a delay), the rest wait, first in line first. A hold's fencing
// token is its key's create revision.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etcd_keys.hpp"
#include "lock_view.hpp"

namespace tnl::etcd {

/// One key as a Range returns it (views into the response).
struct KeyEntry {
  std::string_view key;
  std::string_view value;
  std::int64_t create_revision = 0;
};

/// The names and the totals of one read.
struct Listing {
  std::vector<NameRecord> names;  ///< sorted by name
  LockTotals totals;
};

/// Builds the listing of `entries` (any order; index keys and keys that are no lock of a
/// valid name are skipped), of every name or only `only`, with `as_of` as the time of the
/// read (the `since` of a key whose value does not say).
[[nodiscard]] Listing build_listing(const KeyLayout& layout, const std::vector<KeyEntry>& entries,
                                    const std::optional<std::string>& only,
                                    std::chrono::system_clock::time_point as_of);

/// The record of one key: its id (ours, or one made from the create revision for a key we
/// did not write), kind, who, when, token.
[[nodiscard]] HoldRecord hold_record(const LockValue& value, std::int64_t create_revision,
                                     std::chrono::system_clock::time_point as_of);

}  // namespace tnl::etcd
