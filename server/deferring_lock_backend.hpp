// TEST ONLY. A LockBackend decorator that answers everything late, to prove that no front
// end depends on when an answer comes (lock_backend.hpp: "no caller may depend on either
// order"). Every completion and every lost() reaches its caller on a later turn of the
// event loop, after a random delay in [0, max_delay], never in the call that caused it.
// Answers share one queue whose due times never go back, so every order the inner backend
// keeps is kept: a revoked holder's lost() before the next holder's grant, waiters granted
// first come first served, `released` before the grant it made room for.
//
// Calls reach the inner backend at once, in the order made. acquire() must return the
// request's id, and ids are the backend's: a detached lock's id is its holder's capability,
// saved with it and valid after a restart, so no other id can stand in for it. So a request
// must reach the backend within the call; the other calls go at once too, so that none
// overtakes another.
//
// cancel(), against each stage a request can be in:
//  - the inner backend still deciding: the inner's cancel() answers;
//  - the inner answered, the answer not yet delivered: the answer is dropped (a grant is
//    released to the inner backend, with consent), true;
//  - delivered: false.
// A lost() for a hold whose holder released it meanwhile, or whose grant was never
// delivered, is dropped: the interface promises none after release(), none before the grant.
//
// The real server runs with it only when TCPNETLOCK_TEST_DEFER_BACKEND is set
// (defer_for_tests, below), which the test suite does to run every integration suite a
// second time (the `deferred/` tests; docs/SECURITY.md). It only slows a server down:
// never run a production server with it.
#pragma once

#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>

#include "io_types.hpp"
#include "lock_backend.hpp"
#include "lock_id.hpp"

namespace tnl {

class DeferringLockBackend final : public LockBackend {
 public:
  /// Defers every answer from `inner` by up to `max_delay` (zero: to the next turn of
  /// `io`'s loop); the delays are drawn from `seed`.
  DeferringLockBackend(std::unique_ptr<LockBackend> inner, asio::io_context& io, Clock::duration max_delay,
                       std::uint64_t seed);
  ~DeferringLockBackend() override;
  DeferringLockBackend(const DeferringLockBackend&) = delete;
  DeferringLockBackend& operator=(const DeferringLockBackend&) = delete;

  LockId acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher = {}) override;
  bool cancel(const LockId& id) override;
  void release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) override;
  void renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) override;
  void update(const LockId& id, HoldUpdate changes, UpdateDone done) override;
  void read(LockQuery query, ReadDone done) override;
  /// The inner backend's, at once.
  [[nodiscard]] bool available() const override;
  /// Straight to the inner backend (which answers its waiters unavailable: delivered later).
  void render_metrics(std::string& out) const override;
  void shut_down() override;

  /// Answers queued and not yet delivered (for tests).
  [[nodiscard]] std::size_t queued() const { return steps_.size(); }
  /// Requests and connection holds this backend keeps track of (for tests: it must not grow).
  [[nodiscard]] std::size_t tracked() const { return requests_.size(); }

 private:
  /// Where a request made through acquire() stands.
  enum class Stage : std::uint8_t {
    asked,     ///< the inner backend has it and has not answered
    answered,  ///< the inner backend answered; the answer is queued here
    held,      ///< a grant delivered to a caller that gave a watcher: a hold lost() may end
  };
  /// One request, and then its hold while lost() may be relayed for it. Keyed by its id.
  struct Request {
    Stage stage = Stage::asked;
    AcquireDone done;  ///< until delivered
    std::weak_ptr<HoldWatcher> watcher;
    bool has_watcher = false;  ///< the caller gave a watcher (it may have expired since)
    bool granted = false;      ///< the inner's answer was a grant
    bool released = false;     ///< its holder called release(): no lost() from now on
  };
  /// An answer to deliver, and when.
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
  /// Runs the steps that are due and were queued before this turn (later ones: next turn).
  void run_due();

  void on_acquired(const AcquireResult& result);
  void on_lost(const LockId& id, std::string_view reason);
  /// The hold `id` ended at the inner backend (released, unknown there): forgets it once
  /// what is queued for it has been delivered.
  void forget_later(const LockId& id);

  Clock::duration max_delay_;
  std::mt19937_64 random_;
  std::uniform_int_distribution<Clock::rep> delay_;
  SteadyTimer timer_;
  bool armed_ = false;
  std::deque<Step> steps_;
  Clock::time_point last_due_{};
  std::unordered_map<LockId, Request> requests_;
  /// The entry of the acquire() being made, until filed under its id.
  Request* making_ = nullptr;
  std::shared_ptr<Relay> relay_;
  /// Expires with this object: a timer handler already queued must not touch it then.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  /// Last: destroyed first, while everything its callbacks touch still exists.
  std::unique_ptr<LockBackend> inner_;
};

/// TEST ONLY: wraps `backend` in a DeferringLockBackend when TCPNETLOCK_TEST_DEFER_BACKEND
/// is set: "MAX_MS" or "MAX_MS:SEED" (the longest delay in milliseconds, 0 to 60,000; 0:
/// the next turn of the loop; the seed of the delays, random when not given, logged either
/// way), and logs a warning that the server runs in a test-only mode. Unset or empty:
/// returns `backend`. Throws std::invalid_argument for anything else (the server refuses
/// to start).
std::unique_ptr<LockBackend> defer_for_tests(std::unique_ptr<LockBackend> backend, asio::io_context& io);

}  // namespace tnl
