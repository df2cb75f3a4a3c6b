// Lock semantics with no I/O: who holds which name, who waits for it, in what order, and
// when a detached lock's lease runs out.
//
// The table is driven by the event loop that owns it and by unit tests; time is passed in.
// A request's answer arrives through a completion that runs exactly once: before
// acquire() returns when the answer is known at once, or later, from release(), expire()
// or shut_down(), when the request had to wait. A remote backend can implement the same
// contract by completing from its own callbacks.
//
// Completions never nest: one that calls back into the table (e.g. a grant that cannot be
// saved and is released again, handing the lock to the next waiter) only queues the
// completions that call causes; the outermost call runs them, one after another. So the
// stack stays flat however long a queue is handed through, and a caller that is not itself
// inside a completion still has its answer before acquire() returns.
//
// Every holder has an id. A connection holder is freed by its connection (release by
// owner); a detached holder outlives the request's connection and is freed by id, or by
// expire() once its lease (TTL) has run out. Both kinds share each name's FIFO queue.
// Finding a hold by id costs O(1) and no scan (see lock_id.hpp): a detached hold through
// its id index, a connection hold through its owner, whose name the OwnerName lookup gives.
//
// Once shut_down() is called nothing more is granted: waiters are withdrawn, releases
// hand nothing on, and new requests are refused.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lock_id.hpp"

namespace tnl {

class LockTable {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  /// Identifies who holds or waits: one per connection.
  using OwnerId = std::uint64_t;
  /// Fencing token: strictly increasing in grant order, across all names.
  using Token = std::uint64_t;
  /// Hands out the next token; must return strictly increasing values.
  using TokenSource = std::function<Token()>;
  /// The name `owner` holds or waits for (its connection knows), or null: lets a
  /// connection hold be found by id without an index entry per connection.
  using OwnerName = std::function<const std::string*(OwnerId owner)>;

  /// A duration given in (fractional) seconds, as the protocols give waits and TTLs.
  static Clock::duration seconds(double seconds) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  }

  /// How a lock request ended.
  enum class Outcome {
    granted,         ///< the owner now holds the lock
    not_granted,     ///< the lock was busy and the request did not wait
    timed_out,       ///< the request waited and its deadline passed first
    limit_mismatch,  ///< the name is in use with a different holder limit
    failed,          ///< granted, but the grant could not be recorded (e.g. saved to disk), so undone
    unavailable,     ///< the server is shutting down: nothing is granted any more
  };
  /// Runs once per request; `token` is the grant's fencing token (0 unless granted).
  using Completion = std::function<void(Outcome outcome, Token token)>;

  /// What ends a holder's hold.
  enum class Kind {
    connection,  ///< the end of the connection that asked (or a release on it)
    detached,    ///< a release by id, or its lease running out
  };

  /// One request for a lock.
  struct Request {
    std::string name;       ///< validated lock name
    OwnerId owner = 0;      ///< who asks
    std::string client_id;  ///< the client's self-declared id, may be empty
    std::string peer;       ///< where the request came from, for `.locks`
    std::string reason;     ///< why the client wants the lock, for `.locks`
    std::size_t limit = 1;  ///< holders allowed at once (1: a mutex; more: a semaphore)
    /// Until when to queue if the lock is busy; nullopt answers not_granted at once.
    std::optional<TimePoint> deadline;
    LockId id;              ///< the id the grant will have: unique among holds (see lock_id.hpp)
    Kind kind = Kind::connection;
    /// Detached only: how long the lease lasts from the grant; nullopt: until released.
    std::optional<Clock::duration> ttl;
  };

  /// Someone holding (or, in a queue, asking for) a lock.
  struct Holder {
    LockId id;
    OwnerId owner = 0;
    Kind kind = Kind::connection;
    std::string client_id;
    std::string peer;
    std::string reason;
    TimePoint since;  ///< when the lock was granted (in a queue: when it was asked for)
    Token token = 0;
    /// Detached only: when the lease runs out; nullopt: never.
    std::optional<TimePoint> expires;
  };

  /// A name in use, as `.locks` shows it.
  struct NameState {
    std::string name;
    std::size_t limit = 1;
    std::vector<Holder> holders;  ///< in grant order
    std::vector<Holder> waiters;  ///< first in line first
  };

  /// A holder and the name it holds.
  struct Held {
    std::string name;
    Holder holder;
  };

  /// `next_token` defaults to counting from 1.
  explicit LockTable(TokenSource next_token = {});

  /// Sets the lookup that finds connection holds by id; without one, only detached holds
  /// are found by id.
  void on_owner_name(OwnerName owner_name) { owner_name_ = std::move(owner_name); }

  /// Asks for `request.name`. `done` runs exactly once (see the file comment).
  void acquire(Request request, TimePoint now, Completion done);

  /// Frees `name` if `owner` holds it, and grants it to the longest waiters that fit.
  /// Returns the freed holder; nullopt (and changes nothing) when `owner` does not hold `name`.
  std::optional<Holder> release(const std::string& name, OwnerId owner, TimePoint now);

  /// Frees the hold with this id, whatever its kind, as release() does.
  std::optional<Held> release(const LockId& id, TimePoint now);

  /// The hold with this id, if it is held.
  [[nodiscard]] std::optional<Held> find(const LockId& id) const;

  /// Moves a detached hold's lease end to `expires` (nullopt: never). Returns false when
  /// no detached hold has this id.
  bool renew(const LockId& id, std::optional<TimePoint> expires);

  /// Puts back a detached hold saved before a restart, with its own token, ahead of any
  /// request. Returns false when it does not fit (its name is full or has another limit,
  /// or its id is taken). O(1): restoring n holds costs O(n).
  bool restore(const std::string& name, std::size_t limit, Holder holder);

