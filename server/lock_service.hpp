// Every change to which locks are held, for every front end (the line protocol and HTTP):
// the lock table, the saving of detached locks, the one timer for waits and leases, the
// counters, and forced releases of connection holds. Lives on the event loop that owns
// the table; nothing here blocks except the state database's fsync on detached changes.
#pragma once

#include <asio/io_context.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "deadline_timer.hpp"
#include "lock_table_json.hpp"
#include "lock_id.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "server_stats.hpp"

namespace tnl {

class LockService {
 public:
  using Clock = LockTable::Clock;
  using Outcome = LockTable::Outcome;
  using Completion = LockTable::Completion;
  /// Takes a connection's hold away (`lost,REASON`, then close); false if no such connection holds.
  using RevokeConnection = std::function<bool(LockTable::OwnerId owner, std::string_view reason)>;

  /// How releasing by id went.
  enum class Release {
    released,            ///< a detached lock was freed
    forced,              ///< a connection's hold was revoked
    unknown,             ///< no hold has this id
    held_by_connection,  ///< a connection holds it and forcing was not asked for
  };
  /// How renewing went.
  enum class Renew { renewed, unknown, held_by_connection, not_saved };

  /// Longest TTL accepted: one year.
  static constexpr std::chrono::seconds max_ttl{31'536'000};

  LockService(asio::io_context& io, LockTable& table, LockStore& store, ServerStats& stats);

  /// Called for forced releases of connection holds; set once by the server.
  void on_revoke(RevokeConnection revoke) { revoke_ = std::move(revoke); }

  /// Puts back the detached locks saved before a restart; those whose lease ended meanwhile
  /// are dropped. Returns how many are held again.
  std::size_t restore();

  /// Asks for a lock, as LockTable::acquire. A detached grant is saved before `done` runs;
  /// if saving fails the grant is undone and `done` gets Outcome::failed.
  void acquire(LockTable::Request request, Completion done);
  /// A connection's hold ended (release, disconnect, revoke): frees it.
  void release_connection_hold(const std::string& name, LockTable::OwnerId owner);
  /// A connection stopped waiting.
  void cancel_wait(const std::string& name, LockTable::OwnerId owner);
  /// Frees a hold by id: a detached lock is freed and forgotten; a connection's hold is,
  /// with `force_connection`, revoked with `lost,released by admin`. `by` is for the log.
  Release release(const LockId& id, std::string_view by, bool force_connection);
  /// Moves a detached lock's lease end to now + ttl (nullopt: never).
  Renew renew(const LockId& id, std::optional<Clock::duration> ttl);

  /// Fresh ids and owners for requests that have no connection (HTTP).
  LockId next_id() { return ids_.next(); }
  LockTable::OwnerId next_detached_owner() { return next_detached_owner_++; }

  /// Stops the timer (server shutdown).
  void stop() { timer_.stop(); }

  [[nodiscard]] const LockTable& table() const { return table_; }

 private:
  /// Acts on waits and leases due by `now`.
  void expire(LockTable::TimePoint now);
  /// Saves the detached hold `id` just granted; false (logged) when it could not be written.
  bool save(const LockId& id, std::size_t limit);
  /// Counts and times a hold that just ended.
  void ended(const LockTable::Holder& holder, LockTable::TimePoint now);
  /// Frees a detached hold and forgets it on disk.
  void free_detached(const LockId& id, std::string_view by);

  LockTable& table_;
  LockStore& store_;
  ServerStats& stats_;
  DeadlineTimer timer_;
  LockIdGenerator ids_;
  RevokeConnection revoke_;
  /// Owners of holds that no connection made: far above any connection id.
  LockTable::OwnerId next_detached_owner_ = LockTable::OwnerId{1} << 62;
};

}  // namespace tnl
