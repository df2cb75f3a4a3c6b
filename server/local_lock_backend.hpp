// The default LockBackend: the locks in this process's memory (LockTable), detached locks
// saved in the state database (LockStore), fencing tokens from the TokenGenerator, ids from
// the LockIdGenerator, and one timer for waits, leases and lock-delays. Lives on the event
// loop that owns it; nothing here blocks except the state database's fsync on detached
// changes (and at most LockStore::busy_timeout when another process holds its lock). It
// knows what it knows at once: every completion runs before the call returns, unless the
// request waits (then from a release, the timer or shut_down()).
//
// Nothing about a detached lock is acknowledged before it is durable: a grant is saved
// before its completion runs, a renewal before `renewed`, and an unlock is erased from disk
// before the lock is freed and `released` is answered; when the write fails, the lock stays
// as it was and the caller is told the server cannot persist it.
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
// A connection's hold taken away without its consent (ReleaseBy::holder_gone, or admin)
// leaves a lock-delay (set_lock_delay(); LockTable keeps it), so that what the old holder
// still runs can stop before the next holder starts.
//
// Connection holds are found by id in O(1) with no index entry per hold: a connection
// request's id is a version 8 id whose owner bits name a slot here (the name as the table
// keeps it, and the holder's watcher: 24 bytes), reused through a free list once the
// request has ended; the table compares all 128 bits, so an id whose slot was reused
// finds nothing. Detached holds are found through the table's id index.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "clock_readings.hpp"
#include "deadline_timer.hpp"
#include "listing_pacer.hpp"
#include "lock_backend.hpp"
#include "lock_id.hpp"
#include "lock_store.hpp"
#include "server_stats.hpp"

namespace tnl {

class LockTable;
class TokenGenerator;

class LocalLockBackend final : public LockBackend {
 public:
  /// Single-name listings kept at most between two rebuilds; past it they are built for
  /// each read (a name nobody uses lists nothing and is never kept).
  static constexpr std::size_t max_listed_names = 4096;

  /// A reading of the boot clock: which boot, and CLOCK_BOOTTIME in it.
  struct BootReading {
    std::string boot_id;               ///< /proc/sys/kernel/random/boot_id
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

  /// `tokens` null: the table counts tokens from 1, every one durable (tests).
  LocalLockBackend(asio::io_context& io, LockStore& store, ServerStats& stats, TokenGenerator* tokens = nullptr,
                   Clocks clocks = Clocks::system());
  ~LocalLockBackend() override;
  LocalLockBackend(const LocalLockBackend&) = delete;
  LocalLockBackend& operator=(const LocalLockBackend&) = delete;

  // Local setup, outside the interface.

  /// How long a name stays ungranted after a connection's hold was taken away without its
  /// consent (zero: not at all); see LockTable's lock-delays.
  void set_lock_delay(Clock::duration delay) { lock_delay_ = delay; }
  /// Grants nothing for `duration` from now (LockTable::hold_grants_until): at start with a
  /// lock-delay, since the holders of a server that ended without releasing (killed,
  /// crashed, its machine gone) may still run that long. Restored detached locks stay held.
  void hold_grants_for(Clock::duration duration);
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

  // LockBackend.

