// Every change to which locks are held, for every front end (the line protocol and HTTP):
// the lock table, the saving of detached locks, the one timer for waits and leases, the
// counters, and forced releases of connection holds. Lives on the event loop that owns
// the table; nothing here blocks except the state database's fsync on detached changes
// (and at most LockStore::busy_timeout when another process holds the database's lock).
//
// Nothing about a detached lock is acknowledged before it is durable: a grant is saved
// before its `ok`, a renewal before its `renewed`, and an unlock is erased from disk
// before the lock is freed and `released` is answered; when the write fails, the lock
// stays as it was and the client is told the server cannot persist it.
//
// Nor is a detached lock granted while the row of a hold that has ended could still be on
// disk: a lease that ran out is forgotten on disk before its lock is handed on, and one
// that could not be (a full disk, another process's lock) is forgotten again before the
// next grant is saved, which fails if it still cannot be. Otherwise a restart whose clock
// reads earlier than the lease end (a step back, slewing over a long lease) would hold the
// ended lease again, next to (or instead of) a newer lock that was acknowledged.
//
// Leases survive a restart on the clock that cannot be stepped: each saved lease end is
// also on CLOCK_BOOTTIME with the boot's id, and a restart within the same boot takes the
// time left from it, whatever the wall clock did meanwhile (see restore()).
//
// A connection's hold taken away without its consent (revoked, or its peer given up on)
// leaves a lock-delay (set_lock_delay(); LockTable keeps it), so that what the old holder
// still runs can stop before the next holder starts.
#pragma once

