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
// A release without the holder's consent (the server took the lock away) may leave a
// lock-delay behind: the freed slot is granted to nobody until the delay ends, as Chubby
// does, so that whatever the old holder still runs can stop before the next holder starts.
// Waiters stay queued in order and the first of them gets the slot the moment the delay
// ends; a request that does not wait is not granted meanwhile.
//
// A grant whose fencing token its client will see (a request that asks for it, and every
// detached lock, whose token is saved and listed) is refused (Outcome::failed) while the
// token source cannot vouch that no later server hands out that token again (the fencing
// mark could not be written): see TokenSource::durable.
//
// A table may also hold back every grant until a time (hold_grants_until()): a server that
// starts with a lock-delay cannot tell whether the server before it was killed while
// connections held locks, and their commands may still run for up to the delay. So, like
// NFS's grace period after a server restart, nothing is granted before then: requests that
// wait are queued in order and granted when it ends, the others are not granted.
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

#include "lock_backend.hpp"
#include "lock_id.hpp"
#include "lock_view.hpp"

namespace tnl {

class LockTable {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  /// Identifies who holds or waits: one per connection.
  using OwnerId = std::uint64_t;
  /// Fencing token: strictly increasing in grant order, across all names.
  using Token = FencingToken;
  /// Where fencing tokens come from (a TokenGenerator in the server). Without `next`, the
  /// table counts from 1 itself and every token is durable.
  struct TokenSource {
    /// The next token: strictly greater than every one before, and than every token
    /// raise_above() was given.
    std::function<Token()> next;
    /// Whether `token` may be shown to a client: no server started later (after a crash,
    /// on a clock stepped back) can hand out a token at or below it. Unset: always.
    std::function<bool(Token)> durable;
    /// Makes every later token greater than `token` (a restored hold's). Unset: nothing
    /// (then `next` must stay above restored tokens by itself).
    std::function<void(Token)> raise_above;
  };
  /// The name `owner` holds or waits for (its connection knows), or null: lets a
  /// connection hold be found by id without an index entry per connection.
  using OwnerName = std::function<const std::string*(OwnerId owner)>;

  /// How a lock request ended (lock_backend.hpp).
  using Outcome = AcquireOutcome;
  /// Runs once per request; `token` is the grant's fencing token (0 unless granted).
  using Completion = std::function<void(Outcome outcome, Token token)>;

  /// What ends a holder's hold (lock_view.hpp).
  using Kind = HoldKind;

  /// One request for a lock: set its fields by name, one by one (there are ten).
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
    /// Whether the client sees the grant's token (`fencing:1`); a detached grant's always
    /// is (it is saved and listed). Such a grant needs a durable token.
    bool shows_token = false;
  };

  /// Someone holding (or, in a queue, asking for) a lock.
  struct Holder {
    LockId id;
    OwnerId owner = 0;
    Kind kind = Kind::connection;
    std::string client_id;
    std::string peer;
    std::string reason;
    /// When the lock was granted (in a queue: when it was asked for; a delay: when it began).
    TimePoint since;
    Token token = 0;
    /// Detached: when the lease runs out (nullopt: never); a delay: when it ends.
    std::optional<TimePoint> expires;
    /// Whether the holder can know its token, so that a resource can fence with it: a
    /// grant with `fencing:1`, and every detached one (its token is saved and listed).
    bool fenced = false;
  };

  /// A name in use, as `.locks` shows it.
  struct NameState {
    std::string name;
    std::size_t limit = 1;
    std::vector<Holder> holders;  ///< in grant order
    /// Lock-delays keeping slots (Kind::delay): the revoked holder as it was, `since` the
    /// revocation, `expires` the end of the delay. Earliest first.
    std::vector<Holder> delays;
    std::vector<Holder> waiters;  ///< first in line first
  };

  /// A holder and the name it holds.
  struct Held {
    std::string name;
    Holder holder;
  };