  /// Withdraws `owner`'s queued request for `name` without running its completion
  /// (its connection ended while waiting). Returns false when it was not waiting.
  bool cancel(const std::string& name, OwnerId owner);

  /// The ids of the detached holds whose lease ends at or before `now`: those expire(now)
  /// frees (so that they can be forgotten on disk before they are handed on).
  [[nodiscard]] std::vector<LockId> leases_ending_by(TimePoint now) const;

  /// Completes, with Outcome::timed_out, every wait whose deadline is at or before `now`,
  /// and frees every detached hold whose lease ended by then (granting its waiters).
  /// Returns the holds freed that way.
  std::vector<Held> expire(TimePoint now);

  /// The server is going away: every waiter completes with Outcome::unavailable, and from
  /// now on nothing is granted (acquire() answers unavailable; a release hands nothing on).
  void shut_down();
  [[nodiscard]] bool is_shut_down() const { return shut_down_; }

  /// Counts every change of holders, waiters or leases: equal values mean an unchanged table.
  [[nodiscard]] std::uint64_t version() const { return version_; }

  /// The earliest wait deadline or lease end; the owner of the table arms one timer for it.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  /// Number of names currently held.
  [[nodiscard]] std::size_t held_count() const { return held_count_; }

  /// Number of holds of this kind, over all names (a semaphore counts each holder).
  [[nodiscard]] std::size_t holder_count(Kind kind) const { return holder_counts_[static_cast<int>(kind)]; }

  /// Number of requests queued on all names.
  [[nodiscard]] std::size_t waiting_count() const { return deadlines_.size(); }

  /// The holders of `name` (empty when it is free).
  [[nodiscard]] const std::vector<Holder>& holders(const std::string& name) const;

  /// Number of requests queued for `name`.
  [[nodiscard]] std::size_t waiters(const std::string& name) const;

  /// Called with one name in use: its holders in grant order and the number of waiters.
  using NameVisitor = std::function<void(const std::string& name, std::size_t limit,
                                         const std::vector<Holder>& holders, std::size_t waiters)>;
  /// Calls `visit` for every name held or awaited (only `name`, when given), sorted by
  /// name, without copying anything (`.locks` with tens of thousands of names).
  void visit(const std::optional<std::string>& name, const NameVisitor& visit) const;

  /// Every name held or awaited (only `name`, when given), sorted by name.
  [[nodiscard]] std::vector<NameState> snapshot(const std::optional<std::string>& name = std::nullopt) const;

 private:
  using DeadlineIndex = std::multimap<TimePoint, std::pair<std::string, OwnerId>>;
  using LeaseIndex = std::multimap<TimePoint, LockId>;

  struct Waiter {
    Holder holder;
    Completion done;
    DeadlineIndex::iterator deadline;
    std::optional<Clock::duration> ttl;  ///< detached: the lease to start at the grant
  };

  /// Everything known about one name; erased as soon as nobody holds or awaits it.
  struct Entry {
    std::size_t limit = 1;        ///< set by the request that brought the name into use
    std::vector<Holder> holders;  ///< at most `limit`
    std::list<Waiter> waiters;    ///< first come, first served (a list: nothing allocated while empty)
  };
  using Entries = std::unordered_map<std::string, Entry>;

  /// A completion to run once the outermost call into the table gets to it.
  struct Pending {
    Completion done;
    Outcome outcome;
    Token token;
  };

  /// Queues a completion; drain() runs it.
  void complete(Completion done, Outcome outcome, Token token);
  /// Runs the queued completions, unless a completion further up the stack already does
  /// (then that one runs them): so completions never nest, whatever they call.
  void drain();
  /// Frees `holder` of `it` and (unless shut down) grants the longest waiters that fit,
  /// queueing their completions. Returns the freed holder.
  Holder free_holder(Entries::iterator it, std::vector<Holder>::iterator holder, TimePoint now);
  /// Makes `holder` a holder of `name` now, with a fresh token and its lease; returns the token.
  Token grant(const std::string& name, Entry& entry, Holder holder, std::optional<Clock::duration> ttl,
              TimePoint now);
  /// Adds `holder` to `entry` and to the id and lease indexes.
  void add_holder(const std::string& name, Entry& entry, Holder holder);
  /// The hold with this id and its name's entry, or a null holder: detached holds through
  /// their index, connection holds through their owner's name. Never a scan of the table.
  [[nodiscard]] std::pair<Entries::const_iterator, const Holder*> locate(const LockId& id) const;
  [[nodiscard]] std::pair<Entries::iterator, std::vector<Holder>::iterator> locate(const LockId& id);
  /// Removes the lease of `holder` from the lease index, if it has one.
  void drop_lease(const Holder& holder);
  /// Erases `name` when it is neither held nor awaited.
  void erase_if_idle(Entries::iterator it);
  static NameState describe(const std::string& name, const Entry& entry);

  TokenSource next_token_;
  OwnerName owner_name_;
  Entries entries_;
  DeadlineIndex deadlines_;
  /// Detached holds with a lease, by when it ends.
  LeaseIndex leases_;
  /// Detached holds by id, to the name they hold: they are addressed by id all the time.
  /// A connection hold is found through its owner instead (OwnerName): an index entry
  /// would cost each held connection about 70 bytes.
  std::unordered_map<LockId, std::string> detached_ids_;
  std::size_t held_count_ = 0;
  std::size_t holder_counts_[2] = {0, 0};
  /// Completions waiting for the outermost call to run them (see drain()).
  std::vector<Pending> pending_;
  bool draining_ = false;
  bool shut_down_ = false;
  std::uint64_t version_ = 0;
};

}  // namespace tnl
