// `/metrics`: the server's state and counters in the Prometheus text format (0.0.4).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "lock_view.hpp"
#include "server_stats.hpp"

namespace tnl {

/// Every metric of docs/HTTP-API.md, with HELP and TYPE lines, from the view's totals (ages
/// as of its as_of; no listing is needed) and this server's counters; `started` is the
/// wall-clock start of the server (process_start_time_seconds). A view that is not ok (the
/// backend could not read its locks) leaves out the lock gauges, which it has no values for.
/// The backend's own metrics are not here: HttpApi appends LockBackend::render_metrics.
[[nodiscard]] std::string render_metrics(const LockView& view, const ServerStats& stats,
                                         std::size_t connection_count,
                                         std::chrono::system_clock::time_point started);

}  // namespace tnl