  /// `tokens` defaults to counting from 1.
  explicit LockTable(TokenSource tokens = {});
  /// Tokens from `next_token`, every one durable (tests, benchmarks).
  explicit LockTable(std::function<Token()> next_token) : LockTable(TokenSource{std::move(next_token), {}, {}}) {}

  /// Sets the lookup that finds connection holds by id; without one, only detached holds
  /// are found by id.
  void on_owner_name(OwnerName owner_name) { owner_name_ = std::move(owner_name); }

  /// Asks for `request.name`. `done` runs exactly once (see the file comment).
  void acquire(Request request, TimePoint now, Completion done);

  /// Frees `name` if `owner` holds it, and grants it to the longest waiters that fit.
  /// Returns the freed holder; nullopt (and changes nothing) when `owner` does not hold `name`.
  /// With a positive `delay` (a release without the holder's consent), the freed slot is
  /// granted to nobody before now + delay: a lock-delay (see the file comment).
  std::optional<Holder> release(const std::string& name, OwnerId owner, TimePoint now,
                                Clock::duration delay = Clock::duration::zero());

  /// Frees the hold with this id, whatever its kind, as release() does (`delay` too).
  std::optional<Held> release(const LockId& id, TimePoint now, Clock::duration delay = Clock::duration::zero());

  /// The name as the table keeps it (the key of its entry), or null when it is not in use:
  /// valid for as long as anyone holds, awaits or delays it.
  [[nodiscard]] const std::string* key_of(const std::string& name) const;

  /// The hold with this id, if it is held.
  [[nodiscard]] std::optional<Held> find(const LockId& id) const;
  /// Whether a detached hold has this id (O(1), nothing copied).
  [[nodiscard]] bool holds_detached(const LockId& id) const { return detached_ids_.count(id) != 0; }

  /// Moves a detached hold's lease end to `expires` (nullopt: never). Returns false when
  /// no detached hold has this id.
  bool renew(const LockId& id, std::optional<TimePoint> expires);

  /// Gives a detached hold a new client id and/or reason (nullopt: unchanged); its name,
  /// token and lease stay. Returns false (and changes nothing) when no detached hold has this id.
  bool update(const LockId& id, const std::optional<std::string>& client_id, const std::optional<std::string>& reason);

  /// Puts back a detached hold saved before a restart, with its own token, ahead of any
  /// request; later tokens are above it. Returns false when it does not fit (its name is
  /// full or has another limit, or its id is taken). O(1): restoring n holds costs O(n).
  bool restore(const std::string& name, std::size_t limit, Holder holder);

  /// Makes every later token greater than `token` (one handed out before a restart).
  void raise_tokens_above(Token token);

  /// Whether `token` may be shown to clients (TokenSource::durable): `.locks` and the HTTP
  /// records show the tokens of other holds as null.
  [[nodiscard]] bool token_durable(Token token) const { return !tokens_.durable || tokens_.durable(token); }

  /// Withdraws `owner`'s queued request for `name` without running its completion
  /// (its connection ended while waiting). Returns false when it was not waiting.
  bool cancel(const std::string& name, OwnerId owner);
  /// Withdraws the queued request with this id (all 128 bits) for `name`, as cancel() does;
  /// returns it as it was queued, or nullopt when no such request waits.
  std::optional<Holder> cancel(const std::string& name, const LockId& id);

  /// The ids of the detached holds whose lease ends at or before `now`: those expire(now)
  /// frees (so that they can be forgotten on disk before they are handed on).
  [[nodiscard]] std::vector<LockId> leases_ending_by(TimePoint now) const;

  /// Completes, with Outcome::timed_out, every wait whose deadline is at or before `now`,
  /// frees every detached hold whose lease ended by then and ends every lock-delay that
  /// ended by then (granting their waiters). Returns the holds freed (not the delays).
  std::vector<Held> expire(TimePoint now);

