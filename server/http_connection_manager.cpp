#include "http_connection_manager.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "http_connection.hpp"

namespace tnl {

HttpConnectionManager::HttpConnectionManager(std::function<void()> on_room) : on_room_(std::move(on_room)) {}

void HttpConnectionManager::start(const std::shared_ptr<HttpConnection>& connection) {
  connections_.emplace(connection->id(), connection);
  connection->start();
}

void HttpConnectionManager::remove(std::uint64_t id) {
  busy(id);
  if (connections_.erase(id) != 0 && on_room_) on_room_();
}

void HttpConnectionManager::evictable(std::uint64_t id, TimePoint since) {
  busy(id);
  evictable_.emplace(since, id);
  evictable_since_.emplace(id, since);
  if (on_room_) on_room_();
}

void HttpConnectionManager::busy(std::uint64_t id) {
  const auto it = evictable_since_.find(id);
  if (it == evictable_since_.end()) return;
  evictable_.erase({it->second, id});
  evictable_since_.erase(it);
}

bool HttpConnectionManager::evict_oldest() {
  if (evictable_.empty()) return false;
  const std::uint64_t id = evictable_.begin()->second;
  const auto it = connections_.find(id);
  if (it == connections_.end()) {  // cannot happen: remove() withdraws it
    busy(id);
    return false;
  }
  const std::shared_ptr<HttpConnection> connection = it->second;  // it removes itself
  spdlog::debug("HTTP connection {} from {} evicted: at the connection limit", id, connection->peer());
  connection->stop();
  return true;
}

void HttpConnectionManager::stop_all() {
  // Each removes itself while being stopped, so iterate over a copy.
  std::vector<std::shared_ptr<HttpConnection>> connections;
  connections.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) connections.push_back(connection);
  on_room_ = nullptr;
  for (const auto& connection : connections) connection->stop();
}

}  // namespace tnl