#include <asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "deadline_timer.hpp"
#include "lock_table_json.hpp"
#include "lock_id.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "locks_line_cache.hpp"
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
    released,            ///< a detached lock was freed (and forgotten on disk first)
    forced,              ///< a connection's hold was revoked
    unknown,             ///< no hold has this id
    held_by_connection,  ///< a connection holds it and forcing was not asked for
    not_saved,           ///< a detached lock could not be forgotten on disk: it stays held
  };
  /// How renewing went.
  enum class Renew { renewed, unknown, held_by_connection, not_saved };

  /// Longest TTL accepted: one year.
  static constexpr std::chrono::seconds max_ttl{31'536'000};

  /// A reading of the boot clock: which boot, and CLOCK_BOOTTIME in it.
  struct BootReading {
    std::string boot_id;              ///< /proc/sys/kernel/random/boot_id
    std::chrono::nanoseconds elapsed;  ///< since the machine booted, suspend included
  };
  /// The clocks leases are saved in, besides the steady clock the table runs on;
  /// injectable so that tests can step them.
  struct Clocks {
    /// The wall clock: the only one that survives a reboot, and it may be stepped.
    std::function<std::chrono::system_clock::time_point()> wall;
    /// The boot clock; nullopt where it cannot be read (no /proc): leases then rest on
    /// the wall clock alone.
    std::function<std::optional<BootReading>()> boot;
    /// The machine's clocks.
    static Clocks system();
  };

  LockService(asio::io_context& io, LockTable& table, LockStore& store, ServerStats& stats,
              Clocks clocks = Clocks::system());

  /// How long a name stays ungranted after a connection's hold was taken away without its
  /// consent (zero: not at all); see LockTable's lock-delays.
  void set_lock_delay(Clock::duration delay) { lock_delay_ = delay; }

  /// Grants nothing for `duration` from now (LockTable::hold_grants_until): at start with a
  /// lock-delay, since the holders of a server that ended without releasing (killed,
  /// crashed, its machine gone) may still run that long. Restored detached locks stay held.
  void hold_grants_for(Clock::duration duration);

  /// Called for forced releases of connection holds; set once by the server.
  void on_revoke(RevokeConnection revoke) { revoke_ = std::move(revoke); }

  /// Puts back the detached locks saved before a restart; those whose lease ended meanwhile
  /// (or that no longer fit) are dropped, and forgotten on disk in one transaction.
  /// Returns how many are held again. O(n) in the saved locks.
  ///
  /// The time a lease has left is read on the boot clock when the lock was saved in this
  /// boot: a restart on a wall clock stepped ahead (an RTC in local time, a VM snapshot, an
  /// NTP step while the server was down) takes nothing off it, and one stepped back adds
  /// nothing. After a reboot only the wall clock spans the gap: a step ahead shortens
  /// leases then (nothing can tell), a step back lengthens them (the safe side). Leases
  /// whose saved ends disagree with the clocks as they read now (restored from the wall
  /// clock, or across a wall-clock step) are saved again at once. Later tokens are above
  /// every token in the database.
  std::size_t restore();

  /// Asks for a lock, as LockTable::acquire. A connection request gets its id here (a
  /// version 8 id naming its owner: see lock_id.hpp), whatever `request.id` was. A detached
  /// grant is saved before `done` runs; if saving fails the grant is undone and `done` gets
  /// Outcome::failed.
  void acquire(LockTable::Request request, Completion done);
  /// A connection's hold ended (release, disconnect, revoke): frees it. `consented` false
  /// (the server took it away: revoked, peer unreachable, answers not read) leaves the
  /// lock-delay behind.
  void release_connection_hold(const std::string& name, LockTable::OwnerId owner, bool consented = true);
  /// A connection stopped waiting.
  void cancel_wait(const std::string& name, LockTable::OwnerId owner);
  /// Frees a hold by id: a detached lock is forgotten on disk, then freed; a connection's
  /// hold is, with `force_connection`, revoked with `lost,released by admin`. `by` is for the log.
  Release release(const LockId& id, std::string_view by, bool force_connection);
  /// Moves a detached lock's lease end to now + ttl (nullopt: never), on disk first.
  Renew renew(const LockId& id, std::optional<Clock::duration> ttl);

  /// Fresh ids and owners for requests that have no connection (HTTP).
  LockId next_id() { return ids_.next(); }
  LockTable::OwnerId next_detached_owner() { return next_detached_owner_++; }

  /// The `.locks` answer line, "locks,{...}\n" with its newline, for every name in use (only
  /// `only`, when given). The full listing is built at most once per change of the table,
  /// paced under load, never more than LocksLineCache::max_age behind it, and shared by
  /// every reader: send it as it is.
  /// `show_ids` false leaves every holder's id out (when an admin token is configured).
  [[nodiscard]] std::shared_ptr<const std::string> locks_line(const std::optional<std::string>& only, bool show_ids);

  /// The server is going away: nothing is granted from now on (waiters complete with
  /// Outcome::unavailable, releases hand nothing on, new requests are refused with it),
  /// and the timer stops. Call before connections are told to close.
  void shut_down();

  [[nodiscard]] const LockTable& table() const { return table_; }

 private:
  /// Marks one call from outside (the event loop, a front end) for as long as it runs, so
  /// that a failed write can make the rest of that call's writes fail fast (see write_ok()).
  class Call {
   public:
    explicit Call(LockService& service) : service_(service) { ++service_.depth_; }
    ~Call() {
      if (--service_.depth_ == 0) service_.store_failed_ = false;
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    LockService& service_;
  };

  /// Acts on waits and leases due by `now`.
  void expire(LockTable::TimePoint now);
  /// Saves the detached hold `id` just granted; false (logged) when it could not be written.
  bool save(const LockId& id, std::size_t limit);
  /// Erases the rows of holds that ended but are still on disk (unforgotten_); false when
  /// some may still be there.
  bool forget_ended();
  /// Whether to try a write now: not once one failed earlier in the same call.
  [[nodiscard]] bool write_ok() const { return !store_failed_; }
  /// Records the result of a write: after a failure, the rest of this call fails fast.
  bool wrote(bool ok);
  /// Counts and times a hold that just ended.
  void ended(const LockTable::Holder& holder, LockTable::TimePoint now);
  /// The steady and wall clocks, read once each.
  [[nodiscard]] ClockReadings read_clocks() const { return ClockReadings{Clock::now(), clocks_.wall()}; }
  /// `expires` on the boot clock of `boot`, rounded up to what is saved.
  static LockStore::BootTime boot_time(const BootReading& boot, const ClockReadings& clocks,
                                       LockTable::TimePoint expires);

  LockTable& table_;
  LockStore& store_;
  ServerStats& stats_;
  Clocks clocks_;
  Clock::duration lock_delay_ = Clock::duration::zero();
  DeadlineTimer timer_;
  LockIdGenerator ids_;
  LocksLineCache locks_lines_;
  RevokeConnection revoke_;
  /// Owners of holds that no connection made: far above any connection id.
  LockTable::OwnerId next_detached_owner_ = LockTable::OwnerId{1} << 62;
  /// Calls under way (a completion may call back in).
  int depth_ = 0;
  /// A write failed during the current call: the others fail without touching the disk.
  bool store_failed_ = false;
  /// Holds that ended (leases run out, rows dropped at restore) whose rows could not be
  /// erased yet: no detached grant is saved before they are.
  std::vector<LockId> unforgotten_;
};

}  // namespace tnl
