// Lock semantics with no I/O: who holds which name, who waits for it, in what order.
//
// The table is driven by the event loop that owns it and by unit tests; time is passed in.
// A request's answer arrives through a completion that runs exactly once: before
// acquire() returns when the answer is known at once, or later, from release() or
// expire(), when the request had to wait. A remote backend can implement the same
// contract by completing from its own callbacks.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

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

  /// How a lock request ended.
  enum class Outcome {
    granted,         ///< the owner now holds the lock
    not_granted,     ///< the lock was busy and the request did not wait
    timed_out,       ///< the request waited and its deadline passed first
    limit_mismatch,  ///< the name is in use with a different holder limit
  };
  /// Runs once per request; `token` is the grant's fencing token (0 unless granted).
  using Completion = std::function<void(Outcome outcome, Token token)>;

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
  };

  /// Someone holding a lock.
  struct Holder {
    OwnerId owner = 0;
    std::string client_id;
    std::string peer;
    std::string reason;
    TimePoint since;  ///< when the lock was granted
    Token token = 0;
  };

  /// A name in use, as `.locks` shows it.
  struct NameState {
    std::string name;
    std::size_t limit = 1;
    std::vector<Holder> holders;  ///< in grant order
    std::size_t waiters = 0;
  };

  /// `next_token` defaults to counting from 1.
  explicit LockTable(TokenSource next_token = {});

  /// Asks for `request.name`. `done` runs exactly once (see the file comment).
  void acquire(Request request, TimePoint now, Completion done);

  /// Frees `name` if `owner` holds it, and grants it to the longest waiters that fit.
  /// Returns false (and changes nothing) when `owner` does not hold `name`.
  bool release(const std::string& name, OwnerId owner, TimePoint now);

  /// Withdraws `owner`'s queued request for `name` without running its completion
  /// (its connection ended while waiting). Returns false when it was not waiting.
  bool cancel(const std::string& name, OwnerId owner);

  /// Completes, with Outcome::timed_out, every wait whose deadline is at or before `now`.
  void expire(TimePoint now);

  /// The earliest deadline of any queued request; the owner of the table arms one timer for it.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  /// Number of names currently held.
  [[nodiscard]] std::size_t held_count() const { return held_count_; }

  /// Number of requests queued on all names.
  [[nodiscard]] std::size_t waiting_count() const { return deadlines_.size(); }

  /// The holders of `name` (empty when it is free).
  [[nodiscard]] const std::vector<Holder>& holders(const std::string& name) const;

  /// Number of requests queued for `name`.
  [[nodiscard]] std::size_t waiters(const std::string& name) const;

  /// Every name held or awaited (only `name`, when given), sorted by name.
  [[nodiscard]] std::vector<NameState> snapshot(const std::optional<std::string>& name = std::nullopt) const;

 private:
  using DeadlineIndex = std::multimap<TimePoint, std::pair<std::string, OwnerId>>;

  struct Waiter {
    Holder holder;
    Completion done;
    DeadlineIndex::iterator deadline;
  };

  /// Everything known about one name; erased as soon as nobody holds or awaits it.
  struct Entry {
    std::size_t limit = 1;        ///< set by the request that brought the name into use
    std::vector<Holder> holders;  ///< at most `limit`
    std::deque<Waiter> waiters;   ///< first come, first served
  };
  using Entries = std::unordered_map<std::string, Entry>;

  /// Makes `holder` a holder of `entry` now, with a fresh token; returns the token.
  Token grant(Entry& entry, Holder holder, TimePoint now);
  /// Erases `name` when it is neither held nor awaited.
  void erase_if_idle(Entries::iterator it);
  static NameState describe(const std::string& name, const Entry& entry);

  TokenSource next_token_;
  Entries entries_;
  DeadlineIndex deadlines_;
  std::size_t held_count_ = 0;
};

}  // namespace tnl
