#include "waiter_queues.hpp"

#include <algorithm>
#include <limits>

namespace tnl::etcd {

const WaiterQueues::Waiter* WaiterQueues::front(const Queue& queue) {
  const Waiter* best = nullptr;
  for (const auto& waiter : queue) {
    if (waiter.revision != 0 && (best == nullptr || waiter.revision < best->revision)) best = &waiter;
  }
  return best;
}

WaiterQueues::Waiter* WaiterQueues::find(Queue& queue, const LockId& id) {
  const auto it = std::find_if(queue.begin(), queue.end(), [&](const Waiter& w) { return w.id == id; });
  return it == queue.end() ? nullptr : &*it;
}

void WaiterQueues::sent(const std::string& name, const LockId& id, std::size_t limit) {
  Waiter waiter;
  waiter.id = id;
  waiter.limit = limit;
  names_[name].push_back(waiter);
  ++size_;
}

bool WaiterQueues::waiting(const std::string& name, const LockId& id, Revision revision, Revision predecessor,
                           Revision at, std::string predecessor_key) {
  const auto it = names_.find(name);
  if (it == names_.end()) return false;
  Waiter* waiter = find(it->second, id);
  if (waiter == nullptr) return false;
  waiter->revision = revision;
  waiter->predecessor = predecessor;
  waiter->predecessor_key = predecessor == 0 ? std::string{} : std::move(predecessor_key);
  waiter->in_flight = false;
  const Revision seen = waiter->seen_delete;
  waiter->seen_delete = 0;
  // Only the earliest looks; a later one will when it becomes the earliest.
  return front(it->second) == waiter && seen > at;
}

void WaiterQueues::checking(const std::string& name, const LockId& id) {
  const auto it = names_.find(name);
  if (it == names_.end()) return;
  if (Waiter* waiter = find(it->second, id)) {
    waiter->in_flight = true;
    waiter->seen_delete = 0;
  }
}

std::optional<LockId> WaiterQueues::remove(const std::string& name, const LockId& id) {
  const auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  Queue& queue = it->second;
  const Waiter* before = front(queue);
  const bool was_front = before != nullptr && before->id == id;
  const auto found = std::find_if(queue.begin(), queue.end(), [&](const Waiter& w) { return w.id == id; });
  if (found == queue.end()) return std::nullopt;
  queue.erase(found);
  --size_;
  if (queue.empty()) {
    names_.erase(it);
    created_.erase(name);
    return std::nullopt;
  }
  if (!was_front) return std::nullopt;
  const Waiter* next = front(queue);
  if (next == nullptr || next->in_flight) return std::nullopt;
  return next->id;
}

std::vector<LockId> WaiterQueues::deleted(const std::string& name, Revision created, Revision at,
                                          std::string_view key) {
  std::vector<LockId> due;
  const auto it = names_.find(name);
  if (it == names_.end()) return due;
  Queue& queue = it->second;
  const Waiter* active = front(queue);
  for (auto& waiter : queue) {
    // A key created after this request's own is never in its way.
    if (created != 0 && waiter.revision != 0 && created >= waiter.revision) continue;
    if (waiter.in_flight) {
      waiter.seen_delete = std::max(waiter.seen_delete, at);
      continue;
    }
    if (&waiter != active) continue;
    const bool mutex = waiter.limit == 1 && waiter.predecessor != 0;
    // By key when known: a remembered revision may be stale (the key deleted and made again
    // while the watch missed events), a key is not. A key made again after the predecessor's
    // deletion is created after this waiter's: at worst a needless look.
    const bool predecessor = !waiter.predecessor_key.empty() ? key == waiter.predecessor_key
                                                             : created == 0 || created == waiter.predecessor;
    if (!mutex || predecessor) due.push_back(waiter.id);
  }
  return due;
}

void WaiterQueues::put(const std::string& name, const std::string& key, Revision revision) {
  if (names_.count(name) == 0) return;
  created_[name][key] = revision;
}

std::vector<LockId> WaiterQueues::deleted_key(const std::string& name, const std::string& key, Revision at) {
  if (names_.count(name) == 0) return {};
  Revision created = 0;
  const auto known = created_.find(name);
  if (known != created_.end()) {
    const auto it = known->second.find(key);
    if (it != known->second.end()) {
      created = it->second;
      known->second.erase(it);
    }
  }
  return deleted(name, created, at, key);
}

void WaiterQueues::forget_created() {
  created_.clear();
  // A request whose check is on its way is not in all_active(), and its answer may have been
  // read before a deletion the watch never delivered: it looks again once answered.
  for (auto& [name, queue] : names_) {
    for (auto& waiter : queue) {
      if (waiter.in_flight) waiter.seen_delete = std::numeric_limits<Revision>::max();
    }
  }
}

std::size_t WaiterQueues::remembered() const {
  std::size_t count = 0;
  for (const auto& [name, keys] : created_) count += keys.size();
  return count;
}

std::vector<std::pair<std::string, LockId>> WaiterQueues::all_active() const {
  std::vector<std::pair<std::string, LockId>> out;
  for (const auto& [name, queue] : names_) {
    const Waiter* waiter = front(queue);
    if (waiter != nullptr && !waiter->in_flight) out.emplace_back(name, waiter->id);
  }
  return out;
}

std::optional<LockId> WaiterQueues::active(const std::string& name) const {
  const auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  const Waiter* waiter = front(it->second);
  if (waiter == nullptr) return std::nullopt;
  return waiter->id;
}

bool WaiterQueues::contains(const std::string& name, const LockId& id) const {
  const auto it = names_.find(name);
  if (it == names_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [&](const Waiter& w) { return w.id == id; });
}

}  // namespace tnl::etcd
