// TEST ONLY. A LockBackend decorator that makes every answer late, to prove that no front
// end depends on when an answer comes (lock_backend.hpp: "no caller may depend on either
// order"). Every call is handed to the inner backend on a later turn of the event loop,
// after a random delay in [0, max_delay]; every completion and every lost() comes back to
// its caller on a later turn, after another random delay. Calls and answers share one queue
// whose due times never go back, so every order the inner backend keeps is kept: a revoked
// holder's lost() before the next holder's grant, FIFO waiters, a release before the grant
// it makes room for.
//
// The real server runs with it only when TCPNETLOCK_TEST_DEFER_BACKEND is set
// (defer_for_tests, below), which the test suite does to run every integration suite a
// second time (the `deferred/` tests). It is not meant for production: it only slows the
// server down.
//
// Ids: acquire() must return the request's id at once, before the inner backend has seen
// the request and made its own id. So this backend gives its callers ids of its own (of the
// kind the local backend gives: version 8 for connection holds, random version 4 for
// detached ones) and translates both ways: calls going in, completions, lost() and listings
// coming out. An id it never gave out (a detached lock restored at start, an unknown id) is
// passed through as it is. A lock-delay left by a taken-away hold shows the inner id (the
// translation ends with the hold); a detached hold whose lease ran out keeps a small entry
// here until its id is next used (it is test-only, and leases in tests are few).
//
// cancel(), against each stage a request can be in:
//  - not yet handed on: it never will be; true;
//  - handed on, the inner still deciding: the inner's cancel() answers;
//  - the inner answered, the answer not yet delivered: the answer is dropped (a grant is
//    released to the inner, with consent), true;
//  - delivered: false.
// A lost() for a hold whose holder released it meanwhile is dropped: the interface promises
// none after release().
#pragma once

#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

#include "io_types.hpp"
#include "lock_backend.hpp"
#include "lock_id.hpp"

namespace tnl {

class DeferringLockBackend final : public LockBackend {
 public:
  /// Defers every call to `inner` and every answer from it by up to `max_delay` (zero: to
  /// the next turn of `io`'s loop); the delays are drawn from `seed`.
  DeferringLockBackend(std::unique_ptr<LockBackend> inner, asio::io_context& io, Clock::duration max_delay,
                       std::uint64_t seed);
  ~DeferringLockBackend() override;
  DeferringLockBackend(const DeferringLockBackend&) = delete;
  DeferringLockBackend& operator=(const DeferringLockBackend&) = delete;

  LockId acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher = {}) override;
  bool cancel(const LockId& id) override;
  void release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) override;
  void renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) override;
  void read(LockQuery query, ReadDone done) override;
  /// The inner backend's, at once.
  [[nodiscard]] bool available() const override;
  /// Straight to the inner backend: requests still queued here reach it afterwards and are
  /// answered unavailable; answers still queued here are delivered.
  void shut_down() override;

  /// Calls and answers queued and not yet run (for tests).
  [[nodiscard]] std::size_t queued() const { return steps_.size(); }
  /// Requests and holds this backend keeps an id translation for (for tests: bounded).
  [[nodiscard]] std::size_t tracked() const { return requests_.size() + outer_of_.size(); }

 private:
  /// Where a request made through acquire() stands.
  enum class Stage : std::uint8_t {
    queued,     ///< not yet handed to the inner backend
    forwarded,  ///< the inner backend has it and has not answered
    answered,   ///< the inner backend answered; the answer is queued here
    held,       ///< a grant delivered to the caller: a hold
  };
  /// One request, and then its hold, by the id the caller knows.
  struct Request {
    Stage stage = Stage::queued;
    std::optional<LockId> inner;  ///< the inner backend's id, once handed on
    AcquireDone done;             ///< until delivered
    std::weak_ptr<HoldWatcher> watcher;
    bool has_watcher = false;  ///< the caller gave a watcher (it may have expired since)
    bool granted = false;      ///< the inner's answer was a grant
    bool released = false;     ///< its holder called release(): no lost() from now on
    bool lost = false;         ///< the inner took it away (lost() seen, maybe not yet delivered)
  };
  /// A call to hand on or an answer to deliver, and when.
  struct Step {
    Clock::time_point due;
    std::function<void()> run;
  };
  /// The watcher the inner backend is given: turns its lost() into a deferred one.
  class Relay;

  /// Queues `run` after a random delay, never before the step queued last.
  void defer(std::function<void()> run);
  /// Arms the timer for the first step, unless armed.
  void arm();
  /// Runs the steps that are due and were queued before now (later ones: next turn).
  void run_due();
  /// The id `outer` stands for at the inner backend (itself when it is not ours).
  [[nodiscard]] LockId inner_id(const LockId& outer) const;

  void forward_acquire(const LockId& outer, AcquireRequest& request);
  void on_acquired(const LockId& outer, const AcquireResult& result);
  void on_lost(const LockId& inner, std::string_view reason);
  void on_released(const LockId& outer, const LockId& inner, ReleaseOutcome outcome);
  /// The hold `outer` (inner id `inner`) is gone at the inner backend: forgets the translation.
  void forget_inner(const LockId& inner, const LockId& outer);
  /// `view` with the inner backend's ids replaced by ours.
  [[nodiscard]] LockView translate(LockView view);

  Clock::duration max_delay_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<Clock::rep> delay_;
  SteadyTimer timer_;
  bool armed_ = false;
  std::deque<Step> steps_;
  Clock::time_point last_due_{};
  LockIdGenerator ids_;
  std::uint64_t next_owner_ = 0;
  std::unordered_map<LockId, Request> requests_;  ///< by the caller's id
  std::unordered_map<LockId, LockId> outer_of_;   ///< inner id -> the caller's id
  /// The last translated listing and what it was made from, for readers of an unchanged one.
  std::shared_ptr<const std::vector<NameRecord>> last_inner_names_;
  std::shared_ptr<const std::vector<NameRecord>> last_outer_names_;
  std::uint64_t translation_version_ = 0;  ///< changes with outer_of_
  std::uint64_t last_translation_version_ = 0;
  std::shared_ptr<Relay> relay_;
  /// Expires with this object: a timer handler already queued must not touch it then.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  /// Last: destroyed first, while everything its callbacks touch still exists.
  std::unique_ptr<LockBackend> inner_;
};

/// TEST ONLY: wraps `backend` in a DeferringLockBackend when TCPNETLOCK_TEST_DEFER_BACKEND
/// is set: "MAX_MS" or "MAX_MS:SEED" (the longest delay in milliseconds, 0: the next turn of
/// the loop; the seed of the delays, random when not given, logged either way), and logs a
/// warning that the server runs in a test-only mode. Unset or empty: returns `backend`.
/// Throws std::invalid_argument for anything else (the server refuses to start).
std::unique_ptr<LockBackend> defer_for_tests(std::unique_ptr<LockBackend> backend, asio::io_context& io);

}  // namespace tnl
