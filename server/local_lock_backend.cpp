#include "local_lock_backend.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <unordered_set>
#include <utility>

#include "lock_table.hpp"
#include "protocol_answers.hpp"
#include "token_generator.hpp"
#include "lock_id_log.hpp"

namespace tnl {

namespace {

using Kind = LockTable::Kind;
using Outcome = LockTable::Outcome;

double seconds(LockBackend::Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

/// Locks restored or dropped at start are logged one by one up to this many, then counted:
/// a restart with 100,000 expired locks must not spend its time logging.
constexpr std::size_t logged_per_kind = 10;

/// This boot's id, read once (it cannot change while the process runs); empty when it
/// cannot be read or is not a UUID as the kernel writes it.
const std::string& this_boot_id() {
  static const std::string boot_id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string line;
    std::getline(in, line);
    const auto parsed = LockId::parse(line);
    return parsed && parsed->str() == line ? line : std::string{};
  }();
  return boot_id;
}

std::optional<LocalLockBackend::BootReading> read_boot_clock() {
  const std::string& boot_id = this_boot_id();
  timespec now{};
  if (boot_id.empty() || ::clock_gettime(CLOCK_BOOTTIME, &now) != 0) return std::nullopt;
  return LocalLockBackend::BootReading{boot_id,
                                      std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec)};
}

LockTable::TokenSource token_source(TokenGenerator* tokens) {
  if (tokens == nullptr) return {};
  return LockTable::TokenSource{[tokens] { return tokens->next(); },
                                [tokens](LockTable::Token token) { return tokens->covers(token); },
                                [tokens](LockTable::Token token) { tokens->raise_above(token); }};
}

/// Slots kept when none is in use: a peak beyond this is given back once it is over.
constexpr std::size_t kept_slots = 4096;

/// A listing with nothing in it, shared by every read that finds nothing.
const std::shared_ptr<const std::vector<NameRecord>>& empty_listing() {
  static const auto empty = std::make_shared<const std::vector<NameRecord>>();
  return empty;
}

}  // namespace

const std::string LocalLockBackend::pending_name_;

LocalLockBackend::Clocks LocalLockBackend::Clocks::system() {
  return Clocks{[] { return std::chrono::system_clock::now(); }, read_boot_clock};
}

LocalLockBackend::LocalLockBackend(asio::io_context& io, LockStore& store, ServerStats& stats, TokenGenerator* tokens,
                                   Clocks clocks)
    : table_(std::make_unique<LockTable>(token_source(tokens))),
      store_(store),
      stats_(stats),
      clocks_(std::move(clocks)),
      timer_(
          io, [this] { return table_->next_deadline(); }, [this](Clock::time_point now) { expire(now); }) {
  // A connection hold's id names its slot; the slot knows which name it holds: so finding
  // a hold by id needs neither a scan nor an index entry per connection.
  table_->on_owner_name([this](LockTable::OwnerId owner) { return slot_name(owner); });
}

LocalLockBackend::~LocalLockBackend() = default;

// --- slots ---

std::uint32_t LocalLockBackend::take_slot(std::weak_ptr<HoldWatcher> watcher) {
  std::uint32_t index = 0;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[index] = Slot{&pending_name_, std::move(watcher)};
  return index;
}

void LocalLockBackend::free_slot(std::uint32_t index) {
  slots_[index] = Slot{};
  free_slots_.push_back(index);
  if (free_slots_.size() == slots_.size() && slots_.size() >= kept_slots) {
    // Nothing in use after a peak: give its memory back (not after every request: a
    // lock/release loop would allocate the deque's block every time).
    slots_.clear();
    slots_.shrink_to_fit();
    std::vector<std::uint32_t>().swap(free_slots_);
  }
}

LocalLockBackend::Slot* LocalLockBackend::slot_of(const LockId& id) {
  if (!id.names_owner() || id.owner() == 0 || id.owner() > slots_.size()) return nullptr;
  Slot& slot = slots_[static_cast<std::size_t>(id.owner() - 1)];
  return slot.name == nullptr ? nullptr : &slot;
}

