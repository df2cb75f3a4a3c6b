// One interface for every lock operation, whatever keeps the locks: this process's memory
// (LocalLockBackend, the default) or a cluster over the network (etcd). Every front end (the
// line protocol's RequestHandler and LockSession, HttpApi) speaks only to this.
//
// Every operation answers through its callback, exactly once, on the event loop that owns
// the backend: either before the call returns (a local table that knows at once) or on a
// later turn (a network round trip). No caller may depend on either order:
// DeferringLockBackend (tests) completes everything on a later turn, after a small random
// delay, and the whole integration suite runs against it too.
//
// Ids and fencing tokens come from the backend. A request gets its id when it is made (so it
// can be cancelled while it waits); a grant keeps that id for as long as it is held.
//
// A hold ends in exactly one of these ways:
//  - its holder releases it: release() with ReleaseBy::holder or holder_gone (a connection
//    that ends or sends `release`; for a detached hold, `unlock,id:` or HTTP DELETE);
//  - the backend takes it away: a forced release by an admin (ReleaseBy::admin on a
//    connection hold) or a backend that can no longer vouch for it (etcd: a lease it could
//    not keep alive). The holder's HoldWatcher is told lost() *before* anyone else can be
//    granted the slot, so that the `lost` line is on its way first;
//  - a detached hold's lease runs out.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lock_id.hpp"
#include "lock_view.hpp"

namespace tnl {

/// How a lock request ended.
enum class AcquireOutcome : std::uint8_t {
  granted,         ///< held now: the result has its id and token
  not_granted,     ///< busy, and the request did not wait (or grants are held back at start)
  timed_out,       ///< the request waited and its deadline passed first
  limit_mismatch,  ///< the name is in use with a different holder limit
  /// not held: the grant could not be recorded (saved to disk, an etcd transaction), or its
  /// token, which the client would see, is not durable
  failed,
  unavailable,  ///< the backend is shutting down or cannot be reached: nothing is granted
};

/// One request for a lock (named fields: build it field by field).
struct AcquireRequest {
  using Clock = std::chrono::steady_clock;

  /// A duration given in (fractional) seconds, as the protocols give waits and TTLs.
  static Clock::duration seconds(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }
  /// A request's `deadline` from its `wait:` (seconds; nullopt: `inf`): none for a request
  /// that does not wait (0), the end of time for one that waits for ever.
  static std::optional<Clock::time_point> wait_deadline(std::optional<double> wait_seconds, Clock::time_point now) {
    if (!wait_seconds) return Clock::time_point::max();
    if (*wait_seconds > 0) return now + seconds(*wait_seconds);
    return std::nullopt;
  }

