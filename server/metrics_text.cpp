#include "metrics_text.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fmt/format.h>
#include <fstream>
#include <iterator>

#include "descriptor_budget.hpp"

namespace tnl {

namespace {

/// Appends HELP, TYPE and one unlabelled sample.
template <typename Value>
void metric(std::string& out, const char* name, const char* type, const char* help, Value value) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

/// Resident set size now, in bytes (0 when /proc is not there).
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0;
  std::uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

std::string render_metrics(const LockTable& table, const ServerStats& stats, std::size_t connection_count,
                           std::chrono::system_clock::time_point started) {
  std::string out;
  out.reserve(4096);
  metric(out, "tcpnetlock_connections", "gauge", "Open TCP connections.", connection_count);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_locks_held Locks held, by what holds them (a semaphore counts each holder).\n"
                 "# TYPE tcpnetlock_locks_held gauge\n"
                 "tcpnetlock_locks_held{{kind=\"connection\"}} {}\n"
                 "tcpnetlock_locks_held{{kind=\"detached\"}} {}\n",
                 table.holder_count(LockTable::Kind::connection), table.holder_count(LockTable::Kind::detached));
  metric(out, "tcpnetlock_waiters", "gauge", "Lock requests queued.", table.waiting_count());
  metric(out, "tcpnetlock_requests_total", "counter", "Request lines handled.", stats.requests_count);
  metric(out, "tcpnetlock_grants_total", "counter", "Locks granted, at once or after waiting.",
         stats.lock_acquired_count);
  metric(out, "tcpnetlock_denials_total", "counter", "Lock requests answered not-granted (busy, or the wait ran out).",
         stats.lock_not_acquired_count);
  metric(out, "tcpnetlock_waits_total", "counter", "Lock requests that queued.", stats.wait_count);
  metric(out, "tcpnetlock_wait_timeouts_total", "counter", "Queued lock requests whose wait ran out.",
         stats.wait_timeout_count);
  metric(out, "tcpnetlock_reaped_holders_total", "counter",
         "Holders that lost their lock to a dead peer or the holder timeout.", stats.reaped_holder_count);
  metric(out, "tcpnetlock_forced_releases_total", "counter", "Connection-held locks released by an admin.",
         stats.forced_release_count);
  metric(out, "tcpnetlock_expired_locks_total", "counter", "Detached locks whose TTL ran out.",
         stats.expired_lock_count);
  metric(out, "tcpnetlock_refused_connections_total", "counter",
         "Connections refused because the server had no file descriptor left.", stats.refused_connection_count);

  out += "# HELP tcpnetlock_wait_seconds Time from a lock request to its grant (0 when the lock was free).\n"
         "# TYPE tcpnetlock_wait_seconds histogram\n";
  stats.wait_seconds.render("tcpnetlock_wait_seconds", out);
  out += "# HELP tcpnetlock_hold_seconds Time from a grant to the release, however the lock was freed.\n"
         "# TYPE tcpnetlock_hold_seconds histogram\n";
  stats.hold_seconds.render("tcpnetlock_hold_seconds", out);

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  metric(out, "process_open_fds", "gauge", "Number of open file descriptors.", open_descriptor_count());
  metric(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
         static_cast<std::uint64_t>(limit.rlim_cur));
  metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident_bytes());
  metric(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.",
         std::chrono::duration<double>(started.time_since_epoch()).count());
  return out;
}

}  // namespace tnl
