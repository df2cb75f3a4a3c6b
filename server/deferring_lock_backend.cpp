#include "deferring_lock_backend.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tnl {

class DeferringLockBackend::Relay final : public HoldWatcher {
 public:
  explicit Relay(DeferringLockBackend& backend) : backend_(backend) {}
  void lost(const LockId& id, std::string_view reason) override { backend_.on_lost(id, reason); }

 private:
  DeferringLockBackend& backend_;
};

DeferringLockBackend::DeferringLockBackend(std::unique_ptr<LockBackend> inner, asio::io_context& io,
                                           Clock::duration max_delay, std::uint64_t seed)
    : max_delay_(max_delay < Clock::duration::zero() ? Clock::duration::zero() : max_delay),
      random_(seed),
      delay_(0, max_delay_.count()),
      timer_(io.get_executor()),
      relay_(std::make_shared<Relay>(*this)),
      inner_(std::move(inner)) {}

DeferringLockBackend::~DeferringLockBackend() {
  // The inner backend first (its callbacks may still queue steps), then the rest.
  inner_.reset();
  alive_.reset();
}

LockId DeferringLockBackend::acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher) {
  // The kind of id the local backend gives, so that what callers see looks the same.
  const LockId id = request.kind == HoldKind::connection ? ids_.for_owner(++next_owner_ & LockId::owner_mask)
                                                         : ids_.next();
  Request& entry = requests_[id];
  entry.done = std::move(done);
  // An empty weak_ptr (no watcher given) is ordered equal to a default-constructed one.
  const std::weak_ptr<HoldWatcher> none;
  entry.has_watcher = watcher.owner_before(none) || none.owner_before(watcher);
  entry.watcher = std::move(watcher);
  defer([this, id, request = std::move(request)]() mutable { forward_acquire(id, request); });
  return id;
}

void DeferringLockBackend::forward_acquire(const LockId& outer, AcquireRequest& request) {
  auto it = requests_.find(outer);
  if (it == requests_.end() || it->second.stage != Stage::queued) return;  // cancelled meanwhile
  it->second.stage = Stage::forwarded;
  std::weak_ptr<HoldWatcher> watcher;
  if (it->second.has_watcher) watcher = relay_;
  const LockId inner = inner_->acquire(
      std::move(request), [this, outer](const AcquireResult& result) { on_acquired(outer, result); },
      std::move(watcher));
  // Unless it was answered already (then on_acquired knew the id from the result).
  it = requests_.find(outer);
  if (it != requests_.end() && it->second.stage == Stage::forwarded) {
    it->second.inner = inner;
    outer_of_[inner] = outer;
    ++translation_version_;
  }
}

void DeferringLockBackend::on_acquired(const LockId& outer, const AcquireResult& result) {
  const bool granted = result.outcome == AcquireOutcome::granted;
  auto it = requests_.find(outer);
  if (it == requests_.end()) {
    // Cannot happen (a request cancelled at the inner backend is never answered), but a
    // grant nobody will see must not stay held.
    if (granted) inner_->release(result.id, ReleaseBy::holder, "deferring backend: unclaimed grant", {});
    return;
  }
  it->second.stage = Stage::answered;
  it->second.inner = result.id;
  it->second.granted = granted;
  if (granted) {
    outer_of_[result.id] = outer;
    ++translation_version_;
  } else {
    forget_inner(result.id, outer);  // a waiter's id, listed while it waited
  }
  defer([this, outer, result]() {
    auto request = requests_.find(outer);
    if (request == requests_.end() || request->second.stage != Stage::answered) return;  // cancelled
    AcquireDone done = std::move(request->second.done);
    if (result.outcome == AcquireOutcome::granted) {
      request->second.stage = Stage::held;
    } else {
      requests_.erase(request);
    }
    AcquireResult answer = result;
    answer.id = outer;
    done(answer);
  });
}

