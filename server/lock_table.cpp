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
  Holder holder{request.id,    request.owner, request.kind, std::move(request.client_id), std::move(request.peer),
                std::move(request.reason), now, 0, std::nullopt};
  const auto ttl = request.kind == Kind::detached ? request.ttl : std::nullopt;
  // FIFO: a newcomer never overtakes a queued request, even if there is room.
  if (entry.holders.size() < entry.limit && entry.waiters.empty()) {
    const Token token = grant(it->first, entry, std::move(holder), ttl, now);
    done(Outcome::granted, token);
    return;
  }
  if (!request.deadline || *request.deadline <= now) {
    if (inserted) entries_.erase(it);
    done(Outcome::not_granted, 0);
    return;
  }
  auto deadline = deadlines_.emplace(*request.deadline, std::make_pair(request.name, request.owner));
  entry.waiters.push_back(Waiter{std::move(holder), std::move(done), deadline, ttl});
}

std::optional<LockTable::Holder> LockTable::release(const std::string& name, OwnerId owner, TimePoint now) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  Entry& entry = it->second;
  const auto found =
      std::find_if(entry.holders.begin(), entry.holders.end(), [&](const Holder& h) { return h.owner == owner; });
  if (found == entry.holders.end()) return std::nullopt;
  Holder freed = std::move(*found);
  entry.holders.erase(found);
  if (freed.kind == Kind::detached) detached_ids_.erase(freed.id);
  drop_lease(freed);
  --holder_counts_[static_cast<int>(freed.kind)];
  if (entry.holders.empty()) --held_count_;

  // Hand the lock on within this call: no polling, no trip through the event loop.
  std::vector<std::pair<Completion, Token>> granted;
  while (entry.holders.size() < entry.limit && !entry.waiters.empty()) {
    Waiter next = std::move(entry.waiters.front());
    entry.waiters.pop_front();
    deadlines_.erase(next.deadline);
    granted.emplace_back(std::move(next.done), grant(it->first, entry, std::move(next.holder), next.ttl, now));
  }
  erase_if_idle(it);
  // The table is consistent before any completion runs, so completions may call back in.
  for (auto& [done, token] : granted) done(Outcome::granted, token);
  return freed;
}

std::optional<LockTable::Held> LockTable::release(const LockId& id, TimePoint now) {
  const auto [entry, holder] = locate(id);
  if (holder == nullptr) return std::nullopt;
  std::string name = entry->first;
  auto freed = release(name, holder->owner, now);
  return Held{std::move(name), std::move(*freed)};
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

std::optional<LockTable::Held> LockTable::find(const LockId& id) const {
  const auto [entry, holder] = locate(id);
  if (holder == nullptr) return std::nullopt;
  return Held{entry->first, *holder};
}

std::pair<LockTable::Entries::const_iterator, const LockTable::Holder*> LockTable::locate(const LockId& id) const {
  const auto holder_in = [&id](const Entry& entry) -> const Holder* {
    for (const auto& holder : entry.holders) {
      if (holder.id == id) return &holder;
    }
    return nullptr;
  };
  if (const auto known = detached_ids_.find(id); known != detached_ids_.end()) {
    const auto entry = entries_.find(known->second);
    return {entry, holder_in(entry->second)};
  }
  for (auto entry = entries_.begin(); entry != entries_.end(); ++entry) {
    if (const Holder* holder = holder_in(entry->second)) return {entry, holder};
  }
  return {entries_.end(), nullptr};
}

bool LockTable::renew(const LockId& id, std::optional<TimePoint> expires) {
  const auto it = detached_ids_.find(id);
  if (it == detached_ids_.end()) return false;
  auto& holders = entries_.at(it->second).holders;
  const auto holder = std::find_if(holders.begin(), holders.end(), [&](const Holder& h) { return h.id == id; });
  drop_lease(*holder);
  holder->expires = expires;
  if (expires) leases_.emplace(*expires, id);
  return true;
}

bool LockTable::restore(const std::string& name, std::size_t limit, Holder holder) {
  auto [it, inserted] = entries_.try_emplace(name);
  Entry& entry = it->second;
  if (inserted) entry.limit = limit;
  if (entry.limit != limit || entry.holders.size() >= entry.limit || locate(holder.id).second != nullptr) {
    if (inserted) entries_.erase(it);
    return false;
  }
  holder.kind = Kind::detached;
  add_holder(it->first, entry, std::move(holder));
  return true;
}

std::vector<LockTable::Held> LockTable::expire(TimePoint now) {
  std::vector<Completion> timed_out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto [name, owner] = deadlines_.begin()->second;
    const auto it = entries_.find(name);
    auto& waiters = it->second.waiters;
    // `owner` is captured by copy: C++17 cannot capture a structured binding (clang refuses).
    const auto waiter = std::find_if(waiters.begin(), waiters.end(),
                                     [owner = owner](const Waiter& w) { return w.holder.owner == owner; });
    timed_out.push_back(std::move(waiter->done));
    deadlines_.erase(waiter->deadline);
    waiters.erase(waiter);
    erase_if_idle(it);
  }
  for (auto& done : timed_out) done(Outcome::timed_out, 0);

  // Leases last: a waiter whose deadline is the very moment a lease ends has given up.
  std::vector<Held> expired;
  while (!leases_.empty() && leases_.begin()->first <= now) {
    auto freed = release(leases_.begin()->second, now);
    expired.push_back(std::move(*freed));
  }
  return expired;
}

