// Counters reported by `.stats`; owned by the event loop, so plain integers suffice.
#pragma once

#include <cstdint>

namespace tnl {

struct ServerStats {
  /// Request lines handled, of any kind.
  std::uint64_t requests_count = 0;
  /// `lock` requests that were granted.
  std::uint64_t lock_acquired_count = 0;
  /// `lock` requests that were refused because the name was held.
  std::uint64_t lock_not_acquired_count = 0;
};

}  // namespace tnl
