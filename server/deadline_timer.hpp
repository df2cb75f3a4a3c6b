// One timer for all queued lock requests: armed for the lock table's earliest deadline,
// instead of one timer per waiting connection.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <optional>

#include "lock_table.hpp"

namespace tnl {

class WaitTimer {
 public:
  WaitTimer(asio::io_context& io, LockTable& locks);

  /// Re-arms for the table's earliest deadline if that is sooner than what is armed;
  /// call after queuing a request.
  void schedule();
  /// Disarms for good (server shutdown), so that the event loop can run out of work.
  void stop();

 private:
  void on_expiry();

  asio::steady_timer timer_;
  LockTable& locks_;
  std::optional<LockTable::TimePoint> armed_for_;
  bool stopped_ = false;
};

}  // namespace tnl