  /// Grants nothing before `until` (see the file comment): waiters queue, requests that do
  /// not wait are not granted, holds freed meanwhile are handed on at `until`. Holds already
  /// in the table (restored detached locks) are not touched. next_deadline() includes it.
  void hold_grants_until(TimePoint until);
  /// Seconds until grants resume (0 when they are not held back at `now`).
  [[nodiscard]] double grants_held_seconds(TimePoint now) const {
    const auto until = grants_held_until(now);
    return until ? std::chrono::duration<double>(*until - now).count() : 0.0;
  }
  /// When grants resume, while they are held back at `now`.
  [[nodiscard]] std::optional<TimePoint> grants_held_until(TimePoint now) const {
    return grants_held_until_ && now < *grants_held_until_ ? grants_held_until_ : std::nullopt;
  }

  /// The server is going away: every waiter completes with Outcome::unavailable, every
  /// lock-delay ends, and from now on nothing is granted (acquire() answers unavailable; a
  /// release hands nothing on and leaves no delay).
  void shut_down();
  [[nodiscard]] bool is_shut_down() const { return shut_down_; }

  /// Counts every change of holders, waiters or leases: equal values mean an unchanged table.
  [[nodiscard]] std::uint64_t version() const { return version_; }

  /// The earliest wait deadline, lease end, delay end or end of held grants; the owner of the table arms one
  /// timer for it.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  /// Number of names currently held (a name kept only by a lock-delay is not).
  [[nodiscard]] std::size_t held_count() const { return held_count_; }

  /// Number of holds of this kind, over all names (a semaphore counts each holder);
  /// Kind::delay: the lock-delays running.
  [[nodiscard]] std::size_t holder_count(Kind kind) const { return holder_counts_[static_cast<int>(kind)]; }

  /// When the oldest hold of this kind (connection or detached) was granted, or nullopt when
  /// there is none. O(1) unless the oldest hold was freed since the last call: then one
  /// walk over the table finds the next oldest (so a scrape of /metrics scans at most once
  /// per release of the oldest hold, not every time).
  [[nodiscard]] std::optional<TimePoint> oldest_hold_since(Kind kind) const;

  /// Number of requests queued on all names.
  [[nodiscard]] std::size_t waiting_count() const { return deadlines_.size(); }

  /// The holders of `name` (empty when it is free).
  [[nodiscard]] const std::vector<Holder>& holders(const std::string& name) const;

  /// The lock-delays keeping slots of `name`, earliest end first.
  [[nodiscard]] const std::vector<Holder>& delays(const std::string& name) const;

  /// Number of requests queued for `name`.
  [[nodiscard]] std::size_t waiters(const std::string& name) const;

  /// Called with one name in use: its holders in grant order, its lock-delays and the
  /// number of waiters.
  using NameVisitor = std::function<void(const std::string& name, std::size_t limit,
                                         const std::vector<Holder>& holders, const std::vector<Holder>& delays,
                                         std::size_t waiters)>;
  /// Calls `visit` for every name held, delayed or awaited (only `name`, when given), sorted
  /// by name, without copying anything (`.locks` with tens of thousands of names).
  void visit(const std::optional<std::string>& name, const NameVisitor& visit) const;

  /// Every name held, delayed or awaited (only `name`, when given), sorted by name.
  [[nodiscard]] std::vector<NameState> snapshot(const std::optional<std::string>& name = std::nullopt) const;

 private:
  using DeadlineIndex = std::multimap<TimePoint, std::pair<std::string, OwnerId>>;
  using LeaseIndex = std::multimap<TimePoint, LockId>;
  /// Lock-delays by when they end, to the name they keep.
  using DelayIndex = std::multimap<TimePoint, std::string>;

  struct Waiter {
    Holder holder;
    Completion done;
    DeadlineIndex::iterator deadline;
    std::optional<Clock::duration> ttl;  ///< detached: the lease to start at the grant
    bool shows_token = false;            ///< the grant needs a durable token
  };

  /// Everything known about one name; erased as soon as nobody holds, awaits or delays it.
  struct Entry {
    std::size_t limit = 1;        ///< set by the request that brought the name into use
    std::vector<Holder> holders;  ///< with the delays, at most `limit`
    std::vector<Holder> delays;   ///< lock-delays keeping slots, earliest end first
    std::list<Waiter> waiters;    ///< first come, first served (a list: nothing allocated while empty)

