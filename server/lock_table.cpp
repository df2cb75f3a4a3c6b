#include "lock_table.hpp"

#include <algorithm>
#include <utility>

namespace tnl {

namespace {
const std::vector<LockTable::Holder> no_holders;
/// Queued completions beyond this are given back after a drain (a long handoff's).
constexpr std::size_t kept_pending_capacity = 64;
}  // namespace

LockTable::LockTable(TokenSource tokens) : tokens_(std::move(tokens)) {}

LockTable::Token LockTable::next_token() { return tokens_.next ? tokens_.next() : ++last_token_; }

void LockTable::raise_tokens_above(Token token) {
  if (!tokens_.next) {
    last_token_ = std::max(last_token_, token);
  } else if (tokens_.raise_above) {
    tokens_.raise_above(token);
  }
}

void LockTable::complete(Completion done, Outcome outcome, Token token) {
  pending_.push_back(Pending{std::move(done), outcome, token});
}

void LockTable::drain() {
  if (draining_) return;  // a completion up the stack runs the queue: never nest
  draining_ = true;
  std::size_t next = 0;
  // Leaves the queue consistent even if a completion throws: what ran is dropped, the
  // rest stays queued for the next call.
  struct Finish {
    LockTable& table;
    std::size_t& ran;
    ~Finish() {
      table.pending_.erase(table.pending_.begin(), table.pending_.begin() + static_cast<std::ptrdiff_t>(ran));
      if (table.pending_.empty() && table.pending_.capacity() > kept_pending_capacity) {
        std::vector<Pending>().swap(table.pending_);
      }
      table.draining_ = false;
    }
  } finish{*this, next};
  // By index, not by iterator: a completion may queue more (which may reallocate).
  while (next < pending_.size()) {
    Pending current = std::move(pending_[next]);
    ++next;
    current.done(current.outcome, current.token);
  }
}

void LockTable::acquire(Request request, TimePoint now, Completion done) {
  if (shut_down_) {
    complete(std::move(done), Outcome::unavailable, 0);
    return drain();
  }
  auto [it, inserted] = entries_.try_emplace(request.name);
  Entry& entry = it->second;
  if (inserted) {
    entry.limit = request.limit;
  } else if (entry.limit != request.limit) {
    complete(std::move(done), Outcome::limit_mismatch, 0);
    return drain();
  }
  Holder holder{request.id,    request.owner, request.kind, std::move(request.client_id), std::move(request.peer),
                std::move(request.reason), now, 0, std::nullopt};
  const auto ttl = request.kind == Kind::detached ? request.ttl : std::nullopt;
  // FIFO: a newcomer never overtakes a queued request, even if there is room.
  if (may_grant(entry, now) && entry.waiters.empty()) {
    const auto token = grant(it->first, entry, std::move(holder), ttl, request.shows_token, now);
    if (!token) erase_if_idle(it);
    complete(std::move(done), token ? Outcome::granted : Outcome::failed, token.value_or(0));
    return drain();
  }
  if (!request.deadline || *request.deadline <= now) {
    if (inserted) entries_.erase(it);
    complete(std::move(done), Outcome::not_granted, 0);
    return drain();
  }
  auto deadline = deadlines_.emplace(*request.deadline, std::make_pair(request.name, request.owner));
  entry.waiters.push_back(Waiter{std::move(holder), std::move(done), deadline, ttl, request.shows_token});
  ++version_;
}

LockTable::Holder LockTable::free_holder(Entries::iterator it, std::vector<Holder>::iterator holder, TimePoint now,
                                         Clock::duration delay) {
  Entry& entry = it->second;
  Holder freed = std::move(*holder);
  entry.holders.erase(holder);
  if (freed.kind == Kind::detached) detached_ids_.erase(freed.id);
  drop_lease(freed);
  --holder_counts_[static_cast<int>(freed.kind)];
  if (entry.holders.empty()) --held_count_;
  if (freed.kind != Kind::delay) {
    Oldest& oldest = oldest_[static_cast<int>(freed.kind)];
    if (holder_counts_[static_cast<int>(freed.kind)] == 0) {
      oldest = Oldest{};
    } else if (oldest.known && oldest.any && oldest.id == freed.id) {
      oldest.known = false;
    }
  }
  ++version_;

  if (delay > Clock::duration::zero() && !shut_down_) {
    // The slot stays taken until the delay ends: by a copy of the holder that lost it, so
    // that `.locks` says whose loss the name rests after. It has no owner: no release finds it.
    Holder rest = freed;
    rest.kind = Kind::delay;
    rest.owner = 0;
    rest.since = now;
    rest.expires = now + delay;
    const auto position = std::upper_bound(entry.delays.begin(), entry.delays.end(), *rest.expires,
                                           [](TimePoint end, const Holder& d) { return end < *d.expires; });
    entry.delays.insert(position, std::move(rest));
    delays_.emplace(now + delay, it->first);
    ++holder_counts_[static_cast<int>(Kind::delay)];
  }
  hand_on(it, now);
  return freed;
}

void LockTable::hand_on(Entries::iterator it, TimePoint now) {
  Entry& entry = it->second;
  // Hand the lock on within this call: no polling, no trip through the event loop. The
  // table is consistent before any completion runs, so completions may call back in.
  // A waiter whose grant is refused (its token is not durable) leaves the queue, and the
  // next one gets its chance.
  while (may_grant(entry, now) && !entry.waiters.empty()) {
    Waiter next = std::move(entry.waiters.front());
    entry.waiters.pop_front();
    deadlines_.erase(next.deadline);
    ++version_;
    const auto token = grant(it->first, entry, std::move(next.holder), next.ttl, next.shows_token, now);
    complete(std::move(next.done), token ? Outcome::granted : Outcome::failed, token.value_or(0));
  }
  erase_if_idle(it);
}

std::optional<LockTable::Holder> LockTable::release(const std::string& name, OwnerId owner, TimePoint now,
                                                    Clock::duration delay) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  auto& holders = it->second.holders;
  const auto found = std::find_if(holders.begin(), holders.end(), [&](const Holder& h) { return h.owner == owner; });
  if (found == holders.end()) return std::nullopt;
  Holder freed = free_holder(it, found, now, delay);
  drain();
  return freed;
}

