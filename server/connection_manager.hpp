// Tracks the open connections so that they can be counted and shut down together.
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_set>

namespace tnl {

class Connection;

class ConnectionManager {
 public:
  /// Adds `connection` and starts it.
  void start(const std::shared_ptr<Connection>& connection);
  /// Forgets `connection`; called by the connection itself once it has ended.
  void remove(const std::shared_ptr<Connection>& connection);
  /// Tells every connection that the server is going away (each answers `shutting-down`).
  void shut_down_all();
  /// Number of open connections.
  [[nodiscard]] std::size_t size() const { return connections_.size(); }

 private:
  std::unordered_set<std::shared_ptr<Connection>> connections_;
};

}  // namespace tnl
