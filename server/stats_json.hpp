// The server's counters as the `.stats` object (line protocol and HTTP alike).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

#include "lock_view.hpp"
#include "server_stats.hpp"

namespace tnl {

/// tcpnetlock's fields (lock_count, maxrss, requests_count, lock_acquired_count,
/// lock_not_acquired_count) and ours, as one flat object (docs/PROTOCOL.md's `.stats`).
/// "Locks held" (lock_count) counts names; "holds" count holders (a semaphore's each);
/// lock-delays are neither.
/// `totals` are the backend's (LockView::totals), `stats` this server's counters.
[[nodiscard]] nlohmann::json stats_to_json(const LockTotals& totals, const ServerStats& stats,
                                           std::size_t connection_count);

/// Peak resident set size of this process, in KiB (as tcpnetlock reported it).
[[nodiscard]] long max_rss_kib();

}  // namespace tnl
