#include "stats_json.hpp"

#include <sys/resource.h>

namespace tnl {

long max_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

nlohmann::json stats_to_json(const LockTotals& totals, const ServerStats& stats, std::size_t connection_count) {
  const auto connection_holds = totals.connection_holds;
  const auto detached_holds = totals.detached_holds;
  return {
      // Locks held = names held (tcpnetlock's meaning); holds count each holder of a semaphore.
      {"lock_count", totals.held_names},
      {"hold_count", connection_holds + detached_holds},
      {"connection_hold_count", connection_holds},
      {"detached_hold_count", detached_holds},
      {"lock_delay_count", totals.delays},
      // The start grace: nothing is granted for this many more seconds (0: none running).
      {"start_grace_seconds_left", totals.start_grace_seconds_left},
      {"maxrss", max_rss_kib()},
      {"requests_count", stats.requests_count},
      {"lock_acquired_count", stats.lock_acquired_count},
      {"lock_not_acquired_count", stats.lock_not_acquired_count},
      {"connection_count", connection_count},
      {"waiter_count", totals.waiters},
      {"wait_count", stats.wait_count},
      {"wait_timeout_count", stats.wait_timeout_count},
      {"reaped_holder_count", stats.reaped_holder_count},
      {"detached_lock_count", detached_holds},  // the name before detached_hold_count, kept
      {"forced_release_count", stats.forced_release_count},
      {"expired_lock_count", stats.expired_lock_count},
      {"refused_connection_count", stats.refused_connection_count},
      {"tls_handshake_failure_count", stats.tls_handshake_failure_count},
      {"grant_failure_count", stats.grant_failure_count},
      {"state_write_failure_count", stats.state_write_failure_count},
      {"backend", stats.backend},
      {"store", stats.store},
  };
}

}  // namespace tnl
