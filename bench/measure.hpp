// Measuring helpers shared by the scenarios: the clock, percentiles, and what /proc says
// about a process (resident memory, CPU time).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

/// Microseconds from `from` to `to`.
double micros_between(Clock::time_point from, Clock::time_point to);
/// Seconds from `from` to `to`.
double seconds_between(Clock::time_point from, Clock::time_point to);

/// The p-quantile (0 <= p <= 1) of `values` by nearest rank; 0 when there are none.
double percentile(std::vector<double> values, double p);
/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

/// Resident memory of process `pid` in KiB: VmRSS from /proc/PID/status. Throws if unreadable.
long vm_rss_kib(pid_t pid);
/// CPU time (user + system) process `pid` has used so far, in seconds, from /proc/PID/stat.
double cpu_seconds(pid_t pid);
/// CPU time (user + system) this process has used so far, in seconds.
double own_cpu_seconds();
/// CPU time (user + system) of this process's children that have been waited for, in seconds.
double children_cpu_seconds();
/// CPU time the whole machine has spent busy (not idle or waiting for I/O), in seconds, from /proc/stat.
double machine_busy_seconds();

/// The first two CPUs this process may run on (for the load generator and the server), or
/// nothing when it may run on fewer than two.
std::optional<std::pair<int, int>> two_cpus();
/// Restricts the calling process (and the children it starts later) to `cpu`; false if refused.
bool pin_to_cpu(int cpu);

/// Raises this process's soft open-file limit to its hard limit; returns the soft limit now.
long raise_open_file_limit();

}  // namespace bench
