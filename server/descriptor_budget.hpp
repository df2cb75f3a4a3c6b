// How the open-file limit is shared between the lock port and HTTP.
//
// Both ports take descriptors from one limit. HTTP keeps to its own connection limit, and
// at that limit evicts idle connections for new ones; the lock port had no limit but the
// descriptors, so idle lock-port connections (or holders: anybody may hold as many locks
// as it likes) could take every descriptor, and /healthz was answered 503 until they went:
// a liveness probe failing for a minute restarts the server, which drops every lock. So the
// lock port takes connections only up to what leaves HTTP its share (its connection limit,
// or a quarter of the descriptors when the limit is tiny) and a few spare; beyond, a new
// connection is refused in words, as when descriptors run out.
#pragma once

#include <cstddef>

namespace tnl {

/// Descriptors kept spare for the state database and its journal, the fencing-token file,
/// /proc reads and the like.
constexpr std::size_t spare_descriptors = 8;

/// Open file descriptors of this process now (0 when /proc is not there). Linux 6.2 and
/// later report the count as the size of /proc/self/fd; before, the directory is listed,
/// which takes tens of milliseconds with 19,000 connections: then once a second at most
/// (the count returned may be that old).
std::size_t open_descriptor_count();

/// The soft open-file limit (0 when unknown).
std::size_t open_file_limit();

/// Most lock-port connections at once, for a process with `limit` descriptors of which
/// `open_now` are open with no connection yet, serving up to `http_connections` HTTP
/// connections (0: no HTTP). At least 1.
std::size_t lock_connection_limit(std::size_t limit, std::size_t open_now, std::size_t http_connections);

}  // namespace tnl