std::optional<LockTable::Held> LockTable::release(const LockId& id, TimePoint now, Clock::duration delay) {
  const auto [entry, holder] = locate(id);
  if (entry == entries_.end()) return std::nullopt;
  std::string name = entry->first;
  Holder freed = free_holder(entry, holder, now, delay);
  drain();
  return Held{std::move(name), std::move(freed)};
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
  ++version_;
  return true;
}

const std::string* LockTable::key_of(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->first;
}

std::optional<LockTable::Holder> LockTable::cancel(const std::string& name, const LockId& id) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  auto& waiters = it->second.waiters;
  const auto waiter = std::find_if(waiters.begin(), waiters.end(), [&](const Waiter& w) { return w.holder.id == id; });
  if (waiter == waiters.end()) return std::nullopt;
  Holder withdrawn = std::move(waiter->holder);
  deadlines_.erase(waiter->deadline);
  waiters.erase(waiter);
  erase_if_idle(it);
  ++version_;
  return withdrawn;
}

std::optional<LockTable::Held> LockTable::find(const LockId& id) const {
  const auto [entry, holder] = locate(id);
  if (holder == nullptr) return std::nullopt;
  return Held{entry->first, *holder};
}

std::pair<LockTable::Entries::iterator, std::vector<LockTable::Holder>::iterator> LockTable::locate(const LockId& id) {
  const std::string* name = nullptr;
  if (const auto known = detached_ids_.find(id); known != detached_ids_.end()) {
    name = &known->second;
  } else if (id.names_owner() && owner_name_) {
    // A connection hold: its owner's connection knows the name.
    name = owner_name_(id.owner());
  }
  if (name == nullptr) return {entries_.end(), {}};
  const auto entry = entries_.find(*name);
  if (entry == entries_.end()) return {entries_.end(), {}};
  // All 128 bits must match: an id with the right owner but other random bits is unknown.
  auto& holders = entry->second.holders;
  const auto holder = std::find_if(holders.begin(), holders.end(), [&](const Holder& h) { return h.id == id; });
  if (holder == holders.end()) return {entries_.end(), {}};
  return {entry, holder};
}