const std::string* LocalLockBackend::slot_name(std::uint64_t owner) const {
  if (owner == 0 || owner > slots_.size()) return nullptr;
  const std::string* name = slots_[static_cast<std::size_t>(owner - 1)].name;
  return name == &pending_name_ ? nullptr : name;
}

// --- the interface ---

LockId LocalLockBackend::acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher) {
  Call call(*this);
  const auto asked = Clock::now();
  const bool detached = request.kind == HoldKind::detached;
  const std::size_t limit = request.limit;

  LockTable::Request table_request;
  std::uint32_t slot = 0;
  if (detached) {
    table_request.id = ids_.next();
    table_request.owner = next_detached_owner_++;
  } else {
    // A connection hold's id names its slot, so that it is found by id without an index.
    slot = take_slot(std::move(watcher));
    table_request.owner = std::uint64_t{slot} + 1;
    table_request.id = ids_.for_owner(table_request.owner);
  }
  const LockId id = table_request.id;
  table_request.name = request.name;
  table_request.client_id = std::move(request.client_id);
  table_request.peer = std::move(request.peer);
  table_request.reason = std::move(request.reason);
  table_request.limit = limit;
  table_request.deadline = request.deadline;
  table_request.kind = detached ? Kind::detached : Kind::connection;
  table_request.ttl = detached ? request.ttl : std::nullopt;
  table_request.shows_token = request.shows_token || detached;
  if (detached && request.deadline) {
    pending_detached_.emplace(id, PendingDetached{request.name, table_request.owner});
  }

  auto complete = [this, asked, detached, limit, id, slot, name = detached ? std::string{} : request.name,
                   done = std::move(done)](Outcome outcome, LockTable::Token token) {
    const auto now = Clock::now();
    switch (outcome) {
      case Outcome::granted:
        if (detached && !save(id, limit)) {
          // Never acknowledged, so never held. Releasing hands the lock to the next waiter,
          // whose completion the table queues: it runs after this one, not inside it.
          table_->release(id, now);
          ++stats_.grant_failure_count;
          outcome = Outcome::failed;
          token = 0;
          break;
        }
        ++stats_.lock_acquired_count;
        stats_.wait_seconds.observe(seconds(now - asked));
        break;
      case Outcome::timed_out:
        ++stats_.wait_timeout_count;
        [[fallthrough]];
      case Outcome::not_granted:
        ++stats_.lock_not_acquired_count;
        break;
      case Outcome::failed:
        ++stats_.grant_failure_count;
        break;
      case Outcome::limit_mismatch:
      case Outcome::unavailable:
        break;
    }
    if (detached) {
      pending_detached_.erase(id);
    } else if (outcome == Outcome::granted) {
      slots_[slot].name = table_->key_of(name);  // held: found by id from now on
    } else {
      free_slot(slot);
    }
    done(AcquireResult{outcome, id, token});
  };
  const std::size_t waiting_before = table_->waiting_count();
  table_->acquire(std::move(table_request), asked, std::move(complete));
  if (table_->waiting_count() > waiting_before) {
    ++stats_.wait_count;
    timer_.schedule();
  } else if (detached) {
    timer_.schedule();  // its lease may now be the earliest deadline
  }
  // Still being made (it waits): its slot learns the name, so that cancel() finds it.
  if (!detached && slot < slots_.size() && slots_[slot].name == &pending_name_) {
    if (const std::string* key = table_->key_of(request.name)) slots_[slot].name = key;
  }
  return id;
}

bool LocalLockBackend::cancel(const LockId& id) {
  if (Slot* slot = slot_of(id)) {
    if (slot->name == &pending_name_) return false;  // its completion is queued: it runs
    // A copy: slot->name is the table's key, gone with the name's entry once nobody holds
    // or waits (a waiter alone in the start grace).
    const std::string name = *slot->name;
    const auto withdrawn = table_->cancel(name, id);
    if (!withdrawn) return false;  // completed already (granted, or refused)
    spdlog::info("wait for '{}' by {} ({}) withdrawn", name, withdrawn->peer, withdrawn->client_id);
    free_slot(static_cast<std::uint32_t>(id.owner() - 1));
    return true;
  }
  const auto pending = pending_detached_.find(id);
  if (pending == pending_detached_.end()) return false;
  const auto withdrawn = table_->cancel(pending->second.name, id);
  if (!withdrawn) return false;
  spdlog::info("wait for '{}' by {} ({}) withdrawn", pending->second.name, withdrawn->peer, withdrawn->client_id);
  pending_detached_.erase(pending);
  return true;
}

