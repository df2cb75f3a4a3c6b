// A LockBackend for unit tests that answers nothing by itself: every call is recorded, and
// the test answers it by hand, when and how it likes (grants, refusals, a lost() for a hold,
// a release's outcome, a listing). So a test can put a front end or a decorator through
// every order of events a remote backend could produce: a grant after its asker has gone,
// a lost() racing a release, answers in any order.
//
// Header-only: it needs server/lock_backend.hpp, which only the unit tests link.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lock_backend.hpp"

namespace tnl::test {

class ScriptedLockBackend : public LockBackend {
 public:
  /// Where an acquire() stands.
  enum class AcquireState { pending, cancelled, completed };

  /// One acquire() call, as made.
  struct AcquireCall {
    LockId id;
    AcquireRequest request;
    AcquireDone done;
    std::weak_ptr<HoldWatcher> watcher;
    AcquireState state = AcquireState::pending;
  };
  /// One release() call, as made.
  struct ReleaseCall {
    LockId id;
    ReleaseBy by = ReleaseBy::holder;
    std::string who;
    ReleaseDone done;
    bool answered = false;
  };
  /// One renew() call, as made.
  struct RenewCall {
    LockId id;
    std::optional<Clock::duration> ttl;
    RenewDone done;
    bool answered = false;
  };
  /// One update() call, as made.
  struct UpdateCall {
    LockId id;
    HoldUpdate changes;
    UpdateDone done;
    bool answered = false;
  };
  /// One read() call, as made.
  struct ReadCall {
    LockQuery query;
    ReadDone done;
    bool answered = false;
  };

  // Every call in the order it was made (indexes stay valid: nothing is ever removed).
  std::vector<AcquireCall> acquires;
  std::vector<ReleaseCall> releases;
  std::vector<RenewCall> renews;
  std::vector<UpdateCall> updates;
  std::vector<ReadCall> reads;
  /// The ids cancel() was called with, in order, whatever it answered.
  std::vector<LockId> cancels;
  /// How often shut_down() was called.
  int shut_downs = 0;
  /// What available() answers.
  bool is_available = true;
  /// What render_metrics() appends.
  std::string metrics_text;
  /// The ids granted and not yet ended (by a release answered released/forced, or lose()):
  /// empty at the end of a test that leaks nothing.
  std::unordered_set<LockId> held;

  // ---- LockBackend: records the call, answers nothing ----

  LockId acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher = {}) override {
    const LockId id = make_id(acquires.size() + 1);
    acquires.push_back(AcquireCall{id, std::move(request), std::move(done), std::move(watcher)});
    return id;
  }

  /// True (and the request is cancelled: it can no longer be completed) while it is
  /// pending; false once completed, as the interface says.
  bool cancel(const LockId& id) override {
    cancels.push_back(id);
    AcquireCall* call = find_acquire(id);
    if (call == nullptr || call->state != AcquireState::pending) return false;
    call->state = AcquireState::cancelled;
    return true;
  }

  void release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) override {
    releases.push_back(ReleaseCall{id, by, std::string(who), std::move(done)});
  }

  void update(const LockId& id, HoldUpdate changes, UpdateDone done) override {
    updates.push_back(UpdateCall{id, std::move(changes), std::move(done)});
  }

  void renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) override {
    renews.push_back(RenewCall{id, ttl, std::move(done)});
  }

  void read(LockQuery query, ReadDone done) override { reads.push_back(ReadCall{std::move(query), std::move(done)}); }

  [[nodiscard]] bool available() const override { return is_available; }

  void render_metrics(std::string& out) const override { out += metrics_text; }

  void shut_down() override { ++shut_downs; }

  // ---- What the test does ----

  /// The id the n-th acquire() (from 1) returns: readable in failures, a version 8 UUID.
  static LockId make_id(std::size_t n) { return LockId{0x5c41'97ed'0000'8000ULL, (0x2ULL << 62) | n}; }

  /// The acquire() call with this id; throws if there is none.
  AcquireCall& acquire_call(const LockId& id) {
    AcquireCall* call = find_acquire(id);
    if (call == nullptr) throw std::logic_error("ScriptedLockBackend: no acquire has id " + id.str());
    return *call;
  }

  /// How many acquire() calls are still pending (neither completed nor cancelled).
  [[nodiscard]] std::size_t pending_acquires() const {
    std::size_t count = 0;
    for (const auto& call : acquires) count += call.state == AcquireState::pending ? 1 : 0;
    return count;
  }

  /// Completes the pending request `id` with `outcome` (a grant gets `token`, or the next
  /// token when 0). Runs its completion now; throws if it is not pending.
  void complete(const LockId& id, AcquireOutcome outcome, FencingToken token = 0) {
    AcquireCall& call = acquire_call(id);
    if (call.state != AcquireState::pending) throw std::logic_error("ScriptedLockBackend: " + id.str() + " is not pending");
    call.state = AcquireState::completed;
    AcquireResult result{outcome, id, 0};
    if (outcome == AcquireOutcome::granted) {
      result.token = token != 0 ? token : ++last_token_;
      held.insert(id);
    }
    call.done(result);
  }
  /// Grants the pending request `id`.
  void grant(const LockId& id, FencingToken token = 0) { complete(id, AcquireOutcome::granted, token); }

  /// Takes the hold `id` away, as a forced release or a lost backend would: it is no longer
  /// held, and its watcher (if it was given one that is still alive) is told. Returns
  /// whether a watcher was told.
  bool lose(const LockId& id, std::string_view reason) {
    held.erase(id);
    const auto watcher = acquire_call(id).watcher.lock();
    if (!watcher) return false;
    watcher->lost(id, reason);
    return true;
  }

  /// Answers the index-th release() call (from 0); released and forced end the hold.
  void answer_release(std::size_t index, ReleaseOutcome outcome) {
    ReleaseCall& call = releases.at(index);
    if (call.answered) throw std::logic_error("ScriptedLockBackend: release answered twice");
    call.answered = true;
    if (outcome == ReleaseOutcome::released || outcome == ReleaseOutcome::forced) held.erase(call.id);
    if (call.done) call.done(outcome);
  }

  /// Answers the index-th update() call (from 0).
  void answer_update(std::size_t index, UpdateOutcome outcome) {
    UpdateCall& call = updates.at(index);
    if (call.answered) throw std::logic_error("ScriptedLockBackend: update answered twice");
    call.answered = true;
    call.done(outcome);
  }

  /// Answers the index-th renew() call (from 0).
  void answer_renew(std::size_t index, RenewOutcome outcome) {
    RenewCall& call = renews.at(index);
    if (call.answered) throw std::logic_error("ScriptedLockBackend: renew answered twice");
    call.answered = true;
    call.done(outcome);
  }

  /// Answers the index-th read() call (from 0) with `view`.
  void answer_read(std::size_t index, LockView view) {
    ReadCall& call = reads.at(index);
    if (call.answered) throw std::logic_error("ScriptedLockBackend: read answered twice");
    call.answered = true;
    call.done(std::move(view));
  }

 private:
  AcquireCall* find_acquire(const LockId& id) {
    for (auto& call : acquires) {
      if (call.id == id) return &call;
    }
    return nullptr;
  }

  FencingToken last_token_ = 0;
};

}  // namespace tnl::test
