#include "gate.hpp"

#include <spdlog/spdlog.h>

#include <asio/post.hpp>
#include <vector>

namespace tnl::etcd {

std::shared_ptr<Gate> Gate::make(asio::io_context& io) { return std::shared_ptr<Gate>(new Gate(io)); }

Gate::Gate(asio::io_context& io) : io_(io) {}

Gate::Call::~Call() {
  if (gate_) gate_->destroyed();
}

void Gate::destroyed() {
  {
    std::lock_guard lock(mutex_);
    --alive_;
  }
  left_.notify_all();
}

bool Gate::enter(std::shared_ptr<Call> call) {
  if (!loop_open_) return false;
  call->gate_ = shared_from_this();
  {
    std::lock_guard lock(mutex_);
    ++alive_;
    Call* key = call.get();
    calls_.emplace(key, std::move(call));
  }
  if (working_++ == 0) work_.emplace(io_.get_executor());
  return true;
}

void Gate::post(std::function<void()> on_loop) {
  std::lock_guard lock(mutex_);
  // Under the lock: close() cannot return between this check and the post, so nothing is
  // posted once the owner (and possibly the io_context after it) may be gone.
  if (closed_) return;
  enqueue(Queued{std::move(on_loop), false});
}

void Gate::leave(Call* call, std::function<void()> on_loop) {
  std::shared_ptr<Call> keep;  // released after the lock: the call may end with it
  {
    std::lock_guard lock(mutex_);
    if (auto it = calls_.find(call); it != calls_.end()) {
      keep = std::move(it->second);
      calls_.erase(it);
    }
    if (!closed_) enqueue(Queued{std::move(on_loop), true});
  }
  left_.notify_all();
}

void Gate::enqueue(Queued item) {
  queued_.push_back(std::move(item));
  if (queued_.size() == 1) asio::post(io_, [self = shared_from_this()] { self->drain(); });
}

void Gate::drain() {
  std::vector<Queued> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queued_);
  }
  for (auto& item : batch) {
    // A result may close the gate (its owner destroyed): the rest are dropped.
    if (!loop_open_) return;
    item.on_loop();
    if (item.leaves && loop_open_) release_work();
  }
}

void Gate::release_work() {
  if (working_ > 0 && --working_ == 0) work_.reset();
}

bool Gate::close(std::chrono::milliseconds bound) {
  if (!loop_open_) return true;
  loop_open_ = false;
  work_.reset();
  working_ = 0;
  std::vector<std::shared_ptr<Call>> calls;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    calls.reserve(calls_.size());
    for (auto& [key, call] : calls_) calls.push_back(call);
  }
  // Not under the lock: gRPC may run a completion inline, and it calls leave().
  for (auto& call : calls) call->cancel();
  calls.clear();
  std::unique_lock lock(mutex_);
  if (left_.wait_for(lock, bound, [this] { return calls_.empty() && alive_ == 0; })) return true;
  spdlog::warn("etcd client: {} gRPC call(s) still not released {} ms after cancelling them", alive_, bound.count());
  return false;
}

std::size_t Gate::alive() const {
  std::lock_guard lock(mutex_);
  return alive_;
}

std::size_t Gate::in_flight() const {
  std::lock_guard lock(mutex_);
  return calls_.size();
}

}  // namespace tnl::etcd
