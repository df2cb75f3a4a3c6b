// The one promise, on a replica over etcd: until when this replica may still vouch that its
// lease is alive in etcd, and so that the keys on it (its connections' holds) are still
// theirs. No I/O, no clock of its own: the backend passes the steady time in.
//
// etcd ends a lease TTL seconds after the leader last renewed it, and it renewed it after
// the keepalive was sent. So a lease acknowledged for TTL seconds by the answer to a
// keepalive sent at S cannot end before S + TTL (on the leader's clock). The guard counts
// from S, the SEND time, never the time the answer came (which may be seconds later, after
// a pause or a slow network), and keeps a margin for clocks that run at different rates
// and for the time the holders' `lost` lines need to go out:
//
//   valid_until = S + TTL - margin,   margin = max(1 s, TTL / 5)
//
// taken over every acknowledged keepalive (answers may come out of order: an old answer
// never shortens it) and the grant itself (S = when the grant was asked for).
//
// Once `now` has reached valid_until the guard is expired for good: a late answer (to a
// keepalive sent before, or even after, a pause: the process may have been stopped past
// the TTL and resumed) never makes it valid again, because holders may already have been
// granted elsewhere; only a new lease (start()) does. A keepalive answered with TTL <= 0
// says the lease is gone: the guard is gone at once.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

namespace tnl::etcd {

class LeaseGuard {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  /// Where the guard stands.
  enum class State : std::uint8_t {
    none,     ///< no lease yet (or after reset())
    valid,    ///< a lease that can be vouched for until valid_until()
    expired,  ///< valid_until() has passed: the lease must be assumed gone
    gone,     ///< etcd said the lease is gone (a keepalive answered with TTL <= 0), or given up
  };

  /// The safety margin kept before a lease of `ttl` could end in etcd.
  static Clock::duration margin(Clock::duration ttl) {
    return std::max<Clock::duration>(std::chrono::seconds(1), ttl / 5);
  }

  /// A new lease of `ttl_seconds`, asked for at `sent` (the grant's request time): valid
  /// until sent + ttl - margin (never, when that is not after `sent`).
  void start(std::int64_t lease, TimePoint sent, std::int64_t ttl_seconds) {
    lease_ = lease;
    state_ = State::valid;
    valid_until_ = TimePoint::min();
    earliest_end_ = TimePoint::min();
    last_ack_sent_ = sent;
    extend(sent, ttl_seconds);
    if (valid_until_ <= sent) state_ = State::expired;
  }

  /// A keepalive for lease `lease`, sent at `sent`, answered with `ttl_seconds`, handed over
  /// at `now`. Returns the state after it. An answer for another lease (an old one) is
  /// ignored; one that comes when the guard has already expired (now >= valid_until) does
  /// not revive it; TTL <= 0 makes it gone.
  State acknowledged(std::int64_t lease, TimePoint sent, std::int64_t ttl_seconds, TimePoint now) {
    if (lease != lease_ || state_ != State::valid) return state_;
    if (check(now) != State::valid) return state_;
    if (ttl_seconds <= 0) {
      state_ = State::gone;
      return state_;
    }
    if (sent > last_ack_sent_) last_ack_sent_ = sent;
    extend(sent, ttl_seconds);
    return state_;
  }

  /// Moves a valid guard to expired when `now` has reached valid_until; returns the state.
  State check(TimePoint now) {
    if (state_ == State::valid && now >= valid_until_) state_ = State::expired;
    return state_;
  }

  /// Whether the lease can be vouched for at `now` (does not change the state: see check()).
  [[nodiscard]] bool valid(TimePoint now) const { return state_ == State::valid && now < valid_until_; }

  /// Gives the lease up (it is being revoked, or the backend shuts down).
  void give_up() {
    if (state_ != State::none) state_ = State::gone;
  }
  /// No lease at all (before the first grant).
  void reset() { *this = LeaseGuard{}; }

  [[nodiscard]] State state() const { return state_; }
  /// The lease vouched for (0: none).
  [[nodiscard]] std::int64_t lease() const { return lease_; }
  /// Until when it is valid; nullopt without a lease.
  [[nodiscard]] std::optional<TimePoint> valid_until() const {
    if (state_ == State::none) return std::nullopt;
    return valid_until_;
  }
  /// The earliest time etcd could end the lease by itself (latest send + its TTL), as far
  /// as acknowledged; nullopt without a lease. Stays after give_up().
  [[nodiscard]] std::optional<TimePoint> earliest_end() const {
    if (state_ == State::none) return std::nullopt;
    return earliest_end_;
  }
  /// The send time of the latest acknowledged keepalive (or of the grant); nullopt without a lease.
  [[nodiscard]] std::optional<TimePoint> last_ack_sent() const {
    if (state_ == State::none) return std::nullopt;
    return last_ack_sent_;
  }

 private:
  void extend(TimePoint sent, std::int64_t ttl_seconds) {
    const Clock::duration ttl = std::chrono::seconds(ttl_seconds);
    const auto until = sent + ttl - margin(ttl);
    valid_until_ = std::max(valid_until_, until);
    earliest_end_ = std::max(earliest_end_, sent + ttl);
  }

  State state_ = State::none;
  std::int64_t lease_ = 0;
  TimePoint valid_until_ = TimePoint::min();
  TimePoint earliest_end_ = TimePoint::min();
  TimePoint last_ack_sent_{};
};

}  // namespace tnl::etcd