  std::string name;       ///< validated lock name
  std::size_t limit = 1;  ///< holders allowed at once (1: a mutex; more: a semaphore)
  std::string client_id;  ///< the client's self-declared id, may be empty
  std::string peer;       ///< where the request came from, for listings and logs
  std::string reason;     ///< why the client wants the lock, may be empty
  /// Until when to queue if the lock is busy; nullopt answers not_granted at once;
  /// Clock::time_point::max(): for ever.
  std::optional<Clock::time_point> deadline;
  HoldKind kind = HoldKind::connection;  ///< connection or detached, never delay
  /// Detached only: how long the lease lasts from the grant; nullopt: until released.
  std::optional<Clock::duration> ttl;
  /// Whether the client sees the grant's token (`fencing:1`); a detached grant's always is.
  /// Such a grant needs a durable token (AcquireOutcome::failed otherwise).
  bool shows_token = false;
};

/// The answer to an AcquireRequest.
struct AcquireResult {
  AcquireOutcome outcome = AcquireOutcome::unavailable;
  LockId id;               ///< the request's id (the hold's, when granted)
  FencingToken token = 0;  ///< the grant's fencing token; 0 unless granted
};

/// Told when the backend takes a granted hold away without its holder asking: a forced
/// release by an admin, or a backend that cannot vouch for the hold any more. Implemented by
/// whoever holds (the line protocol's LockSession); called on the event loop, at most once
/// per grant, only after the grant's completion ran, and never after the holder itself
/// called release() for it. The hold is gone when it is called: the holder must not
/// release it again.
class HoldWatcher {
 public:
  virtual ~HoldWatcher() = default;
  /// The hold `id` was taken away for `reason` (e.g. "released by admin", "backend unavailable").
  virtual void lost(const LockId& id, std::string_view reason) = 0;
};

/// Who ends a hold through release(), which decides what is allowed and what follows.
enum class ReleaseBy : std::uint8_t {
  /// The holder, with its consent: its connection sent `release` or ended normally (EOF).
  holder,
  /// The holder's connection ended without its consent (keepalive timeout, unreachable, its
  /// answers not read, the holder timeout): the freed slot is kept for the lock-delay.
  holder_gone,
  /// `unlock,id:` from any client: detached holds only (a connection hold answers
  /// ReleaseOutcome::held_by_connection).
  unlock,
  /// An admin (HTTP DELETE): a detached hold is released; a connection hold is taken away
  /// (its watcher is told `released by admin`), leaving the lock-delay.
  admin,
};

/// How a release() ended.
enum class ReleaseOutcome : std::uint8_t {
  released,            ///< the hold is freed
  forced,              ///< a connection's hold was taken away (ReleaseBy::admin)
  unknown,             ///< no hold has this id
  held_by_connection,  ///< a connection holds it and the caller may not take it (ReleaseBy::unlock)
  not_saved,           ///< the release could not be recorded: the hold stays
  unavailable,         ///< the backend is shutting down or cannot be reached: nothing changed
};

/// How a renew() ended.
enum class RenewOutcome : std::uint8_t {
  renewed,             ///< the lease now ends at the time asked
  unknown,             ///< no hold has this id
  held_by_connection,  ///< a connection holds it: it has no lease
  not_saved,           ///< the renewal could not be recorded: the lease is unchanged
  unavailable,         ///< the backend is shutting down or cannot be reached: nothing changed
};

/// New metadata for a detached hold (UpdateLock, HTTP PUT): neither changes who holds the
/// name, nor its id, token or lease. nullopt: unchanged. Validated by the caller
/// (is_valid_reason, as a create validates them).
struct HoldUpdate {
  std::optional<std::string> client_id;  ///< the new client id (Tracker's `who`)
  std::optional<std::string> reason;     ///< the new reason (Tracker's `event_id`)
};

/// How an update() ended.
enum class UpdateOutcome : std::uint8_t {
  updated,             ///< the hold now carries the new values
  unknown,             ///< no hold has this id (never held, or released: nothing is made again)
  held_by_connection,  ///< a connection holds it: its metadata is its connection's
  not_saved,           ///< the change could not be recorded: the hold is unchanged
  unavailable,         ///< the backend is shutting down or cannot be reached: nothing changed
};

class LockBackend {
 public:
  using Clock = std::chrono::steady_clock;
  using AcquireDone = std::function<void(const AcquireResult& result)>;
  using ReleaseDone = std::function<void(ReleaseOutcome outcome)>;
  using RenewDone = std::function<void(RenewOutcome outcome)>;
  using ReadDone = std::function<void(LockView view)>;
  using UpdateDone = std::function<void(UpdateOutcome outcome)>;

  virtual ~LockBackend() = default;

  /// Asks for a lock. `done` runs exactly once, with the request's id (see the file comment);
  /// `watcher`, when set, is told if a granted hold is taken away (connection holds). Returns
  /// the request's id, for cancel().
  virtual LockId acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher = {}) = 0;

  /// Withdraws the request `id` (its asker has gone). True: it ends here: its completion
  /// never runs and nothing is held (a grant that was on its way is released by the backend,
  /// with consent). False: its completion has already run; whatever it granted is the
  /// caller's, to release as usual.
  virtual bool cancel(const LockId& id) = 0;

  /// Ends the hold `id`, as `by` allows (see ReleaseBy); `who` says who asked, for the log.
  /// `done` may be empty.
  virtual void release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) = 0;

  /// Moves a detached hold's lease end to now + `ttl` (nullopt: never).
  virtual void renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) = 0;

  /// Changes a detached hold's client id and/or reason (see HoldUpdate), as renew() changes
  /// its lease: recorded (saved to disk, an etcd transaction) before `updated` is answered,
  /// and never to a hold released meanwhile, nor to another hold granted since on its name.
  virtual void update(const LockId& id, HoldUpdate changes, UpdateDone done) = 0;

  /// Reads the locks and their totals as `query` asks.
  virtual void read(LockQuery query, ReadDone done) = 0;

  /// Whether requests can be served now (/readyz): false while shutting down, or while a
  /// remote backend cannot vouch for its holds.
  [[nodiscard]] virtual bool available() const = 0;

  /// Appends what is particular to this backend to `/metrics`, in the Prometheus text format
  /// with HELP and TYPE lines (etcd: request latency, lease keepalive age, reconnects,
  /// failures by kind). The local backend has nothing to add.
  virtual void render_metrics(std::string& out) const { (void)out; }

  /// The server is going away: from now on nothing is granted (waiters complete with
  /// unavailable, releases hand nothing on, new requests are refused). Holds are not told
  /// lost(): their connections are closing anyway.
  virtual void shut_down() = 0;
};

}  // namespace tnl
