// The open HTTP connections: counted, evicted when the server is full, stopped together.
//
// At the connection cap, a new connection evicts the one that has waited longest with no
// request in progress: an idle keep-alive connection, a head still arriving (a slowloris),
// or one lingering after its last answer. Like nginx, which closes its oldest "reusable"
// (idle keep-alive) connections when it runs out (ngx_drain_connections), so that a probe is
// answered however many idle or slow clients are connected; unlike nginx, a head still
// arriving counts too, since that is what a slowloris looks like. A request whose head is
// complete (its body being read, or its answer being written) is never evicted: those are
// bounded by the request and write timeouts instead.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>

namespace tnl {

class HttpConnection;

class HttpConnectionManager {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  /// `on_change` runs whenever the count of connections or of evictable ones changes (the
  /// acceptor pauses when full with nothing to evict, and goes on when there is room).
  explicit HttpConnectionManager(std::function<void()> on_change);

  /// Adds `connection` and starts it.
  void start(const std::shared_ptr<HttpConnection>& connection);
  /// Forgets connection `id`; called by the connection itself once it has ended.
  void remove(std::uint64_t id);
  /// Connection `id` has had no request in progress since `since`: it may be evicted.
  void evictable(std::uint64_t id, TimePoint since);
  /// Connection `id` has a request in progress: never evicted.
  void busy(std::uint64_t id);
  /// Stops the connection that has been evictable longest; false when there is none.
  bool evict_oldest();
  [[nodiscard]] bool has_evictable() const { return !evictable_.empty(); }
  /// Number of open connections.
  [[nodiscard]] std::size_t size() const { return connections_.size(); }
  /// Stops every connection (server shutdown).
  void stop_all();

 private:
  /// Takes connection `id` off the evictable ones; false when it was not among them.
  bool withdraw(std::uint64_t id);

  std::unordered_map<std::uint64_t, std::shared_ptr<HttpConnection>> connections_;
  /// Evictable connections, longest evictable first.
  std::set<std::pair<TimePoint, std::uint64_t>> evictable_;
  /// Each evictable connection's key in evictable_.
  std::unordered_map<std::uint64_t, TimePoint> evictable_since_;
  std::function<void()> on_change_;
};

}  // namespace tnl