void LocalLockBackend::release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) {
  Call call(*this);
  const auto finish = [&done](ReleaseOutcome outcome) {
    if (done) done(outcome);
  };
  if (id.names_owner() && !table_->holds_detached(id)) {
    // A connection hold (detached holds have random ids, but a restored row may have any).
    switch (by) {
      case ReleaseBy::holder:
      case ReleaseBy::holder_gone:
        return release_connection_hold(id, by == ReleaseBy::holder, who, done);
      case ReleaseBy::admin:
        return force_release(id, who, done);
      case ReleaseBy::unlock:
        return finish(slot_of(id) != nullptr && table_->find(id) ? ReleaseOutcome::held_by_connection
                                                                  : ReleaseOutcome::unknown);
    }
  }
  release_detached(id, who, done);
}

void LocalLockBackend::release_connection_hold(const LockId& id, bool consented, std::string_view who,
                                               const ReleaseDone& done) {
  const auto now = Clock::now();
  const auto delay = consented ? Clock::duration::zero() : lock_delay_;
  Slot* slot = slot_of(id);
  const auto freed = slot != nullptr ? table_->release(id, now, delay) : std::nullopt;
  if (!freed) {
    if (done) done(ReleaseOutcome::unknown);
    return;
  }
  free_slot(static_cast<std::uint32_t>(id.owner() - 1));
  if (consented) {
    spdlog::info("lock '{}' {}", freed->name, who);
  } else {
    spdlog::warn("lock '{}' {}", freed->name, who);
  }
  ended(freed->holder.since, now);
  if (delay > Clock::duration::zero() && !table_->is_shut_down()) {
    spdlog::warn("lock '{}' granted to nobody for {:.3g} s (lock-delay): it was taken from {} ({})", freed->name,
                 seconds(delay), freed->holder.peer, freed->holder.client_id);
    timer_.schedule();  // the delay's end may be the earliest deadline
  }
  if (done) done(ReleaseOutcome::released);
}

void LocalLockBackend::force_release(const LockId& id, std::string_view who, const ReleaseDone& done) {
  Slot* slot = slot_of(id);
  const auto held = slot != nullptr ? table_->find(id) : std::nullopt;
  if (!held) {
    if (done) done(ReleaseOutcome::unknown);
    return;
  }
  constexpr std::string_view reason = lost_reason::released_by_admin;
  spdlog::warn("lock '{}' held by {} ({}) released by {}", held->name, held->holder.peer, held->holder.client_id, who);
  spdlog::warn("lock '{}' taken from {}: {}", held->name, held->holder.peer, reason);
  // The holder is told first: its `lost` is on its way before the lock is handed on and
  // the next holder's `ok` is. It must not release the hold itself (HoldWatcher).
  if (const auto watcher = slot->watcher.lock()) watcher->lost(id, reason);
  const auto now = Clock::now();
  const auto freed = table_->release(id, now, lock_delay_);
  if (freed) {
    free_slot(static_cast<std::uint32_t>(id.owner() - 1));
    ended(freed->holder.since, now);
    if (lock_delay_ > Clock::duration::zero() && !table_->is_shut_down()) {
      spdlog::warn("lock '{}' granted to nobody for {:.3g} s (lock-delay): it was taken from {} ({})", freed->name,
                   seconds(lock_delay_), freed->holder.peer, freed->holder.client_id);
      timer_.schedule();
    }
  }
  ++stats_.forced_release_count;
  if (done) done(ReleaseOutcome::forced);
}