std::pair<LockTable::Entries::const_iterator, const LockTable::Holder*> LockTable::locate(const LockId& id) const {
  const auto [entry, holder] = const_cast<LockTable*>(this)->locate(id);
  if (entry == entries_.end()) return {entries_.end(), nullptr};
  return {entry, &*holder};
}

bool LockTable::renew(const LockId& id, std::optional<TimePoint> expires) {
  const auto it = detached_ids_.find(id);
  if (it == detached_ids_.end()) return false;
  auto& holders = entries_.at(it->second).holders;
  const auto holder = std::find_if(holders.begin(), holders.end(), [&](const Holder& h) { return h.id == id; });
  drop_lease(*holder);
  holder->expires = expires;
  if (expires) leases_.emplace(*expires, id);
  ++version_;
  return true;
}

bool LockTable::update(const LockId& id, const std::optional<std::string>& client_id,
                       const std::optional<std::string>& reason) {
  const auto it = detached_ids_.find(id);
  if (it == detached_ids_.end()) return false;
  auto& holders = entries_.at(it->second).holders;
  const auto holder = std::find_if(holders.begin(), holders.end(), [&](const Holder& h) { return h.id == id; });
  if (client_id) holder->client_id = *client_id;
  if (reason) holder->reason = *reason;
  ++version_;  // listings cached on the version show the new values
  return true;
}

bool LockTable::restore(const std::string& name, std::size_t limit, Holder holder) {
  // Only detached holds are restored, and before any connection: the id index is enough.
  if (detached_ids_.count(holder.id) != 0) return false;
  auto [it, inserted] = entries_.try_emplace(name);
  Entry& entry = it->second;
  if (inserted) entry.limit = limit;
  if (entry.limit != limit || !entry.has_room()) {
    if (inserted) entries_.erase(it);
    return false;
  }
  holder.kind = Kind::detached;
  holder.fenced = true;  // a detached lock's token is saved and listed: its holder can know it
  raise_tokens_above(holder.token);
  add_holder(it->first, entry, std::move(holder));
  return true;
}

std::vector<LockTable::Held> LockTable::expire(TimePoint now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto [name, owner] = deadlines_.begin()->second;
    const auto it = entries_.find(name);
    auto& waiters = it->second.waiters;
    // `owner` is captured by copy: C++17 cannot capture a structured binding (clang refuses).
    const auto waiter = std::find_if(waiters.begin(), waiters.end(),
                                     [owner = owner](const Waiter& w) { return w.holder.owner == owner; });
    complete(std::move(waiter->done), Outcome::timed_out, 0);
    deadlines_.erase(waiter->deadline);
    waiters.erase(waiter);
    erase_if_idle(it);
    ++version_;
  }

  // Leases, delays and held grants last: a waiter whose deadline is the very moment a
  // lease or a delay ends, or grants resume, has given up.
  std::vector<Held> expired;
  while (!leases_.empty() && leases_.begin()->first <= now) {
    const auto [entry, holder] = locate(leases_.begin()->second);
    std::string name = entry->first;
    expired.push_back(Held{std::move(name), free_holder(entry, holder, now)});
  }
  while (!delays_.empty() && delays_.begin()->first <= now) {
    const auto it = entries_.find(delays_.begin()->second);
    delays_.erase(delays_.begin());
    // The entry's delays are kept earliest first: its first one is the one that ended.
    it->second.delays.erase(it->second.delays.begin());
    --holder_counts_[static_cast<int>(Kind::delay)];
    ++version_;
    hand_on(it, now);
  }
  if (grants_held_until_ && *grants_held_until_ <= now) end_held_grants(now);
  drain();
  return expired;
}

void LockTable::hold_grants_until(TimePoint until) {
  if (!grants_held_until_ || *grants_held_until_ < until) grants_held_until_ = until;
  ++version_;
}

void LockTable::end_held_grants(TimePoint now) {
  grants_held_until_.reset();
  ++version_;
  // Once, for the whole table: any name may have queued waiters meanwhile. hand_on() only
  // queues completions (drain() runs them), so no entry changes behind this loop but the
  // one it erases.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const auto next = std::next(it);
    if (!it->second.waiters.empty()) hand_on(it, now);
    it = next;
  }
}

