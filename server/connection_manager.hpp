// Tracks the open connections so that they can be counted, shut down together and, at the lock port's limit, closed to make room when they
// are idle, and keeps their deadlines (first-line timeout, linger limit, holder timeout) on
// one shared timer.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

#include "deadline_timer.hpp"

namespace tnl {

class Connection;

class ConnectionManager {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit ConnectionManager(asio::io_context& io);

  /// Adds `connection` and starts it (with a random draw for its keepalive schedule).
  void start(const std::shared_ptr<Connection>& connection);
  /// Forgets `connection`; called by the connection itself once it has ended.
  void remove(const std::shared_ptr<Connection>& connection);
  /// Tells every connection that the server is going away (each answers `shutting-down`);
  /// `all_closed` runs once the last one has ended (at once if there is none).
  void shut_down_all(std::function<void()> all_closed);
  /// Number of open connections.
  [[nodiscard]] std::size_t size() const { return connections_.size(); }

  /// Whether connection `id` may be closed to make room for a new one: it has not sent a
  /// complete line yet, or it lingers after its last answer (either way it holds nothing,
  /// waits for nothing and is owed nothing).
  void reclaimable(std::uint64_t id, bool yes);
  /// At the lock port's limit: ends the reclaimable connection accepted first (ids rise in
  /// accept order) that can go now (Connection::reclaim), as nginx closes its oldest idle
  /// connections when it runs out; false when there is none (every connection holds,
  /// waits or is being answered).
  bool reclaim_oldest();

  /// Calls Connection::deadline_passed(when) on connection `id` at `when` (the connection keeps
  /// its one deadline and withdraws it with cancel_deadline before setting another).
  void add_deadline(std::uint64_t id, TimePoint when);
  /// Withdraws a deadline added with add_deadline.
  void cancel_deadline(std::uint64_t id, TimePoint when);

 private:
  /// Once shutting down and the last connection has ended: stops the timer, runs all_closed_.
  void finish_if_all_closed();
  /// Acts on every connection deadline due by `now`.
  void fire(TimePoint now);

  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  /// Pending deadlines, earliest first. Only connections that have not sent their first
  /// line, are closing, or hold a lock under a holder timeout have one: an idle holder
  /// costs no timer at all (a timer per connection cost 120 bytes each).
  std::set<std::pair<TimePoint, std::uint64_t>> deadlines_;
  /// Connections that may be closed to make room, oldest first.
  std::set<std::uint64_t> reclaimable_;
  DeadlineTimer timer_;
  std::function<void()> all_closed_;
  /// Spreads the connections' keepalive schedules (socket_options.hpp, spread_keepalive).
  std::mt19937 random_{std::random_device{}()};
};

}  // namespace tnl