void LocalLockBackend::release_detached(const LockId& id, std::string_view who, const ReleaseDone& done) {
  const auto held = table_->find(id);
  if (!held) {
    if (done) done(ReleaseOutcome::unknown);
    return;
  }
  // Forgotten on disk first, freed only then: `released` is never answered for a lock that
  // a restart would bring back. A crash in between loses nothing acknowledged.
  if (!write_ok() || !wrote(store_.erase(id))) {
    spdlog::error("detached lock '{}' ({}) not released for {}: cannot forget it on disk", held->name, LogId{id},
                  who);
    if (done) done(ReleaseOutcome::not_saved);
    return;
  }
  const auto now = Clock::now();
  const auto freed = table_->release(id, now);
  spdlog::info("detached lock '{}' ({}) released by {}", freed->name, LogId{id}, who);
  ended(freed->holder.since, now);
  if (done) done(ReleaseOutcome::released);
}

void LocalLockBackend::renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) {
  Call call(*this);
  const auto held = table_->find(id);
  if (!held) return done(RenewOutcome::unknown);
  if (held->holder.kind == Kind::connection) return done(RenewOutcome::held_by_connection);
  const ClockReadings clocks = read_clocks();
  const auto boot = clocks_.boot();
  std::optional<Clock::time_point> expires;
  if (ttl) expires = clocks.steady_now + *ttl;
  // On disk first: a renewal acknowledged is one a restart keeps.
  if (!write_ok() ||
      !wrote(store_.update_expiry(id, expires ? std::optional(clocks.wall(*expires)) : std::nullopt,
                                  boot ? boot->boot_id : std::string{},
                                  expires && boot ? std::optional(boot_time(*boot, clocks, *expires)) : std::nullopt))) {
    return done(RenewOutcome::not_saved);
  }
  table_->renew(id, expires);
  timer_.schedule();
  spdlog::info("detached lock '{}' ({}) renewed", held->name, LogId{id});
  done(RenewOutcome::renewed);
}

void LocalLockBackend::update(const LockId& id, HoldUpdate changes, UpdateDone done) {
  Call call(*this);
  if (table_->is_shut_down()) return done(UpdateOutcome::unavailable);
  const auto held = table_->find(id);
  if (!held) return done(UpdateOutcome::unknown);
  if (held->holder.kind == Kind::connection) return done(UpdateOutcome::held_by_connection);
  // On disk first, as a renewal: an update acknowledged is one a restart keeps.
  if (!write_ok() || !wrote(store_.update_holder(id, changes.client_id, changes.reason))) {
    return done(UpdateOutcome::not_saved);
  }
  table_->update(id, changes.client_id, changes.reason);
  spdlog::info("detached lock '{}' ({}) updated: who '{}', reason '{}'", held->name, LogId{id},
               changes.client_id.value_or(held->holder.client_id), changes.reason.value_or(held->holder.reason));
  done(UpdateOutcome::updated);
}

void LocalLockBackend::read(LockQuery query, ReadDone done) {
  const ClockReadings clocks = read_clocks();
  LockView view;
  view.as_of = clocks.wall_now;
  view.version = table_->version();
  view.totals = totals(clocks);
  // A listing reused while the table changes (paced) is of the table as it was: the view
  // says that version, so that readers caching on it (the `.locks` line) do not keep a
  // stale listing as the newer one.
  if (query.listing) view.names = listing(query, clocks, view.version, view.listed_at);
  done(std::move(view));
}

bool LocalLockBackend::available() const { return !table_->is_shut_down(); }

void LocalLockBackend::shut_down() {
  Call call(*this);
  table_->shut_down();
  timer_.stop();
}

void LocalLockBackend::hold_grants_for(Clock::duration duration) {
  table_->hold_grants_until(Clock::now() + duration);
  timer_.schedule();
}

// --- reading ---

LockTotals LocalLockBackend::totals(const ClockReadings& clocks) const {
  LockTotals totals;
  totals.held_names = table_->held_count();
  totals.connection_holds = table_->holder_count(Kind::connection);
  totals.detached_holds = table_->holder_count(Kind::detached);
  totals.delays = table_->holder_count(Kind::delay);
  totals.waiters = table_->waiting_count();
  if (const auto since = table_->oldest_hold_since(Kind::connection)) totals.oldest_connection_hold = clocks.wall(*since);
  if (const auto since = table_->oldest_hold_since(Kind::detached)) totals.oldest_detached_hold = clocks.wall(*since);
  totals.start_grace_seconds_left = table_->grants_held_seconds(clocks.steady_now);
  return totals;
}

