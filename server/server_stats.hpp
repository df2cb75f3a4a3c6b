// Counters reported by `.stats` and `/metrics`; owned by the event loop, so plain integers suffice.
#pragma once

#include <cstdint>
#include <string>

#include "histogram.hpp"

namespace tnl {

struct ServerStats {
  /// Where the locks are kept (--backend): "local" or "etcd". Whether other servers may
  /// share them, for a client that fails over between servers (tcpnetlock_distlock).
  const char* backend = "local";
  /// Which store exactly: "local:<a random id of this process>", or "etcd:<cluster id>:<prefix>"
  /// once etcd has answered ("etcd:" before). Servers that report the same store share their
  /// locks; a client failing over between servers checks that they all do.
  std::string store;
  /// Request lines handled, of any kind.
  std::uint64_t requests_count = 0;
  /// `lock` requests that were granted, at once or after waiting.
  std::uint64_t lock_acquired_count = 0;
  /// `lock` requests that were refused because the name was held (not waiting, or timed out).
  std::uint64_t lock_not_acquired_count = 0;
  /// `lock` requests that had to queue.
  std::uint64_t wait_count = 0;
  /// Queued requests whose wait ran out.
  std::uint64_t wait_timeout_count = 0;
  /// Holders that lost their lock to the server: dead peer or holder timeout.
  std::uint64_t reaped_holder_count = 0;
  /// Connection holds released by an admin (HTTP).
  std::uint64_t forced_release_count = 0;
  /// Detached locks whose lease ran out.
  std::uint64_t expired_lock_count = 0;
  /// Connections refused with an error line because the server had no descriptor left.
  std::uint64_t refused_connection_count = 0;
  /// TLS handshakes that failed or did not finish in time (a bad or missing certificate,
  /// plain text on the TLS port, a client that sent nothing).
  std::uint64_t tls_handshake_failure_count = 0;
  /// `lock` requests (line or HTTP) refused because the lock or its fencing token could not
  /// be made durable (`err,server cannot persist the lock...`, HTTP 503).
  std::uint64_t grant_failure_count = 0;
  /// Writes to the --state-dir database that failed (full disk, a locked database...).
  std::uint64_t state_write_failure_count = 0;
  /// From a request to its grant (0 for a lock that was free).
  Histogram wait_seconds{Histogram::default_bounds()};
  /// From a grant to the release, however the lock was freed.
  Histogram hold_seconds{Histogram::default_bounds()};
};

}  // namespace tnl
