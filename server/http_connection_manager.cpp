#include "http_connection_manager.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "http_connection.hpp"

namespace tnl {

HttpConnectionManager::HttpConnectionManager(std::function<void()> on_change) : on_change_(std::move(on_change)) {}

void HttpConnectionManager::start(const std::shared_ptr<HttpConnection>& connection) {
  connections_.emplace(connection->id(), connection);
  connection->start();
  if (on_change_) on_change_();
}

void HttpConnectionManager::remove(std::uint64_t id) {
  withdraw(id);
  if (connections_.erase(id) != 0 && on_change_) on_change_();
}

void HttpConnectionManager::evictable(std::uint64_t id, TimePoint since, Eviction kind) {
  withdraw(id);
  const Key key{kind, since, id};
  evictable_.insert(key);
  keys_.emplace(id, key);
  if (on_change_) on_change_();
}

void HttpConnectionManager::busy(std::uint64_t id) {
  if (withdraw(id) && on_change_) on_change_();
}

bool HttpConnectionManager::withdraw(std::uint64_t id) {
  const auto it = keys_.find(id);
  if (it == keys_.end()) return false;
  evictable_.erase(it->second);
  keys_.erase(it);
  return true;
}

bool HttpConnectionManager::evict_oldest() {
  if (evictable_.empty()) return false;
  const auto [kind, since, id] = *evictable_.begin();
  const auto it = connections_.find(id);
  if (it == connections_.end()) {  // cannot happen: remove() withdraws it
    withdraw(id);
    return false;
  }
  const std::shared_ptr<HttpConnection> connection = it->second;  // it removes itself
  spdlog::debug("HTTP connection {} from {} evicted ({}): at the connection limit", id, connection->peer(),
                kind == Eviction::idle ? "idle" : "in the middle of a request");
  connection->stop();
  return true;
}

void HttpConnectionManager::stop_all() {
  // Each removes itself while being stopped, so iterate over a copy.
  std::vector<std::shared_ptr<HttpConnection>> connections;
  connections.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) connections.push_back(connection);
  on_change_ = nullptr;
  for (const auto& connection : connections) connection->stop();
}

}  // namespace tnl