std::optional<LockTable::TimePoint> LockTable::next_deadline() const {
  std::optional<TimePoint> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (!leases_.empty() && (!next || leases_.begin()->first < *next)) next = leases_.begin()->first;
  return next;
}

const std::vector<LockTable::Holder>& LockTable::holders(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? no_holders : it->second.holders;
}

std::size_t LockTable::waiters(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? 0 : it->second.waiters.size();
}

void LockTable::visit(const std::optional<std::string>& name, const NameVisitor& visit) const {
  if (name) {
    const auto it = entries_.find(*name);
    if (it != entries_.end()) visit(it->first, it->second.limit, it->second.holders, it->second.waiters.size());
    return;
  }
  std::vector<const Entries::value_type*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& entry : entries_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : sorted) {
    visit(entry->first, entry->second.limit, entry->second.holders, entry->second.waiters.size());
  }
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

LockTable::Token LockTable::grant(const std::string& name, Entry& entry, Holder holder,
                                  std::optional<Clock::duration> ttl, TimePoint now) {
  holder.since = now;
  holder.token = next_token_();
  if (ttl) holder.expires = now + *ttl;
  const Token token = holder.token;
  add_holder(name, entry, std::move(holder));
  return token;
}

void LockTable::add_holder(const std::string& name, Entry& entry, Holder holder) {
  if (entry.holders.empty()) ++held_count_;
  ++holder_counts_[static_cast<int>(holder.kind)];
  if (holder.kind == Kind::detached) detached_ids_.emplace(holder.id, name);
  if (holder.expires) leases_.emplace(*holder.expires, holder.id);
  entry.holders.push_back(std::move(holder));
}

void LockTable::drop_lease(const Holder& holder) {
  if (!holder.expires) return;
  auto [first, last] = leases_.equal_range(*holder.expires);
  for (auto it = first; it != last; ++it) {
    if (it->second == holder.id) {
      leases_.erase(it);
      return;
    }
  }
}

void LockTable::erase_if_idle(Entries::iterator it) {
  if (it->second.holders.empty() && it->second.waiters.empty()) entries_.erase(it);
}

LockTable::NameState LockTable::describe(const std::string& name, const Entry& entry) {
  NameState state{name, entry.limit, entry.holders, {}};
  state.waiters.reserve(entry.waiters.size());
  for (const auto& waiter : entry.waiters) state.waiters.push_back(waiter.holder);
  return state;
}

}  // namespace tnl