bool DeferringLockBackend::cancel(const LockId& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return false;
  switch (it->second.stage) {
    case Stage::queued:
      requests_.erase(it);
      return true;
    case Stage::forwarded: {
      const LockId inner = *it->second.inner;
      if (inner_->cancel(inner)) {
        requests_.erase(id);
        forget_inner(inner, id);
        return true;
      }
      // The inner backend answered before it returned: its answer is queued here, below.
      it = requests_.find(id);
      if (it == requests_.end() || it->second.stage != Stage::answered) return false;
      break;
    }
    case Stage::answered:
      break;
    case Stage::held:
      return false;
  }
  // Answered, not yet delivered: the answer is dropped; a grant goes back to the inner backend.
  const LockId inner = *it->second.inner;
  const bool granted = it->second.granted;
  requests_.erase(it);
  if (granted) {
    forget_inner(inner, id);
    defer([this, inner]() { inner_->release(inner, ReleaseBy::holder, "deferring backend: cancelled", {}); });
  }
  return true;
}

void DeferringLockBackend::release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) {
  if (by == ReleaseBy::holder || by == ReleaseBy::holder_gone) {
    if (auto it = requests_.find(id); it != requests_.end()) it->second.released = true;
  }
  defer([this, id, by, who = std::string(who), done = std::move(done)]() mutable {
    const LockId inner = inner_id(id);
    inner_->release(inner, by, who, [this, id, inner, done = std::move(done)](ReleaseOutcome outcome) mutable {
      on_released(id, inner, outcome);
      if (done) defer([done = std::move(done), outcome]() { done(outcome); });
    });
  });
}

void DeferringLockBackend::on_released(const LockId& outer, const LockId& inner, ReleaseOutcome outcome) {
  auto it = requests_.find(outer);
  // Only a hold's entry ends here: a release by the id of a request still waiting is unknown
  // at the inner backend, and the request goes on.
  if (it == requests_.end() || it->second.stage != Stage::held) return;
  switch (outcome) {
    case ReleaseOutcome::released:
    case ReleaseOutcome::unknown:
      forget_inner(inner, outer);
      // Any lost() for it was queued before this answer and has seen the entry by then.
      defer([this, outer]() { requests_.erase(outer); });
      break;
    case ReleaseOutcome::forced:
      // Its watcher is told by lost(), which ends the entry; without one, nothing will.
      if (!it->second.has_watcher || it->second.lost) {
        forget_inner(inner, outer);
        if (!it->second.has_watcher) defer([this, outer]() { requests_.erase(outer); });
      }
      break;
    case ReleaseOutcome::held_by_connection:
    case ReleaseOutcome::not_saved:
    case ReleaseOutcome::unavailable:
      break;  // the hold stays
  }
}

void DeferringLockBackend::on_lost(const LockId& inner, std::string_view reason) {
  const auto mapped = outer_of_.find(inner);
  if (mapped == outer_of_.end()) return;  // a grant cancelled before its caller saw it
  const LockId outer = mapped->second;
  forget_inner(inner, outer);
  if (auto it = requests_.find(outer); it != requests_.end()) it->second.lost = true;
  defer([this, outer, reason = std::string(reason)]() {
    auto it = requests_.find(outer);
    if (it == requests_.end()) return;
    const bool tell = it->second.stage == Stage::held && !it->second.released;
    const auto watcher = it->second.watcher.lock();
    requests_.erase(it);
    if (tell && watcher) watcher->lost(outer, reason);
  });
}

void DeferringLockBackend::renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) {
  defer([this, id, ttl, done = std::move(done)]() mutable {
    const LockId inner = inner_id(id);
    inner_->renew(inner, ttl, [this, id, inner, done = std::move(done)](RenewOutcome outcome) mutable {
      if (outcome == RenewOutcome::unknown) {
        // A hold that ended without a word here (a detached lease that ran out).
        if (auto it = requests_.find(id); it != requests_.end() && it->second.stage == Stage::held) {
          forget_inner(inner, id);
          defer([this, id]() { requests_.erase(id); });
        }
      }
      defer([done = std::move(done), outcome]() { done(outcome); });
    });
  });
}

void DeferringLockBackend::read(LockQuery query, ReadDone done) {
  defer([this, query = std::move(query), done = std::move(done)]() mutable {
    if (query.id) query.id = inner_id(*query.id);
    inner_->read(std::move(query), [this, done = std::move(done)](LockView view) mutable {
      defer([done = std::move(done), view = translate(std::move(view))]() mutable { done(std::move(view)); });
    });
  });
}

