// One timer for many deadlines, armed for the earliest of them instead of one timer each:
// the lock table's (queued requests' waits, detached locks' leases) and the connections'
// (first-line timeout, linger limit, holder timeout).
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "io_types.hpp"

namespace tnl {

class DeadlineTimer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  /// `next_deadline()` is the earliest pending deadline, if any; `fire(now)` acts on
  /// everything due by `now`.
  DeadlineTimer(asio::io_context& io, std::function<std::optional<TimePoint>()> next_deadline,
                std::function<void(TimePoint)> fire);

  /// Re-arms for the earliest deadline if that is sooner than what is armed; call after
  /// anything that may add an earlier deadline. (A deadline withdrawn meanwhile is harmless:
  /// the timer fires, finds nothing due, and re-arms for the next.)
  void schedule();
  /// Disarms for good (server shutdown), so that the event loop can run out of work.
  void stop();

 private:
  void on_expiry();

  SteadyTimer timer_;
  std::function<std::optional<TimePoint>()> next_deadline_;
  std::function<void(TimePoint)> fire_;
  std::optional<TimePoint> armed_for_;
  bool stopped_ = false;
};

}  // namespace tnl
