#include "deferring_lock_backend.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

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
  Request entry;
  entry.done = std::move(done);
  // An empty weak_ptr (no watcher given) is ordered equal to a default-constructed one.
  const std::weak_ptr<HoldWatcher> none;
  entry.has_watcher = watcher.owner_before(none) || none.owner_before(watcher);
  entry.watcher = std::move(watcher);
  std::weak_ptr<HoldWatcher> relay;
  if (entry.has_watcher) relay = relay_;
  // The inner backend may answer inside the call, before its id is known here: then
  // on_acquired() files this entry under the answer's id.
  making_ = &entry;
  const LockId id = inner_->acquire(
      std::move(request), [this](const AcquireResult& result) { on_acquired(result); }, std::move(relay));
  if (making_ != nullptr) {
    making_ = nullptr;
    requests_.emplace(id, std::move(entry));
  }
  return id;
}

void DeferringLockBackend::on_acquired(const AcquireResult& result) {
  const bool granted = result.outcome == AcquireOutcome::granted;
  auto it = requests_.find(result.id);
  if (it == requests_.end()) {
    if (making_ == nullptr) {
      // Cannot happen (a request cancelled at the inner backend is never answered), but a
      // grant nobody will see must not stay held.
      if (granted) inner_->release(result.id, ReleaseBy::holder, "released: nobody asked for it (deferring backend)", {});
      return;
    }
    it = requests_.emplace(result.id, std::move(*making_)).first;
    making_ = nullptr;
  }
  it->second.stage = Stage::answered;
  it->second.granted = granted;
  defer([this, result]() {
    auto request = requests_.find(result.id);
    if (request == requests_.end() || request->second.stage != Stage::answered) return;  // cancelled
    const AcquireDone done = std::move(request->second.done);
    if (result.outcome == AcquireOutcome::granted && request->second.has_watcher) {
      request->second.stage = Stage::held;  // lost() may come for it now
    } else {
      requests_.erase(request);
    }
    done(result);
  });
}

bool DeferringLockBackend::cancel(const LockId& id) {
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second.stage == Stage::held) return false;
  if (it->second.stage == Stage::asked) {
    if (inner_->cancel(id)) {
      requests_.erase(id);
      return true;
    }
    // The inner backend has answered meanwhile: its answer is queued here, below.
    it = requests_.find(id);
    if (it == requests_.end() || it->second.stage != Stage::answered) return false;
  }
  // Answered, not yet delivered: the answer is dropped; a grant goes back to the inner backend.
  const bool granted = it->second.granted;
  requests_.erase(it);
  if (granted) inner_->release(id, ReleaseBy::holder, "released: its asker cancelled before the grant reached it (deferring backend)", {});
  return true;
}

void DeferringLockBackend::release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) {
  const auto it = requests_.find(id);
  const bool known = it != requests_.end();
  const bool watched = known && it->second.has_watcher;
  if (known && (by == ReleaseBy::holder || by == ReleaseBy::holder_gone)) it->second.released = true;
  inner_->release(id, by, who, [this, id, watched, done = std::move(done)](ReleaseOutcome outcome) {
    // A hold that ended here is forgotten; one taken away (forced) is forgotten once its
    // holder has been told, by lost(), unless it has no watcher to tell.
    if (outcome == ReleaseOutcome::released || outcome == ReleaseOutcome::unknown ||
        (outcome == ReleaseOutcome::forced && !watched)) {
      forget_later(id);
    }
    if (done) defer([done, outcome]() { done(outcome); });
  });
}

void DeferringLockBackend::forget_later(const LockId& id) {
  // After whatever is queued for it (a lost() that its holder must still be told).
  defer([this, id]() {
    const auto it = requests_.find(id);
    // Only a hold: a release by the id of a request still waiting leaves the request be.
    if (it != requests_.end() && it->second.stage == Stage::held) requests_.erase(it);
  });
}

void DeferringLockBackend::on_lost(const LockId& id, std::string_view reason) {
  defer([this, id, reason = std::string(reason)]() {
    const auto it = requests_.find(id);
    // Not held by a caller that heard of the grant (it was cancelled on its way), or the
    // holder released it meanwhile: nobody to tell.
    if (it == requests_.end() || it->second.stage != Stage::held) return;
    const bool tell = !it->second.released;
    const auto watcher = it->second.watcher.lock();
    requests_.erase(it);
    if (tell && watcher) watcher->lost(id, reason);
  });
}

void DeferringLockBackend::renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) {
  inner_->renew(id, ttl, [this, done = std::move(done)](RenewOutcome outcome) {
    defer([done, outcome]() { done(outcome); });
  });
}

void DeferringLockBackend::update(const LockId& id, HoldUpdate changes, UpdateDone done) {
  inner_->update(id, std::move(changes), [this, done = std::move(done)](UpdateOutcome outcome) {
    defer([done, outcome]() { done(outcome); });
  });
}

void DeferringLockBackend::read(LockQuery query, ReadDone done) {
  inner_->read(std::move(query), [this, done = std::move(done)](LockView view) {
    defer([done, view = std::move(view)]() { done(view); });
  });
}

bool DeferringLockBackend::available() const { return inner_->available(); }

void DeferringLockBackend::render_metrics(std::string& out) const { inner_->render_metrics(out); }

void DeferringLockBackend::shut_down() { inner_->shut_down(); }

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