std::vector<LockId> LockTable::leases_ending_by(TimePoint now) const {
  std::vector<LockId> ending;
  for (auto it = leases_.begin(); it != leases_.end() && it->first <= now; ++it) ending.push_back(it->second);
  return ending;
}

void LockTable::shut_down() {
  if (shut_down_) return;
  shut_down_ = true;
  ++version_;
  // Every waiter leaves without a grant, every delay ends (nothing is granted after it
  // anyway); names nobody holds any more go.
  delays_.clear();
  holder_counts_[static_cast<int>(Kind::delay)] = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& waiters = it->second.waiters;
    for (auto& waiter : waiters) {
      deadlines_.erase(waiter.deadline);
      complete(std::move(waiter.done), Outcome::unavailable, 0);
    }
    waiters.clear();
    it->second.delays.clear();
    it = it->second.holders.empty() ? entries_.erase(it) : std::next(it);
  }
  drain();
}

std::optional<LockTable::TimePoint> LockTable::next_deadline() const {
  std::optional<TimePoint> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (!leases_.empty() && (!next || leases_.begin()->first < *next)) next = leases_.begin()->first;
  if (!delays_.empty() && (!next || delays_.begin()->first < *next)) next = delays_.begin()->first;
  if (grants_held_until_ && !shut_down_ && (!next || *grants_held_until_ < *next)) next = grants_held_until_;
  return next;
}

std::optional<LockTable::TimePoint> LockTable::oldest_hold_since(Kind kind) const {
  if (kind == Kind::delay) return std::nullopt;
  Oldest& oldest = oldest_[static_cast<int>(kind)];
  if (!oldest.known) {
    // The oldest was freed: one walk finds the next.
    oldest = Oldest{};
    for (const auto& [name, entry] : entries_) {
      for (const auto& holder : entry.holders) {
        if (holder.kind == kind && (!oldest.any || holder.since < oldest.since)) {
          oldest = Oldest{true, true, holder.id, holder.since};
        }
      }
    }
  }
  return oldest.any ? std::optional<TimePoint>(oldest.since) : std::nullopt;
}

const std::vector<LockTable::Holder>& LockTable::holders(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? no_holders : it->second.holders;
}

const std::vector<LockTable::Holder>& LockTable::delays(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? no_holders : it->second.delays;
}

std::size_t LockTable::waiters(const std::string& name) const {
  const auto it = entries_.find(name);
  return it == entries_.end() ? 0 : it->second.waiters.size();
}

void LockTable::visit(const std::optional<std::string>& name, const NameVisitor& visit) const {
  if (name) {
    const auto it = entries_.find(*name);
    if (it != entries_.end()) {
      visit(it->first, it->second.limit, it->second.holders, it->second.delays, it->second.waiters.size());
    }
    return;
  }
  std::vector<const Entries::value_type*> sorted;
  sorted.reserve(entries_.size());
  for (const auto& entry : entries_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : sorted) {
    visit(entry->first, entry->second.limit, entry->second.holders, entry->second.delays, entry->second.waiters.size());
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

std::optional<LockTable::Token> LockTable::grant(const std::string& name, Entry& entry, Holder holder,
                                                 std::optional<Clock::duration> ttl, bool shows_token, TimePoint now) {
  holder.since = now;
  holder.token = next_token();
  // A token a client sees must never be handed out again, not even by a server started
  // after a crash on a clock stepped back: without a durable mark above it, no grant.
  holder.fenced = shows_token || holder.kind == Kind::detached;
  if (holder.fenced && !token_durable(holder.token)) return std::nullopt;
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
  if (holder.kind != Kind::delay) {
    Oldest& oldest = oldest_[static_cast<int>(holder.kind)];
    if (oldest.known && (!oldest.any || holder.since < oldest.since)) oldest = Oldest{true, true, holder.id, holder.since};
  }
  entry.holders.push_back(std::move(holder));
  ++version_;
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
  if (it->second.holders.empty() && it->second.delays.empty() && it->second.waiters.empty()) entries_.erase(it);
}

LockTable::NameState LockTable::describe(const std::string& name, const Entry& entry) {
  NameState state{name, entry.limit, entry.holders, entry.delays, {}};
  state.waiters.reserve(entry.waiters.size());
  for (const auto& waiter : entry.waiters) state.waiters.push_back(waiter.holder);
  return state;
}

}  // namespace tnl
