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

void HttpConnectionManager::evictable(std::uint64_t id, TimePoint since) {
  withdraw(id);
  evictable_.emplace(since, id);
  evictable_since_.emplace(id, since);
  if (on_change_) on_change_();
}

void HttpConnectionManager::busy(std::uint64_t id) {
  if (withdraw(id) && on_change_) on_change_();
}

bool HttpConnectionManager::withdraw(std::uint64_t id) {
  const auto it = evictable_since_.find(id);
  if (it == evictable_since_.end()) return false;
  evictable_.erase({it->second, id});
  evictable_since_.erase(it);
  return true;
}

bool HttpConnectionManager::evict_oldest() {
  if (evictable_.empty()) return false;
  const std::uint64_t id = evictable_.begin()->second;
  const auto it = connections_.find(id);
  if (it == connections_.end()) {  // cannot happen: remove() withdraws it
    withdraw(id);
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
  on_change_ = nullptr;
  for (const auto& connection : connections) connection->stop();
}

}  // namespace tnl
