#include "connection_manager.hpp"

#include <vector>

#include "connection.hpp"

namespace tnl {

void ConnectionManager::start(const std::shared_ptr<Connection>& connection) {
  connections_.emplace(connection->id(), connection);
  connection->start();
}

void ConnectionManager::remove(const std::shared_ptr<Connection>& connection) {
  connections_.erase(connection->id());
  if (connections_.empty() && all_closed_) std::exchange(all_closed_, nullptr)();
}

Connection* ConnectionManager::find(std::uint64_t id) const {
  const auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void ConnectionManager::shut_down_all(std::function<void()> all_closed) {
  all_closed_ = std::move(all_closed);
  // A connection may end (and remove itself) while being told, so iterate over a copy.
  std::vector<std::shared_ptr<Connection>> connections;
  connections.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) connections.push_back(connection);
  for (const auto& connection : connections) connection->shut_down();
  if (connections_.empty() && all_closed_) std::exchange(all_closed_, nullptr)();
}

}  // namespace tnl