namespace {

/// LockView::listed_at: when the listing was taken, only if before the view's as_of (a
/// rebuild in this very read is as of it).
std::optional<std::chrono::system_clock::time_point> earlier_than(std::chrono::system_clock::time_point listed,
                                                                  std::chrono::system_clock::time_point as_of) {
  if (listed < as_of) return listed;
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const LocalLockBackend::Listing> LocalLockBackend::listing(const LockQuery& query,
                                                                           const ClockReadings& clocks,
                                                                           std::uint64_t& version,
                                                                           std::optional<WallTime>& listed_at) {
  std::optional<std::string> only = query.name;
  if (query.id) {
    const auto held = table_->find(*query.id);
    if (!held) return empty_listing();
    only = held->name;
  }
  if (pacer_.must_rebuild(table_->version(), clocks.steady_now, !listings_.empty())) {
    listings_.clear();
    pacer_.restart(table_->version(), clocks.steady_now);
    listings_version_ = table_->version();
    listings_listed_at_ = clocks.wall_now;
  }
  version = listings_version_;
  const std::string key = only.value_or(std::string{});
  if (const auto cached = listings_.find(key); cached != listings_.end()) {
    if (!(query.id || query.fresh) || listings_version_ == table_->version()) {
      listed_at = earlier_than(listings_listed_at_, clocks.wall_now);  // shared: as old as the listings
      return cached->second;
    }
    // A read by id is the record of one hold, asked for right after its own change (HTTP's
    // create, renewal, GET /lock/{id}): from the table as it is, never from a listing paced
    // since before that change (which would answer 404 for a lock just created, or a
    // renewal with its old lease end). So is a fresh read (the holder named in HTTP's 409,
    // or the start grace's 503 instead of it). One name's listing; not kept.
    version = table_->version();
    return std::make_shared<const Listing>(build_listing(only, clocks));
  }
  const auto started = Clock::now();
  auto built = std::make_shared<const Listing>(build_listing(only, clocks));
  listed_at = earlier_than(listings_listed_at_, clocks.wall_now);  // kept with the others: as old as they are
  // A name nobody holds or awaits lists nothing: not worth keeping (and a client could ask
  // for any number of them).
  if (!only || (listings_.size() < max_listed_names && !built->empty())) {
    pacer_.built(Clock::now() - started);
    listings_.emplace(key, built);
  }
  return built;
}

LocalLockBackend::Listing LocalLockBackend::build_listing(const std::optional<std::string>& only,
                                                          const ClockReadings& clocks) const {
  const auto record = [&](LockTable::Holder&& holder) {
    HoldRecord out;
    out.id = holder.id;
    out.kind = holder.kind;
    out.client_id = std::move(holder.client_id);
    out.peer = std::move(holder.peer);
    out.reason = std::move(holder.reason);
    out.since = clocks.wall(holder.since);
    out.token = holder.token;
    out.token_durable = holder.token == 0 || table_->token_durable(holder.token);
    out.fenced = holder.fenced;
    if (holder.expires) out.expires = clocks.wall(*holder.expires);
    return out;
  };
  const auto records = [&](std::vector<LockTable::Holder>& holders) {
    std::vector<HoldRecord> out;
    out.reserve(holders.size());
    for (auto& holder : holders) out.push_back(record(std::move(holder)));
    return out;
  };
  Listing listing;
  auto states = table_->snapshot(only);
  listing.reserve(states.size());
  for (auto& state : states) {
    NameRecord name;
    name.name = std::move(state.name);
    name.limit = state.limit;
    name.holders = records(state.holders);
    name.delays = records(state.delays);
    name.waiters = records(state.waiters);
    listing.push_back(std::move(name));
  }
  return listing;
}

// --- durability ---

LockStore::BootTime LocalLockBackend::boot_time(const BootReading& boot, const ClockReadings& clocks,
                                                Clock::time_point expires) {
  // Rounded up: a lease saved is never shorter than the one granted.
  const auto end = boot.elapsed + std::max(expires - clocks.steady_now, Clock::duration::zero());
  return std::chrono::ceil<LockStore::BootTime>(end);
}

bool LocalLockBackend::wrote(bool ok) {
  // Once a write failed (another process holds the database's lock, or the disk is full),
  // every other write in the same call fails at once: a handoff through 8,000 waiters must
  // not wait out the busy timeout 8,000 times. etcd does the same with its NOSPACE alarm,
  // which refuses every write instead of letting each one try the disk; here it lasts only
  // until the call ends, so the next request tries the disk afresh.
  if (!ok) {
    store_failed_ = true;
    ++stats_.state_write_failure_count;
  }
  return ok;
}

bool LocalLockBackend::forget_ended() {
  if (unforgotten_.empty()) return true;
  if (!write_ok() || !wrote(store_.erase_all(unforgotten_))) return false;
  unforgotten_.clear();
  return true;
}

bool LocalLockBackend::save(const LockId& id, std::size_t limit) {
  const auto held = table_->find(id);
  if (!forget_ended()) {
    spdlog::error("detached lock '{}' not granted to {}: {} ended detached lock(s) could not be forgotten on disk",
                  held->name, held->holder.client_id, unforgotten_.size());
    return false;
  }
  if (!write_ok()) {
    spdlog::error("detached lock '{}' not granted to {}: the state database failed just before", held->name,
                  held->holder.client_id);
    return false;
  }
  const ClockReadings clocks = read_clocks();
  const auto boot = clocks_.boot();
  const auto& holder = held->holder;
  LockStore::Record record;
  record.id = id;
  record.name = held->name;
  record.who = holder.client_id;
  record.reason = holder.reason;
  record.peer = holder.peer;
  record.limit = limit;
  record.token = holder.token;
  record.created = clocks.wall(holder.since);
  if (holder.expires) record.expires = clocks.wall(*holder.expires);
  if (boot) record.boot_id = boot->boot_id;
  if (holder.expires && boot) record.expires_boot = boot_time(*boot, clocks, *holder.expires);
  if (wrote(store_.insert(record))) return true;
  spdlog::error("detached lock '{}' not granted to {}: cannot save it", held->name, holder.client_id);
  return false;
}

std::size_t LocalLockBackend::restore() {
  Call call(*this);
  const ClockReadings clocks = read_clocks();
  const auto boot = clocks_.boot();
  const auto to_steady = [&](LockStore::WallTime wall) {
    return clocks.steady_now + std::chrono::duration_cast<Clock::duration>(wall - clocks.wall_now);
  };
  auto records = store_.load();
  // Tokens go on above every token saved, restored or not: the holder of a lease that
  // ended may still present its token to a fenced resource.
  LockTable::Token highest = 0;
  for (const auto& record : records) highest = std::max(highest, record.token);
  if (highest != 0) table_->raise_tokens_above(highest);

  std::size_t restored = 0;
  std::size_t expired = 0;
  std::vector<LockId> dropped;               // forgotten in one transaction at the end
  std::vector<LockStore::LeaseEnd> resaved;  // lease ends to save again, as the clocks read now
  Clock::duration wall_step{};               // how far the wall clock moved against the boot clock
  std::unordered_set<LockTable::Token> tokens_seen;
  for (auto& record : records) {
    // When the lease ends: on the boot clock when it was saved in this boot (no wall-clock
    // step moves that), on the wall clock otherwise.
    std::optional<Clock::time_point> expires;
    bool on_boot_clock = false;
    if (record.expires) {
      expires = to_steady(*record.expires);
      if (boot && record.expires_boot && record.boot_id == boot->boot_id) {
        const auto by_wall = *expires;
        expires = clocks.steady_now + std::chrono::duration_cast<Clock::duration>(*record.expires_boot - boot->elapsed);
        on_boot_clock = true;
        if (std::chrono::abs(*expires - by_wall) > std::chrono::abs(wall_step)) wall_step = *expires - by_wall;
      }
    }
    if (expires && *expires <= clocks.steady_now) {
      if (++expired <= logged_per_kind) {
        spdlog::warn("detached lock '{}' ({}) expired while the server was down", record.name, LogId{record.id});
      }
      dropped.push_back(record.id);
      ++stats_.expired_lock_count;
      continue;
    }
    // Rows the server never writes (a tampered file or one without its primary key): an id
    // already held, or a fencing token already handed out (tokens are unique). Skipped and
    // left alone: forgetting the row by its id would forget the held lock's row too.
    if (table_->find(record.id) || !tokens_seen.insert(record.token).second) {
      spdlog::error("detached lock '{}' ({}) repeats a held lock's id or token in the state database; skipped",
                    record.name, LogId{record.id});
      continue;
    }
    const LockId id = record.id;
    LockTable::Holder holder;
    holder.id = record.id;
    holder.owner = next_detached_owner_++;
    holder.kind = Kind::detached;
    holder.client_id = std::move(record.who);
    holder.peer = std::move(record.peer);
    holder.reason = std::move(record.reason);
    holder.since = to_steady(record.created);
    holder.token = record.token;
    holder.expires = expires;
    if (table_->restore(record.name, record.limit, std::move(holder))) {
      ++restored;
      // Saved again as the clocks read now when the row's ends are not: on the wall clock
      // (after a reboot, or from a row without the boot clock), so that the next restart in
      // this boot is exact; or on the boot clock while the wall clock was stepped, so that
      // a reboot later falls back to a wall-clock end that agrees with the clock from now on.
      const auto wall_end = expires ? clocks.wall(*expires) : LockStore::WallTime{};
      if (expires && boot &&
          (!on_boot_clock || std::chrono::abs(wall_end - *record.expires) >= std::chrono::seconds(1))) {
        resaved.push_back(LockStore::LeaseEnd{id, wall_end, boot_time(*boot, clocks, *expires)});
      }
    } else {
      spdlog::error("detached lock '{}' ({}) from the state database does not fit; dropped", record.name, LogId{id});
      dropped.push_back(id);
    }
  }
  if (expired > logged_per_kind) spdlog::warn("{} detached locks expired while the server was down", expired);
  if (std::chrono::abs(wall_step) >= std::chrono::seconds(1)) {
    spdlog::warn("the wall clock moved {:.1f} s against the boot clock since detached locks were saved; their "
                 "leases keep the time they had left",
                 seconds(wall_step));
  }
  // If this fails (a full disk), the rows stay for now: they are erased before the next
  // detached grant is saved (see forget_ended()), or dropped again at the next start.
  if (!dropped.empty()) {
    unforgotten_ = std::move(dropped);
    if (!forget_ended()) spdlog::error("{} dropped detached locks stay in the state database", unforgotten_.size());
  }
  // If this fails, the rows stay as they were: the next restart reads them as this one did.
  if (!resaved.empty() && (!write_ok() || !store_.save_lease_ends(resaved, boot->boot_id))) {
    spdlog::error("{} restored leases could not be saved again as the clocks read now", resaved.size());
  }
  timer_.schedule();
  return restored;
}

void LocalLockBackend::expire(Clock::time_point now) {
  Call call(*this);
  // Forgotten on disk before they are freed, in one transaction: a waiter is handed the
  // lock (and its grant saved) only after. The lease has ended, so the lock is free
  // whether or not this write succeeds; if it fails, the rows are erased before the next
  // detached grant is saved (forget_ended()), which fails while they cannot be.
  const auto ending = table_->leases_ending_by(now);
  if (!ending.empty()) {
    unforgotten_.insert(unforgotten_.end(), ending.begin(), ending.end());
    forget_ended();
  }
  for (const auto& freed : table_->expire(now)) {
    spdlog::warn("detached lock '{}' ({}) of {} expired", freed.name, LogId{freed.holder.id}, freed.holder.client_id);
    ++stats_.expired_lock_count;
    ended(freed.holder.since, now);
  }
}

void LocalLockBackend::ended(Clock::time_point since, Clock::time_point now) {
  stats_.hold_seconds.observe(seconds(now - since));
}

}  // namespace tnl