bool DeferringLockBackend::available() const { return inner_->available(); }

void DeferringLockBackend::shut_down() { inner_->shut_down(); }

LockId DeferringLockBackend::inner_id(const LockId& outer) const {
  const auto it = requests_.find(outer);
  return it != requests_.end() && it->second.inner ? *it->second.inner : outer;
}

void DeferringLockBackend::forget_inner(const LockId& inner, const LockId& outer) {
  const auto it = outer_of_.find(inner);
  if (it != outer_of_.end() && it->second == outer) {
    outer_of_.erase(it);
    ++translation_version_;
  }
}

LockView DeferringLockBackend::translate(LockView view) {
  if (!view.names || outer_of_.empty()) return view;
  if (view.names == last_inner_names_ && translation_version_ == last_translation_version_) {
    view.names = last_outer_names_;
    return view;
  }
  auto names = std::make_shared<std::vector<NameRecord>>(*view.names);
  for (auto& name : *names) {
    for (auto* records : {&name.holders, &name.delays, &name.waiters}) {
      for (auto& record : *records) {
        if (const auto it = outer_of_.find(record.id); it != outer_of_.end()) record.id = it->second;
      }
    }
  }
  last_inner_names_ = view.names;
  last_outer_names_ = names;
  last_translation_version_ = translation_version_;
  view.names = std::move(names);
  return view;
}

void DeferringLockBackend::defer(std::function<void()> run) {
  Clock::time_point due = Clock::now() + Clock::duration(delay_(random_));
  if (due < last_due_) due = last_due_;  // never before the step queued last: FIFO
  last_due_ = due;
  steps_.push_back(Step{due, std::move(run)});
  arm();
}

void DeferringLockBackend::arm() {
  if (armed_ || steps_.empty()) return;
  armed_ = true;
  timer_.expires_at(steps_.front().due);
  timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const std::error_code&) {
    if (alive.expired()) return;
    armed_ = false;
    run_due();
  });
}

void DeferringLockBackend::run_due() {
  const std::weak_ptr<int> alive = alive_;
  const auto now = Clock::now();
  // Only the steps queued before this turn: what they queue runs on a later one.
  for (std::size_t count = steps_.size(); count > 0 && steps_.front().due <= now; --count) {
    const std::function<void()> run = std::move(steps_.front().run);
    steps_.pop_front();
    run();
    if (alive.expired()) return;  // a step ended the server and this backend with it
  }
  arm();
}

std::unique_ptr<LockBackend> defer_for_tests(std::unique_ptr<LockBackend> backend, asio::io_context& io) {
  static constexpr const char* variable = "TCPNETLOCK_TEST_DEFER_BACKEND";
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') return backend;
  const std::string_view text(value);
  const auto invalid = [&text]() {
    return std::invalid_argument(std::string(variable) + "=" + std::string(text) +
                                 ": expected MAX_MS or MAX_MS:SEED (test-only; unset it to run normally)");
  };
  // Whole decimal numbers only: no sign, no spaces, nothing after.
  const auto number = [&invalid](std::string_view digits, std::uint64_t& out) {
    if (digits.empty() || digits.front() < '0' || digits.front() > '9') throw invalid();
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    if (error != std::errc() || end != digits.data() + digits.size()) throw invalid();
  };
  const auto colon = text.find(':');
  std::uint64_t max_ms = 0;
  number(text.substr(0, colon), max_ms);
  // A minute is far beyond any use: a larger value is a typo, not a test.
  if (max_ms > 60'000) throw invalid();
  std::uint64_t seed = 0;
  if (colon != std::string_view::npos) {
    number(text.substr(colon + 1), seed);
  } else {
    seed = std::random_device{}();
    seed = (seed << 32) ^ std::random_device{}();
  }
  spdlog::warn(
      "TEST-ONLY MODE ({}={}): every lock operation is deferred by up to {} ms (seed {}); "
      "never run a production server like this",
      variable, text, max_ms, seed);
  return std::make_unique<DeferringLockBackend>(std::move(backend), io, std::chrono::milliseconds(max_ms), seed);
}

}  // namespace tnl
