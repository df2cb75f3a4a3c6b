// One timer for every deadline in the lock table (queued requests' waits and detached
// locks' leases): armed for the earliest, instead of one timer per waiter or lease.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <optional>

#include "lock_table.hpp"

namespace tnl {

class DeadlineTimer {
 public:
  /// `fire(now)` acts on everything due by `now` (LockTable::expire and what follows it).
  DeadlineTimer(asio::io_context& io, const LockTable& locks, std::function<void(LockTable::TimePoint)> fire);

  /// Re-arms for the table's earliest deadline if that is sooner than what is armed;
  /// call after anything that may add an earlier deadline.
  void schedule();
  /// Disarms for good (server shutdown), so that the event loop can run out of work.
  void stop();

 private:
  void on_expiry();

  asio::steady_timer timer_;
  const LockTable& locks_;
  std::function<void(LockTable::TimePoint)> fire_;
  std::optional<LockTable::TimePoint> armed_for_;
  bool stopped_ = false;
};

}  // namespace tnl
