#include "lock_table.hpp"

#include <algorithm>
#include <utility>

namespace tnl {

namespace {
/// Locks are exclusive in this version; semaphores will make this per entry.
constexpr std::size_t holder_limit = 1;

const std::vector<LockTable::Holder> no_holders;
}  // namespace

void LockTable::acquire(Request request, TimePoint now, Completion done) {
  auto [it, inserted] = entries_.try_emplace(request.name);
  Entry& entry = it->second;
  // FIFO: a newcomer never overtakes a queued request, even if there is room.
  if (entry.holders.size() < holder_limit && entry.waiters.empty()) {
    if (entry.holders.empty()) ++held_count_;
    entry.holders.push_back(Holder{request.owner, std::move(request.client_id), now});
    done(Outcome::granted);
    return;
  }
  if (!request.deadline || *request.deadline <= now) {
    if (inserted) entries_.erase(it);
    done(Outcome::not_granted);
    return;
  }
  auto deadline = deadlines_.emplace(*request.deadline, std::make_pair(request.name, request.owner));
  entry.waiters.push_back(Waiter{Holder{request.owner, std::move(request.client_id), now}, std::move(done), deadline});
}

bool LockTable::release(const std::string& name, OwnerId owner, TimePoint now) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  auto& holders = it->second.holders;
  const auto holder = std::find_if(holders.begin(), holders.end(), [&](const Holder& h) { return h.owner == owner; });
  if (holder == holders.end()) return false;
  holders.erase(holder);
  if (holders.empty()) --held_count_;

  std::vector<Completion> granted = grant_waiters(it->second, now);
  erase_if_idle(it);
  // The table is consistent before any completion runs, so completions may call back in.
  for (auto& done : granted) done(Outcome::granted);
  return true;
}

bool LockTable::cancel(const std::string& name, OwnerId owner) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  auto& waiters = it->second.waiters;
  const auto waiter =
      std::find_if(waiters.begin(), waiters.end(), [&](const Waiter& w) { return w.holder.owner == owner; });
  if (waiter == waiters.end()) return false;
  deadlines_.erase(waiter->deadline);
  waiters.erase(waiter);
  erase_if_idle(it);
  return true;
}

void LockTable::expire(TimePoint now) {
  std::vector<Completion> timed_out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto [name, owner] = deadlines_.begin()->second;
    const auto it = entries_.find(name);
    auto& waiters = it->second.waiters;
    const auto waiter =
        std::find_if(waiters.begin(), waiters.end(), [&](const Waiter& w) { return w.holder.owner == owner; });
    timed_out.push_back(std::move(waiter->done));
    deadlines_.erase(waiter->deadline);
    waiters.erase(waiter);
    erase_if_idle(it);
  }
  for (auto& done : timed_out) done(Outcome::timed_out);
}

std::optional<LockTable::TimePoint> LockTable::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

const std::vector<LockTable::Holder>& LockTable::holders(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? no_holders : it->second.holders;
}

std::size_t LockTable::waiters(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? 0 : it->second.waiters.size();
}

std::vector<LockTable::Completion> LockTable::grant_waiters(Entry& entry, TimePoint now) {
  std::vector<Completion> granted;
  while (entry.holders.size() < holder_limit && !entry.waiters.empty()) {
    Waiter& next = entry.waiters.front();
    if (entry.holders.empty()) ++held_count_;
    next.holder.since = now;
    entry.holders.push_back(std::move(next.holder));
    deadlines_.erase(next.deadline);
    granted.push_back(std::move(next.done));
    entry.waiters.pop_front();
  }
  return granted;
}

void LockTable::erase_if_idle(std::unordered_map<std::string, Entry>::iterator it) {
  if (it->second.holders.empty() && it->second.waiters.empty()) entries_.erase(it);
}

}  // namespace tnl