  /// A connection request gets a version 8 id naming its slot, a detached one a random
  /// id. A detached grant is saved before `done` runs; if saving fails the grant is undone
  /// and `done` gets AcquireOutcome::failed.
  LockId acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher = {}) override;
  bool cancel(const LockId& id) override;
  /// For ReleaseBy::holder and holder_gone, `who` completes the log line after the lock's
  /// name (e.g. "released by 127.0.0.1:4000", "lost by ...: peer unreachable (...)").
  void release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) override;
  void renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) override;
  void update(const LockId& id, HoldUpdate changes, UpdateDone done) override;
  /// Totals are read fresh; listings are built at most once per change of the table, paced
  /// under load (ListingPacer), never more than ListingPacer::max_age behind it, and shared.
  /// A read by id (one hold's record, read right after its change) is always of the table
  /// as it is.
  void read(LockQuery query, ReadDone done) override;
  [[nodiscard]] bool available() const override;
  void shut_down() override;

  /// The table, for unit tests only (front ends read through read()).
  [[nodiscard]] const LockTable& table() const { return *table_; }
  /// Slots in use or free (tests: they are reused, not grown without bound).
  [[nodiscard]] std::size_t slot_count() const { return slots_.size(); }

 private:
  using Listing = std::vector<NameRecord>;
  using WallTime = std::chrono::system_clock::time_point;

  /// Marks one call from outside (the event loop, a front end) for as long as it runs, so
  /// that a failed write can make the rest of that call's writes fail fast (see write_ok()).
  class Call {
   public:
    explicit Call(LocalLockBackend& backend) : backend_(backend) { ++backend_.depth_; }
    ~Call() {
      if (--backend_.depth_ == 0) backend_.store_failed_ = false;
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    LocalLockBackend& backend_;
  };

  /// A connection request's place: the name as the table keeps it (while it waits or
  /// holds), and who to tell if its hold is taken away.
  struct Slot {
    /// The table's key of the name; &pending_name_ until known; null when free.
    const std::string* name = nullptr;
    std::weak_ptr<HoldWatcher> watcher;
  };
  /// A detached request that has not completed yet (so that it can be cancelled).
  struct PendingDetached {
    std::string name;
    std::uint64_t owner = 0;
  };

  /// A slot for a new connection request (a free one if any); returns its index.
  std::uint32_t take_slot(std::weak_ptr<HoldWatcher> watcher);
  /// Frees slot `index` for reuse.
  void free_slot(std::uint32_t index);
  /// The slot a connection hold's id names, or null (not such an id, or out of range).
  [[nodiscard]] Slot* slot_of(const LockId& id);
  /// The name slot `index` waits for or holds, or null while it is not known.
  [[nodiscard]] const std::string* slot_name(std::uint64_t owner) const;

  /// Frees a connection hold asked by its holder; `who` for the log.
  void release_connection_hold(const LockId& id, bool consented, std::string_view who, const ReleaseDone& done);
  /// Takes a connection hold away (ReleaseBy::admin): its watcher is told first.
  void force_release(const LockId& id, std::string_view who, const ReleaseDone& done);
  /// Forgets a detached hold on disk, then frees it.
  void release_detached(const LockId& id, std::string_view who, const ReleaseDone& done);

  /// Acts on waits and leases due by `now`.
  void expire(Clock::time_point now);
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
  void ended(Clock::time_point since, Clock::time_point now);
  /// The steady and wall clocks, read once each.
  [[nodiscard]] ClockReadings read_clocks() const { return ClockReadings{Clock::now(), clocks_.wall()}; }
  /// `expires` on the boot clock of `boot`, rounded up to what is saved.
  static LockStore::BootTime boot_time(const BootReading& boot, const ClockReadings& clocks, Clock::time_point expires);

  /// The totals as of `clocks`.
  [[nodiscard]] LockTotals totals(const ClockReadings& clocks) const;
  /// The listing `query` asks for, from the cache when it is fresh enough; sets `version`
  /// to the table's version the cached listings are of (a later one when the table changed
  /// and the listings are paced: see ListingPacer), and `listed_at` to when they were
  /// started (unset for one built for this read alone).
  std::shared_ptr<const Listing> listing(const LockQuery& query, const ClockReadings& clocks, std::uint64_t& version,
                                         std::optional<WallTime>& listed_at);
  /// Builds the listing of every name (only `only`, when given) as of `clocks`.
  [[nodiscard]] Listing build_listing(const std::optional<std::string>& only, const ClockReadings& clocks) const;

  std::unique_ptr<LockTable> table_;
  LockStore& store_;
  ServerStats& stats_;
  Clocks clocks_;
  Clock::duration lock_delay_ = Clock::duration::zero();
  DeadlineTimer timer_;
  LockIdGenerator ids_;
  /// Connection requests' slots (a deque: no slack of a doubled vector, no moves), and the
  /// free ones among them.
  std::deque<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  /// Marks a slot whose name is not known yet (its request is being made).
  static const std::string pending_name_;
  std::unordered_map<LockId, PendingDetached> pending_detached_;
  /// Owners of detached holds: far above any slot's (which are below 2^62).
  std::uint64_t next_detached_owner_ = std::uint64_t{1} << 62;
  /// Listings built since the pacer's last restart, by name ("" is every name).
  std::map<std::string, std::shared_ptr<const Listing>> listings_;
  ListingPacer pacer_;
  /// The table's version when listings_ was last emptied: what they show (or newer).
  std::uint64_t listings_version_ = 0;
  /// When listings_ was last emptied: they are no older than this.
  WallTime listings_listed_at_{};
  /// Calls under way (a completion may call back in).
  int depth_ = 0;
  /// A write failed during the current call: the others fail without touching the disk.
  bool store_failed_ = false;
  /// Holds that ended (leases run out, rows dropped at restore) whose rows could not be
  /// erased yet: no detached grant is saved before they are.
  std::vector<LockId> unforgotten_;
};

}  // namespace tnl
