#include "connection_manager.hpp"

#include <vector>

#include "connection.hpp"

namespace tnl {

void ConnectionManager::start(const std::shared_ptr<Connection>& connection) {
  connections_.insert(connection);
  connection->start();
}

void ConnectionManager::remove(const std::shared_ptr<Connection>& connection) { connections_.erase(connection); }

void ConnectionManager::shut_down_all() {
  // A connection may end (and remove itself) while being told, so iterate over a copy.
  const std::vector<std::shared_ptr<Connection>> connections(connections_.begin(), connections_.end());
  for (const auto& connection : connections) connection->shut_down();
}

}  // namespace tnl
