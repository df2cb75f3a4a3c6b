#include "lock_table.hpp"

#include <algorithm>
#include <utility>

namespace tnl {

namespace {
const std::vector<LockTable::Holder> no_holders;
}  // namespace

LockTable::LockTable(TokenSource next_token) : next_token_(std::move(next_token)) {
  if (!next_token_) next_token_ = [last = Token{0}]() mutable { return ++last; };
}

void LockTable::acquire(Request request, TimePoint now, Completion done) {
  auto [it, inserted] = entries_.try_emplace(request.name);
  Entry& entry = it->second;
  if (inserted) {
    entry.limit = request.limit;
  } else if (entry.limit != request.limit) {
    done(Outcome::limit_mismatch, 0);
    return;
  }
  Holder holder{request.owner, std::move(request.client_id), std::move(request.peer), std::move(request.reason), now,
                0};
  // FIFO: a newcomer never overtakes a queued request, even if there is room.
  if (entry.holders.size() < entry.limit && entry.waiters.empty()) {
    const Token token = grant(entry, std::move(holder), now);
    done(Outcome::granted, token);
    return;
  }
  if (!request.deadline || *request.deadline <= now) {
    if (inserted) entries_.erase(it);
    done(Outcome::not_granted, 0);
    return;
  }
  auto deadline = deadlines_.emplace(*request.deadline, std::make_pair(request.name, request.owner));
  entry.waiters.push_back(Waiter{std::move(holder), std::move(done), deadline});
}

bool LockTable::release(const std::string& name, OwnerId owner, TimePoint now) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return false;
  Entry& entry = it->second;
  const auto holder =
      std::find_if(entry.holders.begin(), entry.holders.end(), [&](const Holder& h) { return h.owner == owner; });
  if (holder == entry.holders.end()) return false;
  entry.holders.erase(holder);
  if (entry.holders.empty()) --held_count_;

  // Hand the lock on within this call: no polling, no trip through the event loop.
  std::vector<std::pair<Completion, Token>> granted;
  while (entry.holders.size() < entry.limit && !entry.waiters.empty()) {
    Waiter next = std::move(entry.waiters.front());
    entry.waiters.pop_front();
    deadlines_.erase(next.deadline);
    granted.emplace_back(std::move(next.done), grant(entry, std::move(next.holder), now));
  }
  erase_if_idle(it);
  // The table is consistent before any completion runs, so completions may call back in.
  for (auto& [done, token] : granted) done(Outcome::granted, token);
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
  for (auto& done : timed_out) done(Outcome::timed_out, 0);
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

std::vector<LockTable::NameState> LockTable::snapshot(const std::optional<std::string>& name) const {
  std::vector<NameState> states;
  if (name) {
    const auto it = entries_.find(*name);
    if (it != entries_.end()) states.push_back(describe(it->first, it->second));
    return states;
  }
  states.reserve(entries_.size());
  for (const auto& [entry_name, entry] : entries_) states.push_back(describe(entry_name, entry));
  std::sort(states.begin(), states.end(), [](const NameState& a, const NameState& b) { return a.name < b.name; });
  return states;
}

LockTable::Token LockTable::grant(Entry& entry, Holder holder, TimePoint now) {
  if (entry.holders.empty()) ++held_count_;
  holder.since = now;
  holder.token = next_token_();
  entry.holders.push_back(std::move(holder));
  return entry.holders.back().token;
}

void LockTable::erase_if_idle(Entries::iterator it) {
  if (it->second.holders.empty() && it->second.waiters.empty()) entries_.erase(it);
}

LockTable::NameState LockTable::describe(const std::string& name, const Entry& entry) {
  return NameState{name, entry.limit, entry.holders, entry.waiters.size()};
}

}  // namespace tnl
