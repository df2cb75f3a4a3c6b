#include "lock_service.hpp"

#include <spdlog/spdlog.h>

namespace tnl {

namespace {

using Kind = LockTable::Kind;

double seconds(LockTable::Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

LockService::LockService(asio::io_context& io, LockTable& table, LockStore& store, ServerStats& stats)
    : table_(table), store_(store), stats_(stats), timer_(
          io, [this] { return table_.next_deadline(); }, [this](LockTable::TimePoint now) { expire(now); }) {}

std::size_t LockService::restore() {
  const auto steady_now = Clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  const auto to_steady = [&](LockStore::WallTime wall) {
    return steady_now + std::chrono::duration_cast<Clock::duration>(wall - wall_now);
  };
  std::size_t restored = 0;
  for (auto& record : store_.load()) {
    if (record.expires && *record.expires <= wall_now) {
      spdlog::warn("detached lock '{}' ({}) expired while the server was down", record.name, record.id.str());
      store_.erase(record.id);
      ++stats_.expired_lock_count;
      continue;
    }
    LockTable::Holder holder{record.id,
                             next_detached_owner(),
                             Kind::detached,
                             std::move(record.who),
                             std::move(record.peer),
                             std::move(record.reason),
                             to_steady(record.created),
                             record.token,
                             record.expires ? std::optional(to_steady(*record.expires)) : std::nullopt};
    if (table_.restore(record.name, record.limit, std::move(holder))) {
      ++restored;
    } else {
      spdlog::error("detached lock '{}' ({}) from the state database does not fit; dropped", record.name,
                    record.id.str());
      store_.erase(record.id);
    }
  }
  timer_.schedule();
  return restored;
}

void LockService::acquire(LockTable::Request request, Completion done) {
  const auto asked = Clock::now();
  const bool detached = request.kind == Kind::detached;
  const std::size_t limit = request.limit;
  const LockId id = request.id;
  auto complete = [this, asked, detached, limit, id, done = std::move(done)](Outcome outcome, LockTable::Token token) {
    const auto now = Clock::now();
    switch (outcome) {
      case Outcome::granted:
        if (detached && !save(id, limit)) {
          table_.release(id, now);  // never acknowledged, so never held
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
      case Outcome::limit_mismatch:
      case Outcome::failed:
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

bool LockService::save(const LockId& id, std::size_t limit) {
  const auto held = table_.find(id);
  const ClockReadings clocks;
  const auto& holder = held->holder;
  LockStore::Record record{id,
                           held->name,
                           holder.client_id,
                           holder.reason,
                           holder.peer,
                           limit,
                           holder.token,
                           clocks.wall(holder.since),
                           holder.expires ? std::optional(clocks.wall(*holder.expires)) : std::nullopt};
  if (store_.insert(record)) return true;
  spdlog::error("detached lock '{}' not granted to {}: cannot save it", held->name, holder.client_id);
  return false;
}

void LockService::release_connection_hold(const std::string& name, LockTable::OwnerId owner) {
  const auto now = Clock::now();
  if (const auto freed = table_.release(name, owner, now)) ended(*freed, now);
}

void LockService::cancel_wait(const std::string& name, LockTable::OwnerId owner) { table_.cancel(name, owner); }

LockService::Release LockService::release(const LockId& id, std::string_view by, bool force_connection) {
  const auto held = table_.find(id);
  if (!held) return Release::unknown;
  if (held->holder.kind == Kind::connection) {
    if (!force_connection) return Release::held_by_connection;
    spdlog::warn("lock '{}' held by {} ({}) released by {}", held->name, held->holder.peer, held->holder.client_id, by);
    if (!revoke_ || !revoke_(held->holder.owner, "released by admin")) return Release::unknown;
    ++stats_.forced_release_count;
    return Release::forced;
  }
  const auto now = Clock::now();
  const auto freed = table_.release(id, now);
  // Forgotten after it is freed: a crash in between brings it back, never loses a grant.
  if (!store_.erase(id)) spdlog::error("detached lock '{}' ({}) may come back after a restart", held->name, id.str());
  spdlog::info("detached lock '{}' ({}) released by {}", freed->name, id.str(), by);
  ended(freed->holder, now);
  return Release::released;
}

LockService::Renew LockService::renew(const LockId& id, std::optional<Clock::duration> ttl) {
  const auto held = table_.find(id);
  if (!held) return Renew::unknown;
  if (held->holder.kind == Kind::connection) return Renew::held_by_connection;
  const ClockReadings clocks;
  std::optional<LockTable::TimePoint> expires;
  if (ttl) expires = clocks.steady_now + *ttl;
  if (!store_.update_expiry(id, expires ? std::optional(clocks.wall(*expires)) : std::nullopt)) return Renew::not_saved;
  table_.renew(id, expires);
  timer_.schedule();
  spdlog::info("detached lock '{}' ({}) renewed", held->name, id.str());
  return Renew::renewed;
}

void LockService::expire(LockTable::TimePoint now) {
  for (const auto& freed : table_.expire(now)) {
    spdlog::warn("detached lock '{}' ({}) of {} expired", freed.name, freed.holder.id.str(), freed.holder.client_id);
    store_.erase(freed.holder.id);
    ++stats_.expired_lock_count;
    ended(freed.holder, now);
  }
}

void LockService::ended(const LockTable::Holder& holder, LockTable::TimePoint now) {
  stats_.hold_seconds.observe(seconds(now - holder.since));
}

}  // namespace tnl
