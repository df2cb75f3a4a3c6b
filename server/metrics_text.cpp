#include "metrics_text.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>

#include "descriptor_budget.hpp"
#include "version.hpp"

namespace tnl {

namespace {

/// Appends HELP, TYPE and one unlabelled sample.
template <typename Value>
void metric(std::string& out, const char* name, const char* type, const char* help, Value value) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

/// Virtual and resident size now, in bytes (0 when /proc is not there).
struct MemorySizes {
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_bytes = 0;
};
MemorySizes memory_sizes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0;
  std::uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return {};
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return {size_pages * page, resident_pages * page};
}

/// User and system CPU time of the process so far, in seconds.
double cpu_seconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// `text` as a label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// Seconds since `since`, 0 when there is no such hold.
double age_seconds(const std::optional<std::chrono::system_clock::time_point>& since,
                   std::chrono::system_clock::time_point now) {
  return since ? std::chrono::duration<double>(now - *since).count() : 0.0;
}

/// The gauges of the locks, from the view's totals (ages as of its as_of).
void render_totals(std::string& out, const LockView& view) {
  // The words of docs/PROTOCOL.md's `.stats`: a lock held is a name held; a hold is one
  // holder of it (a semaphore's each); a lock-delay is neither.
  metric(out, "tcpnetlock_locks_held", "gauge", "Lock names held (a semaphore counts once, as .stats lock_count).",
         view.totals.held_names);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_holds Holds of locks by what ends them (a semaphore counts each holder).\n"
                 "# TYPE tcpnetlock_holds gauge\n"
                 "tcpnetlock_holds{{kind=\"connection\"}} {}\n"
                 "tcpnetlock_holds{{kind=\"detached\"}} {}\n",
                 view.totals.connection_holds, view.totals.detached_holds);
  metric(out, "tcpnetlock_lock_delays", "gauge", "Lock-delays keeping a slot of a hold the server took away (not holds).",
         view.totals.delays);
  metric(out, "tcpnetlock_start_grace_remaining_seconds", "gauge",
         "Seconds of the start grace left: nothing is granted until then (0: none running).",
         view.totals.start_grace_seconds_left);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_oldest_hold_age_seconds Age of the oldest current hold of each kind (0: none).\n"
                 "# TYPE tcpnetlock_oldest_hold_age_seconds gauge\n"
                 "tcpnetlock_oldest_hold_age_seconds{{kind=\"connection\"}} {}\n"
                 "tcpnetlock_oldest_hold_age_seconds{{kind=\"detached\"}} {}\n",
                 age_seconds(view.totals.oldest_connection_hold, view.as_of),
                 age_seconds(view.totals.oldest_detached_hold, view.as_of));
  metric(out, "tcpnetlock_waiters", "gauge", "Lock requests queued.", view.totals.waiters);
}

}  // namespace

std::string render_metrics(const LockView& view, const ServerStats& stats, std::size_t connection_count,
                           std::chrono::system_clock::time_point started) {
  std::string out;
  out.reserve(6144);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_build_info The server's release and the commit it was built from.\n"
                 "# TYPE tcpnetlock_build_info gauge\n"
                 "tcpnetlock_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
                 label_value(version()), label_value(git_commit()));
  metric(out, "tcpnetlock_connections", "gauge", "Open TCP connections.", connection_count);
  // Left out when the backend could not read its locks (etcd out of reach): zeros would
  // say that nothing is held; absent, their series go stale, which is the truth.
  if (view.ok) render_totals(out, view);
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
  metric(out, "tcpnetlock_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed or did not finish in time.", stats.tls_handshake_failure_count);
  metric(out, "tcpnetlock_grant_failures_total", "counter",
         "Lock requests refused because the lock or its fencing token could not be made durable.",
         stats.grant_failure_count);
  metric(out, "tcpnetlock_state_write_failures_total", "counter", "Writes to the state directory's database that failed.",
         stats.state_write_failure_count);

  out += "# HELP tcpnetlock_wait_seconds Time from a lock request to its grant (0 when the lock was free).\n"
         "# TYPE tcpnetlock_wait_seconds histogram\n";
  stats.wait_seconds.render("tcpnetlock_wait_seconds", out);
  out += "# HELP tcpnetlock_hold_seconds Time from a grant to the release, however the lock was freed.\n"
         "# TYPE tcpnetlock_hold_seconds histogram\n";
  stats.hold_seconds.render("tcpnetlock_hold_seconds", out);

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const MemorySizes memory = memory_sizes();
  metric(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu_seconds());
  metric(out, "process_open_fds", "gauge", "Number of open file descriptors.", open_descriptor_count());
  metric(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
         static_cast<std::uint64_t>(limit.rlim_cur));
  metric(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", memory.virtual_bytes);
  metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", memory.resident_bytes);
  metric(out, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.",
         std::chrono::duration<double>(started.time_since_epoch()).count());
  return out;
}

}  // namespace tnl
