// What a lock backend shows of its locks: the one read model behind `.locks`, `.stats`, the
// HTTP list and get, the status page and `/metrics` (LockBackend::read()).
//
// Plain values with wall-clock times: a backend keeps its own clocks (the local one a steady
// clock, etcd its revisions and leases), and a reader on another replica must be able to
// show the same record. No I/O, no lock semantics.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lock_id.hpp"

namespace tnl {

/// Fencing token: strictly increasing in grant order per name. Across names only
/// non-decreasing in general: the local backend's tokens do rise across all names, but in
/// etcd mode the token is the key's create revision, fixed when the request was queued,
/// and one batched transaction gives keys on different names the same revision.
using FencingToken = std::uint64_t;

/// What ends a hold.
enum class HoldKind : std::uint8_t {
  connection,  ///< the end of the connection that asked (or a release on it)
  detached,    ///< a release by id, or its lease running out
  /// not a hold: a lock-delay keeping a revoked holder's slot; ends by itself
  delay,
};

/// Someone holding a lock, waiting for one, or (HoldKind::delay) a slot kept after a
/// holder was taken away.
struct HoldRecord {
  LockId id;
  HoldKind kind = HoldKind::connection;
  std::string client_id;  ///< the client's self-declared id (HTTP: "who"), may be empty
  std::string peer;       ///< where the request came from
  std::string reason;     ///< why the client wants the lock, may be empty
  /// When the lock was granted; a waiter: when it asked; a delay: when the holder was revoked.
  std::chrono::system_clock::time_point since;
  FencingToken token = 0;  ///< 0 for waiters
  /// Whether `token` may be shown: no later server can hand it out again. Shown as null otherwise.
  bool token_durable = true;
  /// Whether the holder knows its token (`fencing:1`, and every detached hold).
  bool fenced = false;
  /// Detached: when the lease runs out (nullopt: never); a delay: when it ends.
  std::optional<std::chrono::system_clock::time_point> expires;
};

/// One name in use.
struct NameRecord {
  std::string name;
  std::size_t limit = 1;            ///< holders allowed at once
  std::vector<HoldRecord> holders;  ///< in grant order
  std::vector<HoldRecord> delays;   ///< lock-delays keeping slots, earliest end first
  std::vector<HoldRecord> waiters;  ///< first in line first
};

/// Counts over every name, as `.stats` and `/metrics` show them.
struct LockTotals {
  std::size_t held_names = 0;        ///< names held (`lock_count`); a name kept only by a delay is not
  std::size_t connection_holds = 0;  ///< holders of kind connection (a semaphore counts each)
  std::size_t detached_holds = 0;    ///< holders of kind detached
  std::size_t delays = 0;            ///< lock-delays running
  std::size_t waiters = 0;           ///< requests queued, over all names
  /// When the oldest connection / detached hold was granted; nullopt when there is none.
  std::optional<std::chrono::system_clock::time_point> oldest_connection_hold;
  std::optional<std::chrono::system_clock::time_point> oldest_detached_hold;
  /// Seconds until grants resume after the start grace (0: not held back).
  double start_grace_seconds_left = 0;
};

/// What to read.
struct LockQuery {
  /// Only this name (validated); nullopt: every name in use.
  std::optional<std::string> name;
  /// Only the name that the hold with this id is on (takes precedence over `name`); the
  /// listing is empty when no hold has the id.
  std::optional<LockId> id;
  /// false: only the totals (`.stats`, `/metrics`), no listing is built.
  bool listing = true;
  /// true: the locks as they are now, never a shared listing that may be up to a second
  /// behind them (for a decision such as HTTP's answer to a refused create, not for a
  /// display). A read by `id` is always fresh.
  bool fresh = false;
};

/// The answer to a LockQuery.
struct LockView {
  /// false: the backend could not read its locks (etcd unreachable): the view is empty, and
  /// front ends answer `err,backend unavailable` (line protocol) or 503 (HTTP) instead of it.
  bool ok = true;
  /// When it was read: a record's held seconds are counted up to this.
  std::chrono::system_clock::time_point as_of;
  /// When the listing was taken from the locks, if earlier than `as_of` (a backend shares one
  /// listing for a while under load): a reader that keeps what it built from the listing
  /// counts its age from here, so that what it shows is never more than one such while
  /// (ListingPacer::max_age) behind the locks. nullopt: `as_of`.
  std::optional<std::chrono::system_clock::time_point> listed_at;
  /// Changes with every change of the locks: equal versions, equal content (readers cache on it).
  std::uint64_t version = 0;
  LockTotals totals;
  /// The names asked for, sorted by name; null when the query asked only for totals. Shared
  /// and immutable: a backend hands the same listing to every reader until the locks change.
  std::shared_ptr<const std::vector<NameRecord>> names;
};

}  // namespace tnl
