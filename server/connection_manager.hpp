// Tracks the open connections so that they can be counted, found by id (for a forced
// release) and shut down together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

namespace tnl {

class Connection;

class ConnectionManager {
 public:
  /// Adds `connection` and starts it.
  void start(const std::shared_ptr<Connection>& connection);
  /// Forgets `connection`; called by the connection itself once it has ended.
  void remove(const std::shared_ptr<Connection>& connection);
  /// The open connection with this id, or null.
  [[nodiscard]] Connection* find(std::uint64_t id) const;
  /// Tells every connection that the server is going away (each answers `shutting-down`);
  /// `all_closed` runs once the last one has ended (at once if there is none).
  void shut_down_all(std::function<void()> all_closed);
  /// Number of open connections.
  [[nodiscard]] std::size_t size() const { return connections_.size(); }

 private:
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::function<void()> all_closed_;
};

}  // namespace tnl
