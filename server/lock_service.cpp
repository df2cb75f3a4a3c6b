#include "lock_service.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <fstream>
#include <unordered_set>
#include <vector>

namespace tnl {

namespace {

using Kind = LockTable::Kind;

double seconds(LockTable::Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

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

std::optional<LockService::BootReading> read_boot_clock() {
  const std::string& boot_id = this_boot_id();
  timespec now{};
  if (boot_id.empty() || ::clock_gettime(CLOCK_BOOTTIME, &now) != 0) return std::nullopt;
  return LockService::BootReading{boot_id, std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec)};
}

}  // namespace

LockService::Clocks LockService::Clocks::system() {
  return Clocks{[] { return std::chrono::system_clock::now(); }, read_boot_clock};
}

LockService::LockService(asio::io_context& io, LockTable& table, LockStore& store, ServerStats& stats, Clocks clocks)
    : table_(table), store_(store), stats_(stats), clocks_(std::move(clocks)), timer_(
          io, [this] { return table_.next_deadline(); }, [this](LockTable::TimePoint now) { expire(now); }) {}

LockStore::BootTime LockService::boot_time(const BootReading& boot, const ClockReadings& clocks,
                                           LockTable::TimePoint expires) {
  // Rounded up: a lease saved is never shorter than the one granted.
  const auto end = boot.elapsed + std::max(expires - clocks.steady_now, Clock::duration::zero());
  return std::chrono::ceil<LockStore::BootTime>(end);
}

bool LockService::wrote(bool ok) {
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

std::size_t LockService::restore() {
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
  if (highest != 0) table_.raise_tokens_above(highest);

  std::size_t restored = 0;
  std::size_t expired = 0;
  std::vector<LockId> dropped;  // forgotten in one transaction at the end
  std::vector<LockStore::LeaseEnd> resaved;  // lease ends to save again, as the clocks read now
  Clock::duration wall_step{};  // how far the wall clock moved against the boot clock
  std::unordered_set<LockTable::Token> tokens_seen;
  for (auto& record : records) {
    // When the lease ends: on the boot clock when it was saved in this boot (no wall-clock
    // step moves that), on the wall clock otherwise.
    std::optional<LockTable::TimePoint> expires;
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
        spdlog::warn("detached lock '{}' ({}) expired while the server was down", record.name, record.id.log_str());
      }
      dropped.push_back(record.id);
      ++stats_.expired_lock_count;
      continue;
    }
    // Rows the server never writes (a tampered file or one without its primary key): an id
    // already held, or a fencing token already handed out (tokens are unique). Skipped and
    // left alone: forgetting the row by its id would forget the held lock's row too.
    if (table_.find(record.id) || !tokens_seen.insert(record.token).second) {
      spdlog::error("detached lock '{}' ({}) repeats a held lock's id or token in the state database; skipped",
                    record.name, record.id.log_str());
      continue;
    }
    const LockId id = record.id;
    LockTable::Holder holder{record.id,
                             next_detached_owner(),
                             Kind::detached,
                             std::move(record.who),
                             std::move(record.peer),
                             std::move(record.reason),
                             to_steady(record.created),
                             record.token,
                             expires};
    if (table_.restore(record.name, record.limit, std::move(holder))) {
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
      spdlog::error("detached lock '{}' ({}) from the state database does not fit; dropped", record.name, id.log_str());
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

void LockService::acquire(LockTable::Request request, Completion done) {
  Call call(*this);
  const auto asked = Clock::now();
  const bool detached = request.kind == Kind::detached;
  // A connection hold's id names its owner, so that it is found by id without an index.
  if (!detached) request.id = ids_.for_owner(request.owner);
  const std::size_t limit = request.limit;
  const LockId id = request.id;
  auto complete = [this, asked, detached, limit, id, done = std::move(done)](Outcome outcome, LockTable::Token token) {
    const auto now = Clock::now();
    switch (outcome) {
      case Outcome::granted:
        if (detached && !save(id, limit)) {
          // Never acknowledged, so never held. Releasing hands the lock to the next waiter,
          // whose completion the table queues: it runs after this one, not inside it.
          table_.release(id, now);
          ++stats_.grant_failure_count;
          return done(Outcome::failed, 0);
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
    done(outcome, token);
  };
  const std::size_t waiting_before = table_.waiting_count();
  table_.acquire(std::move(request), asked, std::move(complete));
  if (table_.waiting_count() > waiting_before) {
    ++stats_.wait_count;
    timer_.schedule();
  } else if (detached) {
    timer_.schedule();  // its lease may now be the earliest deadline
  }
}

bool LockService::forget_ended() {
  if (unforgotten_.empty()) return true;
  if (!write_ok() || !wrote(store_.erase_all(unforgotten_))) return false;
  unforgotten_.clear();
  return true;
}

bool LockService::save(const LockId& id, std::size_t limit) {
  const auto held = table_.find(id);
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
  LockStore::Record record{id,
                           held->name,
                           holder.client_id,
                           holder.reason,
                           holder.peer,
                           limit,
                           holder.token,
                           clocks.wall(holder.since),
                           holder.expires ? std::optional(clocks.wall(*holder.expires)) : std::nullopt,
                           boot ? boot->boot_id : std::string{},
                           holder.expires && boot ? std::optional(boot_time(*boot, clocks, *holder.expires))
                                                  : std::nullopt};
  if (wrote(store_.insert(record))) return true;
  spdlog::error("detached lock '{}' not granted to {}: cannot save it", held->name, holder.client_id);
  return false;
}

void LockService::release_connection_hold(const std::string& name, LockTable::OwnerId owner, bool consented) {
  Call call(*this);
  const auto now = Clock::now();
  const auto delay = consented ? Clock::duration::zero() : lock_delay_;
  const auto freed = table_.release(name, owner, now, delay);
  if (!freed) return;
  ended(*freed, now);
  if (delay > Clock::duration::zero() && !table_.is_shut_down()) {
    spdlog::warn("lock '{}' granted to nobody for {:.3g} s (lock-delay): it was taken from {} ({})", name,
                 seconds(delay), freed->peer, freed->client_id);
    timer_.schedule();  // the delay's end may be the earliest deadline
  }
}

void LockService::cancel_wait(const std::string& name, LockTable::OwnerId owner) {
  Call call(*this);
  table_.cancel(name, owner);
}

LockService::Release LockService::release(const LockId& id, std::string_view by, bool force_connection) {
  Call call(*this);
  const auto held = table_.find(id);
  if (!held) return Release::unknown;
  if (held->holder.kind == Kind::connection) {
    if (!force_connection) return Release::held_by_connection;
    spdlog::warn("lock '{}' held by {} ({}) released by {}", held->name, held->holder.peer, held->holder.client_id, by);
    if (!revoke_ || !revoke_(held->holder.owner, "released by admin")) return Release::unknown;
    ++stats_.forced_release_count;
    return Release::forced;
  }
  // Forgotten on disk first, freed only then: `released` is never answered for a lock that
  // a restart would bring back. A crash in between loses nothing acknowledged.
  if (!write_ok() || !wrote(store_.erase(id))) {
    spdlog::error("detached lock '{}' ({}) not released for {}: cannot forget it on disk", held->name, id.log_str(), by);
    return Release::not_saved;
  }
  const auto now = Clock::now();
  const auto freed = table_.release(id, now);
  spdlog::info("detached lock '{}' ({}) released by {}", freed->name, id.log_str(), by);
  ended(freed->holder, now);
  return Release::released;
}

LockService::Renew LockService::renew(const LockId& id, std::optional<Clock::duration> ttl) {
  Call call(*this);
  const auto held = table_.find(id);
  if (!held) return Renew::unknown;
  if (held->holder.kind == Kind::connection) return Renew::held_by_connection;
  const ClockReadings clocks = read_clocks();
  const auto boot = clocks_.boot();
  std::optional<LockTable::TimePoint> expires;
  if (ttl) expires = clocks.steady_now + *ttl;
  // On disk first: a renewal acknowledged is one a restart keeps.
  if (!write_ok() ||
      !wrote(store_.update_expiry(id, expires ? std::optional(clocks.wall(*expires)) : std::nullopt,
                                  boot ? boot->boot_id : std::string{},
                                  expires && boot ? std::optional(boot_time(*boot, clocks, *expires)) : std::nullopt))) {
    return Renew::not_saved;
  }
  table_.renew(id, expires);
  timer_.schedule();
  spdlog::info("detached lock '{}' ({}) renewed", held->name, id.log_str());
  return Renew::renewed;
}

std::shared_ptr<const std::string> LockService::locks_line(const std::optional<std::string>& only, bool show_ids) {
  return locks_lines_.line(table_, only, show_ids, read_clocks());
}

void LockService::shut_down() {
  Call call(*this);
  table_.shut_down();
  timer_.stop();
}

void LockService::hold_grants_for(Clock::duration duration) {
  table_.hold_grants_until(Clock::now() + duration);
  timer_.schedule();
}

void LockService::expire(LockTable::TimePoint now) {
  Call call(*this);
  // Forgotten on disk before they are freed, in one transaction: a waiter is handed the
  // lock (and its grant saved) only after. The lease has ended, so the lock is free
  // whether or not this write succeeds; if it fails, the rows are erased before the next
  // detached grant is saved (forget_ended()), which fails while they cannot be.
  const auto ending = table_.leases_ending_by(now);
  if (!ending.empty()) {
    unforgotten_.insert(unforgotten_.end(), ending.begin(), ending.end());
    forget_ended();
  }
  for (const auto& freed : table_.expire(now)) {
    spdlog::warn("detached lock '{}' ({}) of {} expired", freed.name, freed.holder.id.log_str(), freed.holder.client_id);
    ++stats_.expired_lock_count;
    ended(freed.holder, now);
  }
}

void LockService::ended(const LockTable::Holder& holder, LockTable::TimePoint now) {
  stats_.hold_seconds.observe(seconds(now - holder.since));
}

}  // namespace tnl
