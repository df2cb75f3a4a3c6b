// Finding, signalling and reaping every process descended from us.
//
// Used by tcpnetlock_do's guardian (and by tcpnetlock_do itself if the guardian dies),
// both of which are child subreapers (PR_SET_CHILD_SUBREAPER): every orphan among their
// descendants becomes their child, so "no child left" (waitpid says ECHILD) means "no
// descendant left". Descendants that still have a living parent are found by reading
// /proc, since no portable call lists them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

namespace tnl {

/// The parent pid in the text of /proc/PID/stat ("PID (COMM) STATE PPID ..."). COMM may
/// hold spaces and ')', so the fields are read after the LAST ')'. nullopt when malformed.
[[nodiscard]] std::optional<pid_t> parent_in_stat(std::string_view stat);

/// Every live process descended from `root` (children, their children, ...), found by
/// reading /proc/[0-9]*/stat, parents before their children. nullopt when /proc cannot
/// be read or is not this process's (another PID namespace's /proc, say).
[[nodiscard]] std::optional<std::vector<pid_t>> find_descendants(pid_t root);

/// Sends `signals`, in order, to every descendant of `root` (read from /proc once) and to
/// process group `group` (when > 0). Returns how many descendants were found; nullopt when
/// /proc cannot be read (then only the group was signalled).
std::optional<std::size_t> signal_descendants(pid_t root, pid_t group, std::initializer_list<int> signals);

/// Reaps every child that has ended (and with `stops`, reports every child that has
/// stopped), without blocking: `on_child(pid, raw_status)` is called for each. Returns
/// false once there is no child left at all (ECHILD), true while some are.
bool reap_children(const std::function<void(pid_t, int)>& on_child, bool stops = false);

/// Makes the calling process a child subreaper (orphaned descendants become its
/// children instead of init's). False when the kernel does not support it.
bool become_subreaper();

}  // namespace tnl
