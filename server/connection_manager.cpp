#include "connection_manager.hpp"

#include <vector>

#include "connection.hpp"

namespace tnl {

ConnectionManager::ConnectionManager(asio::io_context& io)
    : timer_(
          io,
          [this]() -> std::optional<TimePoint> {
            if (deadlines_.empty()) return std::nullopt;
            return deadlines_.begin()->first;
          },
          [this](TimePoint now) { fire(now); }) {}

void ConnectionManager::start(const std::shared_ptr<Connection>& connection) {
  connections_.emplace(connection->id(), connection);
  connection->start(static_cast<std::uint32_t>(random_()));
}

void ConnectionManager::remove(const std::shared_ptr<Connection>& connection) {
  reclaimable_.erase(connection->id());
  connections_.erase(connection->id());
  finish_if_all_closed();
}

void ConnectionManager::reclaimable(std::uint64_t id, bool yes) {
  if (yes) {
    reclaimable_.insert(id);
  } else {
    reclaimable_.erase(id);
  }
}

bool ConnectionManager::reclaim_oldest() {
  // The oldest few only: lingering ones whose last answer is still on its way are passed
  // over, and a newcomer is not worth a scan of thousands.
  constexpr int looked_at_most = 16;
  int looked = 0;
  for (auto id = reclaimable_.begin(); id != reclaimable_.end() && looked < looked_at_most; ++looked) {
    const auto it = connections_.find(*id);
    if (it == connections_.end()) {  // cannot happen: remove() forgets it
      id = reclaimable_.erase(id);
      continue;
    }
    const std::shared_ptr<Connection> connection = it->second;  // it removes itself
    ++id;  // before reclaim() erases it
    if (connection->reclaim()) return true;
  }
  return false;
}

void ConnectionManager::shut_down_all(std::function<void()> all_closed) {
  all_closed_ = std::move(all_closed);
  // A connection may end (and remove itself) while being told, so iterate over a copy.
  std::vector<std::shared_ptr<Connection>> connections;
  connections.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) connections.push_back(connection);
  for (const auto& connection : connections) connection->shut_down();
  finish_if_all_closed();
}

void ConnectionManager::finish_if_all_closed() {
  if (!connections_.empty() || !all_closed_) return;
  timer_.stop();
  std::exchange(all_closed_, nullptr)();
}

void ConnectionManager::add_deadline(std::uint64_t id, TimePoint when) {
  deadlines_.emplace(when, id);
  timer_.schedule();
}

void ConnectionManager::cancel_deadline(std::uint64_t id, TimePoint when) { deadlines_.erase({when, id}); }

void ConnectionManager::fire(TimePoint now) {
  // Taken off first: acting on one may end others or set new deadlines.
  std::vector<std::pair<TimePoint, std::uint64_t>> due;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    due.push_back(*deadlines_.begin());
    deadlines_.erase(deadlines_.begin());
  }
  for (const auto& [when, id] : due) {
    const auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    const std::shared_ptr<Connection> connection = it->second;  // it may remove itself
    connection->deadline_passed(when);
  }
}

}  // namespace tnl