    /// Whether another holder fits: delays keep their slots.
    [[nodiscard]] bool has_room() const { return holders.size() + delays.size() < limit; }
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
  /// Frees `holder` of `it` (leaving a lock-delay in its slot until now + delay, when
  /// positive) and (unless shut down) grants the longest waiters that fit, queueing their
  /// completions. Returns the freed holder.
  Holder free_holder(Entries::iterator it, std::vector<Holder>::iterator holder, TimePoint now,
                     Clock::duration delay = Clock::duration::zero());
  /// Whether `entry` may be granted to anyone at `now`: there is room, grants are not held
  /// back and the server is not shutting down.
  [[nodiscard]] bool may_grant(const Entry& entry, TimePoint now) const {
    return !shut_down_ && entry.has_room() && !grants_held_until(now);
  }
  /// Grants held back are due at `now`: hands on every name that has waiters.
  void end_held_grants(TimePoint now);
  /// Grants the longest waiters of `it` that fit (unless shut down), queueing their
  /// completions, and erases the name if it is left idle.
  void hand_on(Entries::iterator it, TimePoint now);
  /// Makes `holder` a holder of `name` now, with a fresh token and its lease; returns the
  /// token, or nullopt (and holds nothing) when the token would be shown and is not durable.
  std::optional<Token> grant(const std::string& name, Entry& entry, Holder holder,
                             std::optional<Clock::duration> ttl, bool shows_token, TimePoint now);
  /// The next token, from the source or the table's own counter.
  Token next_token();
  /// Adds `holder` to `entry` and to the id and lease indexes.
  void add_holder(const std::string& name, Entry& entry, Holder holder);
  /// The hold with this id and its name's entry, or a null holder: detached holds through
  /// their index, connection holds through their owner's name. Never a scan of the table.
  [[nodiscard]] std::pair<Entries::const_iterator, const Holder*> locate(const LockId& id) const;
  [[nodiscard]] std::pair<Entries::iterator, std::vector<Holder>::iterator> locate(const LockId& id);
  /// Removes the lease of `holder` from the lease index, if it has one.
  void drop_lease(const Holder& holder);
  /// Erases `name` when it is neither held, delayed nor awaited.
  void erase_if_idle(Entries::iterator it);
  static NameState describe(const std::string& name, const Entry& entry);

  TokenSource tokens_;
  /// The last token counted when `tokens_` has no `next`.
  Token last_token_ = 0;
  OwnerName owner_name_;
  Entries entries_;
  DeadlineIndex deadlines_;
  /// Detached holds with a lease, by when it ends.
  LeaseIndex leases_;
  /// Lock-delays, by when they end.
  DelayIndex delays_;
  /// Detached holds by id, to the name they hold: they are addressed by id all the time.
  /// A connection hold is found through its owner instead (OwnerName): an index entry
  /// would cost each held connection about 70 bytes.
  std::unordered_map<LockId, std::string> detached_ids_;
  std::size_t held_count_ = 0;
  std::size_t holder_counts_[3] = {0, 0, 0};
  /// The oldest hold of a kind (connection, detached), kept up to date on grants and known
  /// to be stale once that hold is freed (then oldest_hold_since() looks for the next one).
  struct Oldest {
    bool known = true;  ///< false: `id`/`since` are stale, a walk must find the oldest
    bool any = false;   ///< whether there is such a hold (when known)
    LockId id;
    TimePoint since;
  };
  mutable Oldest oldest_[2];
  /// Completions waiting for the outermost call to run them (see drain()).
  std::vector<Pending> pending_;
  bool draining_ = false;
  bool shut_down_ = false;
  /// Nothing is granted before this (hold_grants_until()); reset once it has passed.
  std::optional<TimePoint> grants_held_until_;
  std::uint64_t version_ = 0;
};

}  // namespace tnl
