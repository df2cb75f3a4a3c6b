// The open HTTP connections: counted, evicted when the server is full, stopped together.
//
// At the connection cap, a new connection evicts the one that has waited longest with no
// request in progress: an idle keep-alive connection, a head still arriving (a slowloris),
// or one lingering after its last answer. Like nginx, which closes its oldest "reusable"
// (idle keep-alive) connections when it runs out (ngx_drain_connections), so that a probe is
// answered however many idle or slow clients are connected; unlike nginx, a head still
// arriving counts too, since that is what a slowloris looks like. Only when there is none,
// as a last resort, goes the one that has waited longest on a client in the middle of a
// request that has not changed anything: a body still arriving (nothing was acted on yet),
// or an answer that the client does not take (a slow reader). The answer to a create,
// renew or release that succeeded is not evicted while its client takes it: the client must
// learn what happened (a lock created but never reported would be held by nobody who knows
// its id). Clients take answers at once unless they do not read, so that protection ends
// after HttpConnectionSettings::protected_write; while every connection is writing such an
// answer, the newcomer waits in the kernel's backlog.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <tuple>
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

  /// Which evictable connections go first.
  enum class Eviction : std::uint8_t {
    idle,         ///< no request in progress
    last_resort,  ///< in the middle of a request that changed nothing yet
  };

  /// Adds `connection` and starts it.
  void start(const std::shared_ptr<HttpConnection>& connection);
  /// Forgets connection `id`; called by the connection itself once it has ended.
  void remove(std::uint64_t id);
  /// Connection `id` may be evicted, as `kind`, since `since`.
  void evictable(std::uint64_t id, TimePoint since, Eviction kind = Eviction::idle);
  /// Connection `id` may not be evicted.
  void busy(std::uint64_t id);
  /// Stops the idle connection that has been idle longest, else the last-resort one that has
  /// waited longest; false when there is none.
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
  /// Evictable connections, in the order they go.
  using Key = std::tuple<Eviction, TimePoint, std::uint64_t>;
  std::set<Key> evictable_;
  /// Each evictable connection's key in evictable_.
  std::unordered_map<std::uint64_t, Key> keys_;
  std::function<void()> on_change_;
};

}  // namespace tnl
