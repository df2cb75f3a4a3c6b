#include "etcd_lock_backend.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <asio/post.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "etcd/etcd_client.hpp"
#include "etcd/etcd_listing.hpp"
#include "etcd/etcd_txn.hpp"
#include "protocol_answers.hpp"
#include "lock_id_log.hpp"

namespace tnl {

namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;
using etcd::LockValue;
using etcd::compare_created;
using etcd::lease_not_found;

/// Kinds of rate-limited warnings.
enum Limit : int { limit_keepalive = 0, limit_call = 1, limit_session = 2, limit_watch = 3 };

constexpr std::chrono::milliseconds backoff_min{50};
/// etcd's default limit of operations in one transaction (--max-txn-ops 128).
constexpr int max_batch_ops = 128;
constexpr std::chrono::milliseconds backoff_max{1000};

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

/// Whole seconds, rounded up, at least 1: etcd's leases count in seconds.
std::int64_t ceil_seconds(std::chrono::steady_clock::duration d) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return std::max<std::int64_t>(1, s);
}

/// A range of every key under `prefix`.
RangeRequest* range_under(RangeRequest* range, const std::string& prefix) {
  range->set_key(prefix);
  range->set_range_end(etcd::prefix_end(prefix));
  return range;
}

/// Only while `key` is as it was read at `revision` (its mod revision): unchanged since.
void compare_modified(TxnRequest& txn, const std::string& key, std::int64_t revision) {
  Compare* compare = txn.add_compare();
  compare->set_result(Compare::EQUAL);
  compare->set_target(Compare::MOD);
  compare->set_key(key);
  compare->set_mod_revision(revision);
}

/// How often a renewal or an update finds the key again when it changed under it.
constexpr int max_change_attempts = 8;

void put(etcdserverpb::RequestOp* request, const std::string& key, const std::string& value, std::int64_t lease) {
  auto* op = request->mutable_request_put();
  op->set_key(key);
  op->set_value(value);
  op->set_lease(lease);
}

void put(TxnRequest& txn, const std::string& key, const std::string& value, std::int64_t lease) {
  put(txn.add_success(), key, value, lease);
}

void erase(TxnRequest& txn, const std::string& key) { txn.add_success()->mutable_request_delete_range()->set_key(key); }

/// Whether a failed write may be tried again (etcd out of reach, or too slow): the answer is
/// `unavailable`; any other failure is `not_saved`.
bool unreachable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

const std::shared_ptr<const std::vector<NameRecord>>& empty_listing() {
  static const auto empty = std::make_shared<const std::vector<NameRecord>>();
  return empty;
}

}  // namespace

EtcdLockBackend::EtcdLockBackend(asio::io_context& io, etcd::Client& client, EtcdBackendOptions options,
                                 ServerStats& stats)
    : io_(io),
      client_(client),
      options_(std::move(options)),
      stats_(stats),
      layout_(options_.prefix),
      distlock_(options_.distlock_layout, layout_.prefix()),
      guard_timer_(io),
      session_retry_(io),
      wait_timer_(
          io, [this] { return next_wait_deadline(); }, [this](Clock::time_point now) { expire_waits(now); }) {
  start_session();
}

EtcdLockBackend::~EtcdLockBackend() {
  keep_alive_.reset();
  watch_.reset();
}

// --- the session ---

void EtcdLockBackend::start_session() {
  if (granting_ || shut_down_) return;
  granting_ = true;
  check_layout();
}

void EtcdLockBackend::check_layout() {
  // Replicas of one prefix in the two layouts keep a realm name in two keys (P + NAME, and
  // P + name + "/" + id) and would each grant it. The prefix's layout is written once, with
  // no lease (detached locks outlive every replica), as P without its last '/' +
  // layout_marker; a replica of the other layout refuses
  // to serve until an operator deletes it (docs/HA.md).
  // Beside the prefix, not under it: no listing, watch or distlock lock name of P sees it.
  const std::string& prefix = layout_.prefix();
  const std::string key = prefix.substr(0, prefix.size() - 1) + std::string(layout_marker);
  const std::string mine = distlock_.enabled() ? "distlock" : "recipe";
  etcdserverpb::TxnRequest txn;
  auto* compare = txn.add_compare();
  compare->set_key(key);
  compare->set_target(etcdserverpb::Compare::VERSION);
  compare->set_result(etcdserverpb::Compare::EQUAL);
  compare->set_version(0);
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(mine);
  txn.add_failure()->mutable_request_range()->set_key(key);
  client_.txn(std::move(txn), guarded([this, key, mine](const grpc::Status& status, etcdserverpb::TxnResponse& response) {
    if (shut_down_) {
      granting_ = false;
      return;
    }
    std::string problem;
    if (!status.ok()) {
      problem = fmt::format("etcd: cannot read the layout of prefix {}: {}", layout_.prefix(), status.error_message());
    } else if (!response.succeeded()) {
      const auto& responses = response.responses();
      const std::string written = responses.size() > 0 && responses[0].response_range().kvs_size() > 0
                                      ? responses[0].response_range().kvs(0).value()
                                      : mine;  // deleted meanwhile: tried again below
      if (responses.size() == 0 || responses[0].response_range().kvs_size() == 0) {
        problem = fmt::format("etcd: the layout of prefix {} changed while read", layout_.prefix());
      } else if (written != mine) {
        problem = fmt::format(
            "etcd: prefix {} is in the {} layout ({} says so) and this server in the {} layout: not serving "
            "(the same lock would be granted twice; see --etcd-layout in docs/HA.md)",
            layout_.prefix(), written.substr(0, 64), key, mine);
      }
    }
    if (!problem.empty()) {
      granting_ = false;
      layout_conflict_ = true;
      warn_limited(limit_session, problem);
      retry_session();
      return;
    }
    layout_conflict_ = false;
    grant_lease();
  }));
}

void EtcdLockBackend::retry_session() {
  session_retry_.expires_after(session_backoff_);
  session_backoff_ = std::min(backoff_max, session_backoff_ * 2);
  session_retry_.async_wait(guarded([this](std::error_code error) {
    if (!error) start_session();
  }));
}

void EtcdLockBackend::grant_lease() {
  const auto sent = Clock::now();
  client_.lease_grant(options_.lease_ttl.count(), guarded([this, sent](const grpc::Status& status,
                                                                        etcdserverpb::LeaseGrantResponse& response) {
    granting_ = false;
    if (shut_down_) {
      // Granted while shutting down: nobody will use it.
      if (status.ok()) client_.lease_revoke(response.id(), [](const grpc::Status&, auto&) {});
      return;
    }
    if (!status.ok() || !response.error().empty()) {
      warn_limited(limit_session, fmt::format("etcd: cannot grant the replica's lease: {}",
                                              status.ok() ? response.error() : status.error_message()));
      retry_session();
      return;
    }
    session_backoff_ = backoff_min;
    // The store this replica's locks are in, for clients failing over between servers.
    stats_.store = fmt::format("etcd:{:x}:{}", response.header().cluster_id(), options_.prefix);
    lease_ = response.id();
    ++epoch_;
    guard_.start(lease_, sent, response.ttl());
    if (!guard_.valid(Clock::now())) {
      // The answer came too late to vouch for anything (a pause, a slow member).
      spdlog::warn("etcd: lease {:x} granted too late to use ({:.1f} s after it was asked for)", lease_,
                   seconds(Clock::now() - sent));
      lose_session("granted too late");
      return;
    }
    const auto every = std::chrono::milliseconds(std::max<std::int64_t>(100, response.ttl() * 1000 / 4));
    const std::int64_t lease = lease_;
    keep_alive_ = client_.keep_alive(
        lease, every,
        guarded([this, lease](Clock::time_point sent_at, std::int64_t ttl) { on_ack(lease, sent_at, ttl); }),
        guarded([this](const grpc::Status& down) {
          check_guard();
          warn_limited(limit_keepalive,
                       fmt::format("etcd: keepalive stream for lease {:x} broke ({}): reconnecting", lease_,
                                   down.error_message()));
        }));
    if (!watch_) start_watch(response.header().revision() + 1);
    arm_guard_timer();
    spdlog::info("etcd: lease {:x} granted for {} s (replica {}, prefix {})", lease_, response.ttl(),
                 options_.replica, layout_.prefix());
  }));
}

void EtcdLockBackend::on_ack(std::int64_t lease, Clock::time_point sent, std::int64_t ttl) {
  if (!check_guard() || lease != lease_) return;
  const auto state = guard_.acknowledged(lease, sent, ttl, Clock::now());
  if (state == etcd::LeaseGuard::State::gone) {
    lose_session("etcd says the lease is gone (keepalive answered with TTL <= 0)");
    return;
  }
  if (state != etcd::LeaseGuard::State::valid) {
    lose_session("keepalive acknowledged too late");
    return;
  }
  arm_guard_timer();
}

bool EtcdLockBackend::check_guard() {
  if (shut_down_) return false;
  if (lease_ == 0) return false;
  if (guard_.check(Clock::now()) != etcd::LeaseGuard::State::valid) {
    lose_session("no keepalive acknowledged in time");
    return false;
  }
  return true;
}

void EtcdLockBackend::arm_guard_timer() {
  const auto until = guard_.valid_until();
  if (!until) return;
  guard_timer_.expires_at(*until);
  guard_timer_.async_wait(guarded([this](std::error_code error) {
    if (!error) check_guard();
  }));
}

void EtcdLockBackend::lose_session(std::string_view why) {
  const std::int64_t old = lease_;
  const bool had_lease = old != 0;
  guard_.give_up();
  lease_ = 0;
  ++epoch_;
  // Not destroyed here: this may run inside one of its own callbacks (an ack, the stream
  // breaking). It stops on the next turn; what it still reports is for a lease given up.
  if (keep_alive_) {
    asio::post(io_, [keep_alive = std::shared_ptr<etcd::KeepAlive>(std::move(keep_alive_))] {});
  }
  std::error_code ignored;
  guard_timer_.cancel(ignored);
  if (had_lease) {
    ++leases_lost_;
    spdlog::error("etcd: lease {:x} lost: {}; {} hold(s) told lost, {} request(s) refused", old, why, holds_.size(),
                  requests_.size());
  }
  // Every holder hears first, before anything else happens on the loop.
  std::vector<LockId> held;
  held.reserve(holds_.size());
  for (const auto& [id, hold] : holds_) held.push_back(id);
  for (const auto& id : held) take_away(id, lost_reason::backend_unavailable);
  std::vector<LockId> asked;
  asked.reserve(requests_.size());
  for (const auto& [id, request] : requests_) {
    if (!request.abandoned) asked.push_back(id);
  }
  for (const auto& id : asked) finish(id, AcquireOutcome::unavailable);
  // Not at once: revoking deletes the holders' keys, and another replica grants their names
  // a round trip later, well inside the margin their `lost` was to have (seen: a holder that
  // checked its lock just before wrote after the next holder began).
  if (had_lease) revoke_at(old, guard_.earliest_end().value_or(Clock::now()));
  if (!shut_down_) start_session();
}

void EtcdLockBackend::revoke_at(std::int64_t lease, Clock::time_point at) {
  if (at <= Clock::now()) {
    revoke(lease, 5);
    return;
  }
  auto timer = std::make_shared<SteadyTimer>(io_);
  revoke_timers_.push_front(timer);
  timer->expires_at(at);
  timer->async_wait(guarded([this, timer, lease](std::error_code error) {
    revoke_timers_.remove(timer);
    if (!error) revoke(lease, 5);
  }));
}

void EtcdLockBackend::revoke(std::int64_t lease, int attempts_left) {
  client_.lease_revoke(lease, guarded([this, lease, attempts_left](const grpc::Status& status, auto&) {
    if (status.ok() || lease_not_found(status)) {
      spdlog::info("etcd: old lease {:x} revoked", lease);
      return;
    }
    if (attempts_left <= 1) return;  // it expires by itself
    auto timer = std::make_shared<SteadyTimer>(io_);
    timer->expires_after(std::chrono::seconds(1));
    timer->async_wait(guarded([this, timer, lease, attempts_left](std::error_code) { revoke(lease, attempts_left - 1); }));
  }));
}

void EtcdLockBackend::start_watch(Revision from) {
  watched_ = std::max(watched_, from - 1);
  watch_ = client_.watch(
      layout_.prefix(), etcd::prefix_end(layout_.prefix()), from,
      guarded([this](const std::vector<mvccpb::Event>& events, std::int64_t) { on_events(events); }),
      guarded([this] { on_compacted(); }), /*prev_kv=*/false);
}

void EtcdLockBackend::on_events(const std::vector<mvccpb::Event>& events) {
  if (drop_events_) return;
  check_guard();
  for (const auto& event : events) {
    const auto& kv = event.kv();
    watched_ = std::max(watched_, kv.mod_revision());
    if (distlock_.enabled() && on_distlock_event(event)) continue;
    const etcd::ParsedKey parsed = layout_.parse(kv.key());
    if (parsed.kind != etcd::ParsedKey::Kind::lock) continue;
    const std::string name(parsed.name);
    const auto id = LockId::parse(parsed.suffix);
    if (event.type() == mvccpb::Event::DELETE) {
      // One of our holds deleted by someone else (our own releases forget the hold first).
      if (id) {
        const auto hold = holds_.find(*id);
        if (hold != holds_.end() && hold->second.key == kv.key()) {
          spdlog::warn("lock '{}' held by {} ({}) deleted in etcd by another", name, hold->second.peer,
                       hold->second.client_id);
          take_away(*id, lost_reason::released_by_admin);
        }
        // Our own waiting key deleted by someone else: its re-check finds it gone.
        const auto request = requests_.find(*id);
        if (request != requests_.end() && request->second.key == kv.key() &&
            request->second.phase == Request::Phase::waiting) {
          recheck(*id);
        }
      }
      // The event has no previous value (the watch does not ask for it: etcd would read the
      // old revision for every deletion): the create revision comes from the PUT seen.
      const std::vector<LockId> due = waiters_.deleted_key(name, kv.key(), kv.mod_revision());
      for (const auto& waiter : due) {
        const auto request = requests_.find(waiter);
        if (request != requests_.end() && request->second.phase == Request::Phase::waiting) recheck(waiter);
      }
      continue;
    }
    waiters_.put(name, kv.key(), kv.create_revision());
    if (id && lease_ != 0 && kv.lease() == lease_ && kv.create_revision() == kv.mod_revision() &&
        unsure_.erase(*id) != 0 && requests_.count(*id) == 0 && holds_.count(*id) == 0) {
      // A key made on our lease for a request we no longer know: an acquire whose call
      // failed (a deadline) but that etcd applied later, after its deletion was tried. It
      // would stand in the name's queue for as long as our lease lives: it goes (only if
      // still on our lease and as made, so a detached lock moved to its own lease stays).
      Cleanup stray;
      stray.key = kv.key();
      stray.index_key = layout_.index_key(*id);
      stray.revision = kv.create_revision();
      stray.on_lease = lease_;
      stray.epoch = epoch_;
      spdlog::warn("lock '{}': deleting a stray key of this replica ({}) made by a request already answered", name,
                   LogId{*id});
      add_cleanup(std::move(stray));
    } else if (id) {
      // A PUT moving one of our holds to another lease or kind: someone took it.
      const auto hold = holds_.find(*id);
      if (hold != holds_.end() && hold->second.key == kv.key() && kv.create_revision() == hold->second.revision) {
        const LockValue value = etcd::decode(kv.value());
        if (kv.lease() != hold->second.lease || value.kind != HoldKind::connection) {
          spdlog::warn("lock '{}' held by {} ({}) taken over in etcd by another", name, hold->second.peer,
                       hold->second.client_id);
          take_away(*id, lost_reason::released_by_admin);
        }
      }
    }
  }
}

void EtcdLockBackend::on_compacted() {
  spdlog::warn("etcd: the watch missed events (compacted): every hold and waiter of this replica is checked again");
  waiters_.forget_created();  // keys deleted and made again meanwhile: what was remembered may be stale
  // Every hold: is its key still there, as we made it?
  RangeRequest range;
  range_under(&range, layout_.prefix());
  client_.range(std::move(range), guarded([this](const grpc::Status& status, RangeResponse& response) {
    if (!status.ok()) {
      failed("re-reading after a compaction", status);
      return;  // the guard or the next events settle it
    }
    std::unordered_map<std::string, const mvccpb::KeyValue*> present;
    for (const auto& kv : response.kvs()) present.emplace(kv.key(), &kv);
    std::vector<LockId> gone;
    for (const auto& [id, hold] : holds_) {
      const auto it = present.find(hold.key);
      if (it == present.end() || it->second->create_revision() != hold.revision ||
          it->second->lease() != hold.lease) {
        gone.push_back(id);
      }
    }
    for (const auto& id : gone) take_away(id, lost_reason::released_by_admin);
    if (distlock_.enabled()) {
      // A deletion missed may be of any name or of distlock's mutex: a try answered as
      // busy at a revision before this read tries again (one on its way now was skipped by
      // the wake below and would otherwise wait for an event that never comes).
      const Revision now = response.header().revision();
      distlock_mutex_deleted_ = std::max(distlock_mutex_deleted_, now);
      std::vector<std::string> names;
      for (auto& [name, queue] : distlock_queues_) {
        queue.deleted = std::max(queue.deleted, now);
        names.push_back(name);
      }
      for (const auto& name : names) wake_distlock(name);
    }
  }));
  for (const auto& [name, id] : waiters_.all_active()) {
    const auto request = requests_.find(id);
    if (request != requests_.end() && request->second.phase == Request::Phase::waiting) recheck(id);
  }
  std::vector<std::string> distlock_names;
  for (const auto& [name, queue] : distlock_queues_) distlock_names.push_back(name);
  for (const auto& name : distlock_names) wake_distlock(name);
}

void EtcdLockBackend::stop_keepalives_for_test() { keep_alive_.reset(); }

// --- acquire ---

std::string EtcdLockBackend::value_for(const LockId& id, const Request& request, HoldKind kind,
                                       WallClock::time_point since,
                                       std::optional<WallClock::time_point> expires) const {
  return etcd::encode(lock_value_for(id, request, kind, since, expires));
}

LockValue EtcdLockBackend::lock_value_for(const LockId& id, const Request& request, HoldKind kind,
                                          WallClock::time_point since,
                                          std::optional<WallClock::time_point> expires) const {
  LockValue value;
  value.id = id;
  value.kind = kind;
  value.limit = request.request.limit;
  value.client_id = request.request.client_id;
  value.peer = request.request.peer;
  value.reason = request.request.reason;
  value.since_ms = etcd::to_ms(since);
  if (expires) value.expires_ms = etcd::to_ms(*expires);
  value.fenced = request.request.shows_token || request.request.kind == HoldKind::detached;
  value.replica = options_.replica;
  return value;
}

LockId EtcdLockBackend::acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher) {
  const LockId id = ids_.next();
  if (!check_guard() || request.limit == 0) {
    done(AcquireResult{AcquireOutcome::unavailable, id, 0});
    return id;
  }
  if (distlock_.reserved(request.name)) {
    // Its recipe keys would be distlock's internal mutex (docs/HA.md): refused, never queued.
    done(AcquireResult{AcquireOutcome::limit_mismatch, id, 0});
    return id;
  }
  Request& entry = requests_[id];
  if (auto key = distlock_.key_for(request.name)) {
    entry.key = std::move(*key);
    entry.epoch = epoch_;
    entry.asked = Clock::now();
    entry.asked_wall = WallClock::now();
    entry.done = std::move(done);
    entry.watcher = std::move(watcher);
    entry.request = std::move(request);
    entry.distlock = true;
    start_distlock(id);
    return id;
  }
  entry.key = layout_.lock_key(request.name, id);
  entry.epoch = epoch_;
  entry.asked = Clock::now();
  entry.asked_wall = WallClock::now();
  entry.done = std::move(done);
  entry.watcher = std::move(watcher);
  entry.request = std::move(request);
  if (entry.request.deadline && *entry.request.deadline != Clock::time_point::max()) {
    deadlines_.emplace(*entry.request.deadline, id);
    wait_timer_.schedule();
  }
  waiters_.sent(entry.request.name, id, entry.request.limit);
  acquire_queue_.push_back(id);
  flush_acquires();
  return id;
}

void EtcdLockBackend::add_acquire(const LockId& id, TxnRequest& txn) {
  Request& request = requests_.at(id);
  // My key and its index on the replica lease (the whole transaction fails if the lease is
  // gone), then the first `limit` keys of the name and, for a mutex, the two latest (mine
  // and my predecessor). Ranges see the puts before them in the transaction; the other
  // requests of a batch are on other names, so they see only their own.
  //
  // Unless the name has no key at all: a compare per request (every key under the name has
  // version 0, i.e. there is none) chooses the success branch, the puts alone, when it holds
  // for every name of the batch. Each key put is then the only one of its name (a batch has
  // one request per name, and no name's range holds another's keys or the index), so the
  // first: granted, without the ranges (etcd's cost of an uncontended lock, mostly). If any
  // name has a key, the failure branch puts and ranges for every request, as above.
  const std::string prefix = layout_.name_prefix(request.request.name);
  Compare* empty = txn.add_compare();
  empty->set_key(prefix);
  empty->set_range_end(etcd::prefix_end(prefix));
  empty->set_target(Compare::VERSION);
  empty->set_result(Compare::EQUAL);
  empty->set_version(0);
  const std::string value = value_for(id, request, request.request.kind, request.asked_wall, std::nullopt);
  const std::string index = layout_.index_key(id);
  put(txn.add_success(), request.key, value, lease_);
  put(txn.add_success(), index, request.key, lease_);
  put(txn.add_failure(), request.key, value, lease_);
  put(txn.add_failure(), index, request.key, lease_);
  auto* first = range_under(txn.add_failure()->mutable_request_range(), prefix);
  first->set_sort_order(RangeRequest::ASCEND);
  first->set_sort_target(RangeRequest::CREATE);
  first->set_limit(static_cast<std::int64_t>(std::min<std::size_t>(request.request.limit, INT64_MAX)));
  if (request.request.limit == 1) {
    auto* last = range_under(txn.add_failure()->mutable_request_range(), prefix);
    last->set_sort_order(RangeRequest::DESCEND);
    last->set_sort_target(RangeRequest::CREATE);
    last->set_limit(2);
    last->set_keys_only(true);
  }
}

void EtcdLockBackend::flush_acquires() {
  if (acquire_in_flight_) return;
  TxnRequest txn;
  // Plain deletions waiting go first in the same transaction (one call, one raft entry and
  // one watch message for both; the ranges after them see those keys gone), in both
  // branches, leaving room for at least 16 mutex requests.
  std::vector<std::uint64_t> deletes;
  if (!acquire_queue_.empty()) {
    const int room = max_batch_ops - 4 * static_cast<int>(std::min<std::size_t>(acquire_queue_.size(), 16));
    deletes = take_deletes(txn, true, room);
  }
  std::vector<std::pair<LockId, int>> batch;  // request, its first operation
  std::set<std::string_view> names;           // views of names of requests in `batch`
  std::deque<LockId> later;                   // a second request on a name: the next batch
  std::vector<LockId> refused;                // answered after the loop (an answer may ask again)
  while (!acquire_queue_.empty()) {
    const LockId id = acquire_queue_.front();
    const auto it = requests_.find(id);
    if (it == requests_.end() || it->second.phase != Request::Phase::queued) {
      acquire_queue_.pop_front();  // dropped while queued
      continue;
    }
    Request& request = it->second;
    if (shut_down_ || lease_ == 0 || request.epoch != epoch_) {
      // Its session ended before it was sent (lose_session answered it): nothing was put.
      acquire_queue_.pop_front();
      refused.push_back(id);
      continue;
    }
    const int ops = request.request.limit == 1 ? 4 : 3;  // in the failure branch (the larger)
    if (txn.failure_size() + ops > max_batch_ops) break;
    acquire_queue_.pop_front();
    if (!names.insert(request.request.name).second) {
      later.push_back(id);
      continue;
    }
    batch.emplace_back(id, txn.failure_size());
    add_acquire(id, txn);
    request.phase = Request::Phase::putting;
  }
  // Deferred ones go first next time, in the order they were asked.
  acquire_queue_.insert(acquire_queue_.begin(), later.begin(), later.end());
  if (!batch.empty() || !deletes.empty()) {
    acquire_in_flight_ = true;
    ++(batch.empty() ? delete_batches_ : acquire_batches_);
    client_.txn(std::move(txn), guarded([this, batch = std::move(batch), deletes = std::move(deletes)](
                                            const grpc::Status& status, TxnResponse& response) {
      acquire_in_flight_ = false;
      if (!deletes.empty()) deletes_done(deletes, status);
      // Each request of the batch is answered as a single one would be (the guard is checked
      // for each, at its answer; a failed batch fails every request in it).
      for (const auto& [id, first_op] : batch) on_acquired(id, status, response, first_op);
      flush_acquires();
      flush_deletes();
    }));
  }
  for (const auto& id : refused) finish(id, AcquireOutcome::unavailable);
}

void EtcdLockBackend::on_acquired(const LockId& id, const grpc::Status& status, TxnResponse& response,
                                  int first_op) {
  const bool vouched = check_guard();
  const auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Request& request = it->second;
  // Every key put by one transaction has its revision as create revision.
  if (status.ok()) {
    request.revision = response.header().revision();
  } else {
    remember_unsure(id);
  }
  if (request.abandoned) {
    // Answered (or withdrawn) meanwhile: the key, if it was put, goes.
    Cleanup cleanup;
    cleanup.key = request.key;
    cleanup.index_key = layout_.index_key(id);
    cleanup.revision = request.revision;
    cleanup.epoch = request.epoch;
    waiters_.remove(request.request.name, id);
    requests_.erase(it);
    add_cleanup(std::move(cleanup));
    return;
  }
  request.phase = Request::Phase::waiting;  // answered: no longer on its way
  if (!status.ok()) {
    if (lease_not_found(status) && request.epoch == epoch_) {
      lose_session("etcd says the lease is gone (a put on it failed)");
      return;  // finish()ed every request
    }
    failed("acquire", status);
    // The put may have been applied: the key goes (retried while the lease lasts).
    request.revision = 0;
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  if (!vouched || request.epoch != epoch_) {
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  if (response.succeeded()) {
    // Every name of the batch had no key: my key is the only one of its name (add_acquire).
    granted(id);
    return;
  }
  const auto& responses = response.responses();
  const bool mutex = request.request.limit == 1;
  if (responses.size() < first_op + (mutex ? 4 : 3)) {
    finish(id, AcquireOutcome::failed);
    return;
  }
  decide(id, response.header().revision(), responses[first_op + 2].response_range(),
         mutex ? &responses[first_op + 3].response_range() : nullptr, true);
}

void EtcdLockBackend::remember_unsure(const LockId& id) {
  constexpr std::size_t max_unsure = 4096;
  const auto now = Clock::now();
  const auto keep = 2 * options_.lease_ttl;
  while (!unsure_order_.empty() &&
         (unsure_order_.size() >= max_unsure || now - unsure_order_.front().first > keep)) {
    unsure_.erase(unsure_order_.front().second);
    unsure_order_.pop_front();
  }
  if (unsure_.insert(id).second) unsure_order_.emplace_back(now, id);
}

void EtcdLockBackend::decide(const LockId& id, Revision at, const RangeResponse& first,
                             const RangeResponse* latest, bool first_answer) {
  Request& request = requests_.at(id);
  const std::size_t limit = request.request.limit;
  if (first.kvs_size() > 0) {
    const LockValue head = etcd::decode(first.kvs(0).value());
    if (head.limit != limit) {
      finish(id, AcquireOutcome::limit_mismatch);
      return;
    }
  }
  const bool mine = std::any_of(first.kvs().begin(), first.kvs().end(), [&](const mvccpb::KeyValue& kv) {
    return kv.key() == request.key && kv.create_revision() == request.revision;
  });
  if (mine) {
    granted(id);
    return;
  }
  if (!request.request.deadline) {
    finish(id, AcquireOutcome::not_granted);
    return;
  }
  // Waits: its predecessor is the latest key created before its own.
  Revision predecessor = 0;
  std::string predecessor_key;
  if (latest != nullptr) {
    for (const auto& kv : latest->kvs()) {
      if (kv.create_revision() < request.revision && kv.create_revision() > predecessor) {
        predecessor = kv.create_revision();
        predecessor_key = kv.key();
      }
    }
  }
  if (first_answer) ++stats_.wait_count;
  request.phase = Request::Phase::waiting;
  if (waiters_.waiting(request.request.name, id, request.revision, predecessor, at, std::move(predecessor_key))) {
    recheck(id);
  }
}

void EtcdLockBackend::recheck(const LockId& id) {
  Request& request = requests_.at(id);
  request.phase = Request::Phase::checking;
  waiters_.checking(request.request.name, id);
  TxnRequest txn;
  compare_created(txn, request.key, request.revision);
  const std::string prefix = layout_.name_prefix(request.request.name);
  auto* first = range_under(txn.add_success()->mutable_request_range(), prefix);
  first->set_sort_order(RangeRequest::ASCEND);
  first->set_sort_target(RangeRequest::CREATE);
  first->set_limit(static_cast<std::int64_t>(std::min<std::size_t>(request.request.limit, INT64_MAX)));
  auto* before = range_under(txn.add_success()->mutable_request_range(), prefix);
  before->set_sort_order(RangeRequest::DESCEND);
  before->set_sort_target(RangeRequest::CREATE);
  before->set_max_create_revision(request.revision - 1);
  before->set_limit(1);
  before->set_keys_only(true);
  client_.txn(std::move(txn), guarded([this, id](const grpc::Status& status, TxnResponse& response) {
    on_rechecked(id, status, response);
  }));
}

void EtcdLockBackend::on_rechecked(const LockId& id, const grpc::Status& status, TxnResponse& response) {
  const bool vouched = check_guard();
  const auto it = requests_.find(id);
  if (it == requests_.end() || it->second.phase != Request::Phase::checking) return;
  Request& request = it->second;
  if (!vouched || request.epoch != epoch_) {
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  if (!status.ok()) {
    failed("re-check", status);
    // Looks again later: the next deletion, or the deadline.
    request.phase = Request::Phase::waiting;
    if (waiters_.waiting(request.request.name, id, request.revision, 0, 0)) recheck(id);
    return;
  }
  if (!response.succeeded()) {
    // Its key is gone: deleted by another (an admin), or with a lease etcd gave up.
    spdlog::warn("wait for '{}' by {} ({}) ended: its key was deleted in etcd", request.request.name,
                 request.request.peer, request.request.client_id);
    request.revision = 0;
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  const auto& responses = response.responses();
  RangeResponse latest;
  if (responses.size() > 1) {
    latest = responses[1].response_range();
  }
  // The predecessor range is below my revision already: decide() takes the greatest.
  decide(id, response.header().revision(), responses[0].response_range(), &latest, false);
}

void EtcdLockBackend::granted(const LockId& id) {
  Request& request = requests_.at(id);
  if (auto next = waiters_.remove(request.request.name, id)) {
    const auto waiting = requests_.find(*next);
    if (waiting != requests_.end() && waiting->second.phase == Request::Phase::waiting) recheck(*next);
  }
  Request& held = requests_.at(id);  // recheck() above does not touch it, but keep the lookup honest
  if (held.request.kind == HoldKind::detached) {
    held.phase = Request::Phase::moving;
    if (!held.request.ttl) {
      move_detached(id, 0);
      return;
    }
    client_.lease_grant(ceil_seconds(*held.request.ttl),
                        guarded([this, id](const grpc::Status& status, etcdserverpb::LeaseGrantResponse& response) {
                          const auto it = requests_.find(id);
                          if (it == requests_.end()) {
                            if (status.ok()) client_.lease_revoke(response.id(), [](const grpc::Status&, auto&) {});
                            return;
                          }
                          if (!status.ok() || !response.error().empty()) {
                            failed("lease grant for a detached lock", status);
                            ++stats_.grant_failure_count;
                            finish(id, AcquireOutcome::failed);
                            return;
                          }
                          move_detached(id, response.id());
                        }));
    return;
  }
  // A connection hold: answered only while the guard vouches for the lease it is on.
  if (!check_guard() || held.epoch != epoch_) {
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  Hold hold;
  hold.name = held.request.name;
  hold.key = held.key;
  hold.revision = held.revision;
  hold.epoch = held.epoch;
  hold.lease = lease_;
  hold.watcher = held.watcher;
  hold.since = Clock::now();
  hold.peer = held.request.peer;
  hold.client_id = held.request.client_id;
  hold.limit = held.request.limit;
  auto done = std::move(held.done);
  const Revision token = held.revision;
  ++stats_.lock_acquired_count;
  stats_.wait_seconds.observe(seconds(hold.since - held.asked));
  holds_.emplace(id, std::move(hold));
  ++local_changes_;
  forget_deadline(id, held);
  requests_.erase(id);
  done(AcquireResult{AcquireOutcome::granted, id, static_cast<FencingToken>(token)});
}

void EtcdLockBackend::move_detached(const LockId& id, std::int64_t lease) {
  Request& request = requests_.at(id);
  std::optional<WallClock::time_point> expires;
  if (request.request.ttl) {
    expires = WallClock::now() + std::chrono::duration_cast<WallClock::duration>(*request.request.ttl);
  }
  TxnRequest txn;
  compare_created(txn, request.key, request.revision);
  const LockValue value = lock_value_for(id, request, HoldKind::detached, WallClock::now(), expires);
  put(txn, request.key, key_value(request.key, value), lease);
  put(txn, layout_.index_key(id), index_value(request.key, value), lease);
  client_.txn(std::move(txn), guarded([this, id, lease](const grpc::Status& status, TxnResponse& response) {
    const bool vouched = check_guard();
    const auto it = requests_.find(id);
    if (it == requests_.end()) {
      // Withdrawn or refused meanwhile: its key was handed to the cleanups already.
      return;
    }
    Request& request = it->second;
    if (!status.ok() || !response.succeeded()) {
      if (status.ok()) ++txn_failed_;
      failed("moving a detached lock to its lease", status);
      ++stats_.grant_failure_count;
      finish(id, AcquireOutcome::failed);
      if (lease != 0) client_.lease_revoke(lease, [](const grpc::Status&, auto&) {});
      return;
    }
    if (!vouched || request.epoch != epoch_) {
      finish(id, AcquireOutcome::unavailable);
      return;
    }
    auto done = std::move(request.done);
    const Revision token = request.revision;
    ++stats_.lock_acquired_count;
    stats_.wait_seconds.observe(seconds(Clock::now() - request.asked));
    spdlog::info("detached lock '{}' ({}) granted to {} ({})", request.request.name, LogId{id},
                 request.request.peer, request.request.client_id);
    forget_deadline(id, request);
    requests_.erase(it);
    ++local_changes_;
    done(AcquireResult{AcquireOutcome::granted, id, static_cast<FencingToken>(token)});
  }));
}

void EtcdLockBackend::finish(const LockId& id, AcquireOutcome outcome) {
  const auto it = requests_.find(id);
  if (it == requests_.end()) return;
  auto done = std::move(it->second.done);
  switch (outcome) {
    case AcquireOutcome::timed_out:
      ++stats_.wait_timeout_count;
      [[fallthrough]];
    case AcquireOutcome::not_granted:
      ++stats_.lock_not_acquired_count;
      break;
    default:
      break;
  }
  drop(id);
  if (done) done(AcquireResult{outcome, id, 0});
}

void EtcdLockBackend::drop(const LockId& id) {
  const auto it = requests_.find(id);
  if (it == requests_.end()) return;
  if (it->second.distlock) return drop_distlock(id);
  Request& request = it->second;
  forget_deadline(id, request);
  if (request.phase == Request::Phase::queued) {
    // Nothing was sent: it leaves the queue (skipped there) and the name's order.
    const std::string name = request.request.name;
    requests_.erase(it);
    if (auto next = waiters_.remove(name, id)) {
      const auto waiting = requests_.find(*next);
      if (waiting != requests_.end() && waiting->second.phase == Request::Phase::waiting) recheck(*next);
    }
    return;
  }
  if (request.phase == Request::Phase::putting) {
    // Its put is on its way: the key goes when it is answered.
    request.abandoned = true;
    request.done = nullptr;
    return;
  }
  if (auto next = waiters_.remove(request.request.name, id)) {
    const auto waiting = requests_.find(*next);
    if (waiting != requests_.end() && waiting->second.phase == Request::Phase::waiting) recheck(*next);
  }
  Cleanup cleanup;
  cleanup.key = request.key;
  cleanup.index_key = layout_.index_key(id);
  cleanup.revision = request.revision;
  // A detached key may have moved off the replica lease: not given up with the session.
  cleanup.epoch = request.phase == Request::Phase::moving ? 0 : request.epoch;
  requests_.erase(it);
  add_cleanup(std::move(cleanup));
}

bool EtcdLockBackend::cancel(const LockId& id) {
  const auto it = requests_.find(id);
  if (it == requests_.end() || it->second.abandoned) return false;
  spdlog::info("wait for '{}' by {} ({}) withdrawn", it->second.request.name, it->second.request.peer,
               it->second.request.client_id);
  drop(id);
  return true;
}

void EtcdLockBackend::forget_deadline(const LockId& id, const Request& request) {
  if (!request.request.deadline) return;
  const auto [begin, end] = deadlines_.equal_range(*request.request.deadline);
  for (auto d = begin; d != end; ++d) {
    if (d->second == id) {
      deadlines_.erase(d);
      return;
    }
  }
}

std::optional<LockBackend::Clock::time_point> EtcdLockBackend::next_wait_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void EtcdLockBackend::expire_waits(Clock::time_point now) {
  check_guard();
  // Every due entry leaves the list first, whatever became of its request: one left
  // behind would be due again at once, for ever.
  std::vector<LockId> due;
  const auto end = deadlines_.upper_bound(now);
  for (auto it = deadlines_.begin(); it != end; ++it) due.push_back(it->second);
  deadlines_.erase(deadlines_.begin(), end);
  for (const auto& id : due) {
    const auto it = requests_.find(id);
    // A request being granted (a detached move) is answered by its move.
    if (it != requests_.end() && it->second.phase != Request::Phase::moving) {
      finish(id, it->second.nowait ? AcquireOutcome::not_granted : AcquireOutcome::timed_out);
    }
  }
}

// --- holds and keys ---

void EtcdLockBackend::take_away(const LockId& id, std::string_view reason) {
  const auto it = holds_.find(id);
  if (it == holds_.end()) return;
  Hold hold = std::move(it->second);
  holds_.erase(it);
  ++holds_lost_;
  ++local_changes_;
  spdlog::warn("lock '{}' taken from {} ({}): {}", hold.name, hold.peer, hold.client_id, reason);
  stats_.hold_seconds.observe(seconds(Clock::now() - hold.since));
  if (const auto watcher = hold.watcher.lock()) watcher->lost(id, reason);
}

void EtcdLockBackend::add_cleanup(Cleanup cleanup) {
  const std::uint64_t number = next_cleanup_++;
  cleanups_.emplace(number, std::move(cleanup));
  run_cleanup(number);
}

void EtcdLockBackend::run_cleanup(std::uint64_t number) {
  const auto it = cleanups_.find(number);
  if (it == cleanups_.end()) return;
  Cleanup& cleanup = it->second;
  // On a lease given up: etcd deletes the key with it (the revocation, or its expiry).
  if ((cleanup.epoch != 0 && cleanup.epoch != epoch_) || (shut_down_ && cleanup.epoch != 0)) {
    auto then = std::move(cleanup.then);
    auto gone = std::move(cleanup.gone);
    cleanups_.erase(it);
    if (then) then(false);
    if (gone) gone();
    return;
  }
  ++cleanup.attempts;
  if (!cleanup.delay && !cleanup.then && cleanup.on_lease == 0 && !cleanup.exact) {
    // A plain deletion of our own unique key: batched with the others (see flush_deletes()).
    if (cleanup.attempts == 1) first_tries_.insert(number);
    delete_queue_.push_back(number);
    flush_deletes();
    return;
  }
  auto send = [this, number](std::int64_t delay_lease) {
    const auto it = cleanups_.find(number);
    if (it == cleanups_.end()) return;
    Cleanup& cleanup = it->second;
    TxnRequest txn;
    if (cleanup.revision != 0) compare_created(txn, cleanup.key, cleanup.revision);
    if (cleanup.on_lease != 0) {
      Compare* compare = txn.add_compare();
      compare->set_result(Compare::EQUAL);
      compare->set_target(Compare::LEASE);
      compare->set_key(cleanup.key);
      compare->set_lease(cleanup.on_lease);
    }
    if (cleanup.delay) {
      put(txn, cleanup.key, cleanup.delay_value, delay_lease);
      put(txn, cleanup.index_key, cleanup.key, delay_lease);
    } else {
      erase(txn, cleanup.key);
      erase(txn, cleanup.index_key);
    }
    if (cleanup.attempts == 1) first_tries_.insert(number);
    client_.txn(std::move(txn), guarded([this, number](const grpc::Status& status, TxnResponse& response) {
      check_guard();
      if (first_tries_.erase(number) != 0) start_listing();
      const auto it = cleanups_.find(number);
      if (it == cleanups_.end()) return;
      if (!status.ok()) {
        failed("deleting a key", status);
        retry_cleanup(number);
        return;
      }
      // Not succeeded: the key is not the one we made any more (gone already): nothing to do.
      ++local_changes_;
      auto then = std::move(it->second.then);
      auto gone = std::move(it->second.gone);
      cleanups_.erase(it);
      if (then) then(response.succeeded());
      if (gone) gone();
    }));
  };
  if (!cleanup.delay) {
    send(0);
    return;
  }
  if (cleanup.attempts == 1) first_tries_.insert(number);
  client_.lease_grant(ceil_seconds(*cleanup.delay),
                      guarded([this, number, send](const grpc::Status& status,
                                                   etcdserverpb::LeaseGrantResponse& response) {
                        if (!status.ok() || !response.error().empty()) {
                          failed("lease grant for a lock-delay", status);
                          if (first_tries_.erase(number) != 0) start_listing();
                          retry_cleanup(number);
                          return;
                        }
                        send(response.id());
                      }));
}

void EtcdLockBackend::flush_deletes() {
  // While an acquire batch is on its way, deletions wait for it: they go with the next one
  // (flush_acquires), or alone when it returns with no acquire queued.
  if (delete_in_flight_ || acquire_in_flight_ || delete_queue_.empty()) return;
  TxnRequest txn;
  std::vector<std::uint64_t> batch = take_deletes(txn, false, max_batch_ops);
  if (batch.empty()) return;
  delete_in_flight_ = true;
  ++delete_batches_;
  client_.txn(std::move(txn), guarded([this, batch = std::move(batch)](const grpc::Status& status, TxnResponse&) {
    delete_in_flight_ = false;
    deletes_done(batch, status);
    flush_deletes();
  }));
}

std::vector<std::uint64_t> EtcdLockBackend::take_deletes(TxnRequest& txn, bool both_branches, int max_ops) {
  // No compare: a key P + N + "/" + id and its index are made by one acquire of one request
  // (ids are unique) and never made again once deleted, so deleting them whatever their
  // create revision deletes only what the guarded deletion would (a key already gone is a
  // no-op); a put that moved it (a detached lock, a lock-delay) keeps the create revision,
  // which the guard did not tell apart either.
  std::vector<std::uint64_t> batch;
  int ops = 0;
  while (!delete_queue_.empty() && ops + 2 <= max_ops) {
    const std::uint64_t number = delete_queue_.front();
    delete_queue_.pop_front();
    const auto it = cleanups_.find(number);
    if (it == cleanups_.end()) continue;
    for (const std::string* key : {&it->second.key, &it->second.index_key}) {
      txn.add_success()->mutable_request_delete_range()->set_key(*key);
      if (both_branches) txn.add_failure()->mutable_request_delete_range()->set_key(*key);
    }
    ops += 2;
    batch.push_back(number);
  }
  return batch;
}

void EtcdLockBackend::deletes_done(const std::vector<std::uint64_t>& batch, const grpc::Status& status) {
  check_guard();
  if (!status.ok()) failed("deleting keys", status);
  bool first_try = false;
  for (const auto number : batch) {
    if (first_tries_.erase(number) != 0) first_try = true;
    const auto it = cleanups_.find(number);
    if (it == cleanups_.end()) continue;
    if (!status.ok()) {
      retry_cleanup(number);  // each alone, with its own backoff (it may join a later batch)
      continue;
    }
    ++local_changes_;
    auto gone = std::move(it->second.gone);
    cleanups_.erase(it);
    if (gone) gone();
  }
  if (first_try) start_listing();
}

void EtcdLockBackend::retry_cleanup(std::uint64_t number) {
  const auto it = cleanups_.find(number);
  if (it == cleanups_.end()) return;
  const int attempts = std::min(it->second.attempts, 5);
  const auto delay = std::min(backoff_max, backoff_min * (1 << attempts));
  auto timer = std::make_shared<SteadyTimer>(io_);
  timer->expires_after(delay);
  timer->async_wait(guarded([this, timer, number](std::error_code) { run_cleanup(number); }));
}

void EtcdLockBackend::release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) {
  check_guard();
  const auto finish_with = [&done](ReleaseOutcome outcome) {
    if (done) done(outcome);
  };
  const auto it = holds_.find(id);
  if (it != holds_.end()) {
    if (by == ReleaseBy::unlock) return finish_with(ReleaseOutcome::held_by_connection);
    Hold hold = std::move(it->second);
    holds_.erase(it);
    ++local_changes_;
    const bool consented = by == ReleaseBy::holder;
    if (by == ReleaseBy::admin) {
      spdlog::warn("lock '{}' held by {} ({}) released by {}", hold.name, hold.peer, hold.client_id, who);
      spdlog::warn("lock '{}' taken from {}: {}", hold.name, hold.peer, lost_reason::released_by_admin);
      ++holds_lost_;
      ++stats_.forced_release_count;
      // The holder is told first: its `lost` is on its way before the key is deleted.
      if (const auto watcher = hold.watcher.lock()) watcher->lost(id, lost_reason::released_by_admin);
    } else if (consented) {
      spdlog::info("lock '{}' {}", hold.name, who);
    } else {
      spdlog::warn("lock '{}' {}", hold.name, who);
    }
    stats_.hold_seconds.observe(seconds(Clock::now() - hold.since));
    Cleanup cleanup;
    cleanup.key = hold.key;
    cleanup.index_key = layout_.index_key(id);
    cleanup.revision = hold.revision;
    cleanup.epoch = hold.epoch;
    // distlock's key P + NAME is made again by others once free: deleted only as we made it,
    // and left with no lock-delay (distlock knows none).
    cleanup.exact = distlock_.name_for_key(hold.key).has_value();
    if (!consented && options_.lock_delay > std::chrono::milliseconds::zero() && !shut_down_ && !cleanup.exact) {
      LockValue value;
      value.id = id;
      value.kind = HoldKind::delay;
      value.limit = hold.limit;  // a semaphore's delay is one of its slots, not a mutex head
      value.peer = hold.peer;
      value.client_id = hold.client_id;
      value.since_ms = etcd::to_ms(WallClock::now());
      value.expires_ms = value.since_ms + options_.lock_delay.count();
      value.replica = options_.replica;
      cleanup.delay = options_.lock_delay;
      cleanup.delay_value = etcd::encode(value);
      spdlog::warn("lock '{}' granted to nobody for {:.3g} s (lock-delay): it was taken from {} ({})", hold.name,
                   seconds(options_.lock_delay), hold.peer, hold.client_id);
    }
    if (by == ReleaseBy::admin) {
      // Answered once etcd has it (the holder was told already, whatever happens).
      cleanup.then = [done = std::move(done)](bool ok) {
        if (done) done(ok ? ReleaseOutcome::forced : ReleaseOutcome::unavailable);
      };
      add_cleanup(std::move(cleanup));
      return;
    }
    if (consented && done) {
      // `released` once etcd has deleted the key (or the lease it is on was given up), as
      // the local backend frees the lock before it answers: a client that reads `released`
      // and asks again, here or on another replica, finds the name free.
      cleanup.gone = [done = std::move(done)] { done(ReleaseOutcome::released); };
      add_cleanup(std::move(cleanup));
      return;
    }
    add_cleanup(std::move(cleanup));
    return finish_with(ReleaseOutcome::released);
  }
  if (shut_down_) return finish_with(ReleaseOutcome::unavailable);
  find(id, guarded([this, id, by, who = std::string(who), done = std::move(done)](
                       const grpc::Status& status, std::optional<Found> found) mutable {
    check_guard();
    if (!status.ok()) {
      failed("finding a lock by id", status);
      if (done) done(ReleaseOutcome::unavailable);
      return;
    }
    if (!found || !found->holds || found->value.kind == HoldKind::delay) {
      if (done) done(ReleaseOutcome::unknown);
      return;
    }
    release_found(id, by, std::move(who), *found, std::move(done));
  }));
}

void EtcdLockBackend::release_found(const LockId& id, ReleaseBy by, std::string who, const Found& found,
                                    ReleaseDone done_once) {
  const bool connection = found.value.kind == HoldKind::connection;
  if (connection && by == ReleaseBy::unlock) {
    if (done_once) done_once(ReleaseOutcome::held_by_connection);
    return;
  }
  if (connection && by != ReleaseBy::admin) {
    // Another replica's connection hold: only its own replica releases it for its holder.
    if (done_once) done_once(ReleaseOutcome::unknown);
    return;
  }
  auto done = std::make_shared<ReleaseDone>(std::move(done_once));
  const auto answer = [done](ReleaseOutcome outcome) {
    if (*done) (*done)(outcome);
  };
  // Guarded by the key's create revision: only the lock that was found goes.
  auto send = [this, id, who, found, connection, answer](std::int64_t delay_lease) {
    TxnRequest txn;
    compare_created(txn, found.key, found.revision);
    if (delay_lease != 0) {
      LockValue value = found.value;
      value.kind = HoldKind::delay;
      value.since_ms = etcd::to_ms(WallClock::now());
      value.expires_ms = value.since_ms + options_.lock_delay.count();
      put(txn, found.key, etcd::encode(value), delay_lease);
      put(txn, layout_.index_key(id), found.key, delay_lease);
    } else {
      erase(txn, found.key);
      erase(txn, layout_.index_key(id));
    }
    client_.txn(std::move(txn), guarded([this, id, who, found, connection, answer](const grpc::Status& status,
                                                                                   TxnResponse& response) {
      check_guard();
      if (!status.ok()) {
        failed("releasing a lock", status);
        return answer(ReleaseOutcome::unavailable);
      }
      if (!response.succeeded()) {
        ++txn_failed_;
        return answer(ReleaseOutcome::unknown);
      }
      // The listing changed now, not when the watch brings the event: a read after the
      // answer must not be served the shared listing that still shows the hold.
      ++local_changes_;
      if (connection) {
        ++stats_.forced_release_count;
        spdlog::warn("lock '{}' held by {} ({}) on replica {} released by {}", found.name, found.value.peer,
                     found.value.client_id, found.value.replica, who);
        return answer(ReleaseOutcome::forced);
      }
      spdlog::info("detached lock '{}' ({}) released by {}", found.name, LogId{id}, who);
      if (const auto own = own_lease(found)) client_.lease_revoke(own, [](const grpc::Status&, auto&) {});
      answer(ReleaseOutcome::released);
    }));
  };
  if (!connection || options_.lock_delay <= std::chrono::milliseconds::zero() || distlock_.name_for_key(found.key)) {
    return send(0);
  }
  // A connection hold taken away leaves its lock-delay: the key moves to a lease of that length.
  client_.lease_grant(ceil_seconds(options_.lock_delay),
                      guarded([this, send, answer](const grpc::Status& status,
                                                   etcdserverpb::LeaseGrantResponse& response) {
                        if (!status.ok() || !response.error().empty()) {
                          failed("lease grant for a lock-delay", status);
                          return answer(ReleaseOutcome::unavailable);
                        }
                        send(response.id());
                      }));
}

std::int64_t EtcdLockBackend::own_lease(const Found& found) { return found.value.expires_ms ? found.lease : 0; }

void EtcdLockBackend::find(const LockId& id, FoundDone done) {
  if (const auto created = foreign_distlock_revision(id)) return find_foreign_distlock(id, *created, std::move(done));
  RangeRequest range;
  range.set_key(layout_.index_key(id));
  client_.range(std::move(range), guarded([this, id, done = std::move(done)](const grpc::Status& status,
                                                                             RangeResponse& response) mutable {
    if (!status.ok()) return done(status, std::nullopt);
    if (response.kvs_size() == 0) return done(status, std::nullopt);
    const std::string key = response.kvs(0).value();
    if (const auto index = distlock_.parse_index(key)) {
      return find_distlock(id, *index, response.kvs(0).create_revision(), std::move(done));
    }
    const etcd::ParsedKey parsed = layout_.parse(key);
    if (parsed.kind != etcd::ParsedKey::Kind::lock) return done(status, std::nullopt);
    const std::string name(parsed.name);
    RangeRequest all;
    range_under(&all, layout_.name_prefix(name));
    all.set_sort_order(RangeRequest::ASCEND);
    all.set_sort_target(RangeRequest::CREATE);
    client_.range(std::move(all), guarded([key, name, id, done = std::move(done)](const grpc::Status& status,
                                                                                  RangeResponse& response) {
      if (!status.ok()) return done(status, std::nullopt);
      std::size_t limit = 1;
      for (int i = 0; i < response.kvs_size(); ++i) {
        const auto& kv = response.kvs(i);
        if (i == 0) limit = etcd::decode(kv.value()).limit;
        if (kv.key() != key) continue;
        Found found;
        found.key = key;
        found.name = name;
        found.value = etcd::decode(kv.value());
        found.revision = kv.create_revision();
        found.modified = kv.mod_revision();
        found.lease = kv.lease();
        found.holds = static_cast<std::size_t>(i) < limit;
        if (found.value.id != id) return done(status, std::nullopt);
        return done(status, std::move(found));
      }
      done(status, std::nullopt);
    }));
  }));
}

void EtcdLockBackend::renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) {
  check_guard();
  if (holds_.count(id) != 0) return done(RenewOutcome::held_by_connection);
  if (shut_down_) return done(RenewOutcome::unavailable);
  // A real distlock's lock has no lease to renew (and is not ours to give one).
  if (foreign_distlock_revision(id)) return done(RenewOutcome::unknown);
  find(id, guarded([this, id, ttl, done = std::move(done)](const grpc::Status& status,
                                                           std::optional<Found> found) mutable {
    if (!status.ok()) {
      failed("finding a lock by id", status);
      return done(RenewOutcome::unavailable);
    }
    if (!found || !found->holds || found->value.kind == HoldKind::delay) return done(RenewOutcome::unknown);
    if (found->value.kind == HoldKind::connection) return done(RenewOutcome::held_by_connection);
    auto answer = std::make_shared<RenewDone>(std::move(done));
    if (!ttl) return renew_found(id, ttl, *found, 0, answer, max_change_attempts);
    client_.lease_grant(ceil_seconds(*ttl), guarded([this, id, ttl, found = *found, answer](
                                                        const grpc::Status& status,
                                                        etcdserverpb::LeaseGrantResponse& response) {
      if (!status.ok() || !response.error().empty()) {
        failed("lease grant for a renewal", status);
        return (*answer)(RenewOutcome::unavailable);
      }
      renew_found(id, ttl, found, response.id(), answer, max_change_attempts);
    }));
  }));
}

// Guarded by the key's mod revision, not only its create revision: a value written from a
// stale read would undo an update made since (its who) or an earlier renewal (its expiry).
void EtcdLockBackend::renew_found(const LockId& id, std::optional<Clock::duration> ttl, const Found& found,
                                  std::int64_t lease, std::shared_ptr<RenewDone> answer, int attempts) {
  LockValue value = found.value;
  if (ttl) {
    value.expires_ms = etcd::to_ms(WallClock::now() + std::chrono::duration_cast<WallClock::duration>(*ttl));
  } else {
    value.expires_ms.reset();
  }
  TxnRequest txn;
  compare_created(txn, found.key, found.revision);
  compare_modified(txn, found.key, found.modified);
  put(txn, found.key, key_value(found.key, value), lease);
  put(txn, layout_.index_key(id), index_value(found.key, value), lease);
  client_.txn(std::move(txn), guarded([this, id, ttl, lease, found, answer, attempts](const grpc::Status& answered,
                                                                                    TxnResponse& response) {
    const RenewDone& done = *answer;
    const grpc::Status status = std::exchange(lose_next_renew_answer_, false)
                                    ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "answer lost (test)")
                                    : answered;
    if (!status.ok()) {
      failed("renewing a detached lock", status);
      // Not revoked: etcd may have applied the move (only its answer failed), and revoking
      // the new lease would delete a lock its holder still holds. Unused, it just expires.
      return done(unreachable(status) ? RenewOutcome::unavailable : RenewOutcome::not_saved);
    }
    if (!response.succeeded()) {
      ++txn_failed_;
      const auto give_up = [this, lease, answer](RenewOutcome outcome) {
        if (lease != 0) client_.lease_revoke(lease, [](const grpc::Status&, auto&) {});
        (*answer)(outcome);
      };
      if (attempts <= 1) return give_up(RenewOutcome::unavailable);
      // Changed since it was read (an update, another renewal): read it again and retry;
      // released or made again meanwhile, it is unknown.
      return find(id, guarded([this, id, ttl, lease, created = found.revision, answer, attempts, give_up](
                                  const grpc::Status& status, std::optional<Found> again) {
        if (!status.ok()) {
          failed("finding a lock by id", status);
          return give_up(RenewOutcome::unavailable);
        }
        if (!again || !again->holds || again->value.kind != HoldKind::detached || again->revision != created) {
          return give_up(RenewOutcome::unknown);
        }
        renew_found(id, ttl, *again, lease, answer, attempts - 1);
      }));
    }
    // The old lease has nothing on it any more.
    if (const auto own = own_lease(found); own != 0 && own != lease) {
      client_.lease_revoke(own, [](const grpc::Status&, auto&) {});
    }
    spdlog::info("detached lock '{}' ({}) renewed", found.name, LogId{id});
    ++local_changes_;  // the shared listing shows the new expiry to whoever reads next
    done(RenewOutcome::renewed);
  }));
}

// Rewrites the lock key's value only while it is the value found (its mod revision), with
// the lease it is on: a key released and made again meanwhile is left alone (unknown); one
// renewed meanwhile (moved to a new lease, the old one revoked) is read again, so that the
// update neither puts it back on the revoked lease nor undoes the renewal's expiry.
void EtcdLockBackend::update(const LockId& id, HoldUpdate changes, UpdateDone done) {
  check_guard();
  if (holds_.count(id) != 0) return done(UpdateOutcome::held_by_connection);
  if (shut_down_) return done(UpdateOutcome::unavailable);
  // A real distlock's lock is not ours to rewrite (its value is distlock's record).
  if (foreign_distlock_revision(id)) return done(UpdateOutcome::unknown);
  update_attempt(id, std::move(changes), std::move(done), 0, max_change_attempts);
}

void EtcdLockBackend::update_attempt(const LockId& id, HoldUpdate changes, UpdateDone done, Revision created,
                                     int attempts) {
  find(id, guarded([this, id, changes = std::move(changes), done = std::move(done), created, attempts](
                       const grpc::Status& status, std::optional<Found> found) mutable {
    if (!status.ok()) {
      failed("finding a lock by id", status);
      return done(UpdateOutcome::unavailable);
    }
    if (!found || !found->holds || found->value.kind == HoldKind::delay) return done(UpdateOutcome::unknown);
    // Found again after a change: another key (released and made again) is not this lock.
    if (created != 0 && found->revision != created) return done(UpdateOutcome::unknown);
    if (found->value.kind == HoldKind::connection) return done(UpdateOutcome::held_by_connection);
    if (found->value.foreign) return done(UpdateOutcome::unknown);
    // Still on its replica's lease (own_lease): granted, but not moved to its own lease yet,
    // which rewrites the value: its creator has not heard of it, and the update would be lost.
    if (found->lease != 0 && own_lease(*found) == 0) return done(UpdateOutcome::unknown);
    etcd::LockValue value = found->value;
    if (changes.client_id) value.client_id = *changes.client_id;
    if (changes.reason) value.reason = *changes.reason;
    TxnRequest txn;
    compare_created(txn, found->key, found->revision);
    compare_modified(txn, found->key, found->modified);
    // In distlock's layout the key holds distlock's record and the index ours: both change.
    put(txn, found->key, key_value(found->key, value), found->lease);
    if (distlock_.name_for_key(found->key)) put(txn, layout_.index_key(id), index_value(found->key, value), found->lease);
    client_.txn(std::move(txn), guarded([this, id, name = found->name, created = found->revision, attempts,
                                         changes = std::move(changes),
                                         done = std::move(done)](const grpc::Status& status,
                                                                 TxnResponse& response) mutable {
      if (!status.ok()) {
        failed("updating a detached lock", status);
        // Its lease ran out (the value read was current: nothing else moved it): gone.
        if (lease_not_found(status)) return done(UpdateOutcome::unknown);
        return done(unreachable(status) ? UpdateOutcome::unavailable : UpdateOutcome::not_saved);
      }
      if (!response.succeeded()) {
        ++txn_failed_;
        // Changed since it was read (renewed, updated) or released: read it again.
        if (attempts <= 1) return done(UpdateOutcome::unavailable);
        return update_attempt(id, std::move(changes), std::move(done), created, attempts - 1);
      }
      spdlog::info("detached lock '{}' ({}) updated", name, LogId{id});
      ++local_changes_;  // the shared listing shows the new values to whoever reads next
      done(UpdateOutcome::updated);
    }));
  }));
}

// --- reads ---

LockView EtcdLockBackend::failed_view() const {
  LockView view;
  view.ok = false;
  view.as_of = WallClock::now();
  view.names = empty_listing();
  return view;
}

void EtcdLockBackend::read(LockQuery query, ReadDone done) {
  check_guard();
  if (query.id) return read_by_id(std::move(query), std::move(done));
  const bool have = listing_ != nullptr;
  if (!query.fresh && have && !pacer_.must_rebuild(version(), Clock::now(), have)) {
    auto readers = std::vector<std::pair<LockQuery, ReadDone>>{};
    readers.emplace_back(std::move(query), std::move(done));
    answer_reads(readers);
    return;
  }
  // Read after every key deletion this replica has already answered for (a release
  // answered `released` is not listed as held afterwards): see start_listing().
  listing_waits_for_ = next_cleanup_;
  readers_.emplace_back(std::move(query), std::move(done));
  start_listing();
}

void EtcdLockBackend::start_listing() {
  if (listing_in_flight_ || readers_.empty()) return;
  if (!first_tries_.empty() && *first_tries_.begin() < listing_waits_for_) return;  // again when they end
  listing_in_flight_ = true;
  auto readers = std::make_shared<std::vector<std::pair<LockQuery, ReadDone>>>(std::move(readers_));
  readers_.clear();
  const std::uint64_t version_sent = version();
  const auto started = Clock::now();
  RangeRequest range;
  range_under(&range, layout_.prefix());
  client_.range(std::move(range), guarded([this, readers, version_sent, started](const grpc::Status& status,
                                                                                RangeResponse& response) {
    listing_in_flight_ = false;
    check_guard();
    if (!status.ok()) {
      failed("reading the locks", status);
      for (auto& [query, done] : *readers) done(failed_view());
      start_listing();
      return;
    }
    const auto building = Clock::now();
    std::vector<etcd::KeyEntry> entries;
    entries.reserve(static_cast<std::size_t>(response.kvs_size()));
    for (const auto& kv : response.kvs()) {
      if (distlock_.is_mutex_key(kv.key())) continue;  // distlock's internal mutex: no lock
      entries.push_back(etcd::KeyEntry{kv.key(), kv.value(), kv.create_revision()});
    }
    listing_wall_ = WallClock::now();
    etcd::Listing built = etcd::build_listing(layout_, entries, std::nullopt, listing_wall_);
    if (distlock_.enabled()) add_distlock_names(response, built, std::nullopt, listing_wall_);
    listing_ = std::make_shared<const std::vector<NameRecord>>(std::move(built.names));
    listing_totals_ = built.totals;
    listing_revision_ = response.header().revision();
    // Paced on the loop's own work (the build), not on etcd's round trip.
    pacer_.restart(version_sent, started);
    pacer_.built(Clock::now() - building);
    answer_reads(*readers);
    start_listing();
  }));
}

std::uint64_t EtcdLockBackend::version() const {
  return static_cast<std::uint64_t>(std::max<Revision>(watched_, 0)) + local_changes_;
}

void EtcdLockBackend::answer_reads(std::vector<std::pair<LockQuery, ReadDone>>& readers) {
  for (auto& [query, done] : readers) {
    LockView view;
    view.as_of = WallClock::now();
    view.listed_at = listing_wall_;
    view.version = static_cast<std::uint64_t>(listing_revision_);
    view.totals = listing_totals_;
    if (query.listing) {
      if (!query.name) {
        view.names = listing_;
      } else {
        const auto it = std::lower_bound(listing_->begin(), listing_->end(), *query.name,
                                         [](const NameRecord& record, const std::string& name) { return record.name < name; });
        if (it != listing_->end() && it->name == *query.name) {
          view.names = std::make_shared<const std::vector<NameRecord>>(1, *it);
        } else {
          view.names = empty_listing();
        }
      }
    }
    done(std::move(view));
  }
}

void EtcdLockBackend::read_by_id(LockQuery query, ReadDone done) {
  RangeRequest range;
  range.set_key(layout_.index_key(*query.id));
  client_.range(std::move(range), guarded([this, query, done = std::move(done)](const grpc::Status& status,
                                                                                RangeResponse& response) mutable {
    if (!status.ok()) {
      failed("reading a lock by id", status);
      return done(failed_view());
    }
    const auto empty = [&]() {
      LockView view;
      view.as_of = WallClock::now();
      view.version = static_cast<std::uint64_t>(response.header().revision());
      view.totals = listing_totals_;
      if (query.listing) view.names = empty_listing();
      return view;
    };
    if (response.kvs_size() == 0) return done(empty());
    if (const auto index = distlock_.parse_index(response.kvs(0).value())) {
      return read_distlock_by_id(std::move(query), *index, response.kvs(0).create_revision(), std::move(done));
    }
    const etcd::ParsedKey parsed = layout_.parse(response.kvs(0).value());
    if (parsed.kind != etcd::ParsedKey::Kind::lock) return done(empty());
    const std::string name(parsed.name);
    RangeRequest all;
    range_under(&all, layout_.name_prefix(name));
    client_.range(std::move(all), guarded([this, name, query, done = std::move(done)](const grpc::Status& status,
                                                                                      RangeResponse& response) {
      if (!status.ok()) {
        failed("reading a lock by id", status);
        return done(failed_view());
      }
      std::vector<etcd::KeyEntry> entries;
      for (const auto& kv : response.kvs()) entries.push_back(etcd::KeyEntry{kv.key(), kv.value(), kv.create_revision()});
      LockView view;
      view.as_of = WallClock::now();
      view.version = static_cast<std::uint64_t>(response.header().revision());
      etcd::Listing built = etcd::build_listing(layout_, entries, name, view.as_of);
      // Totals of this read are the shared listing's: a read by id is about one lock.
      view.totals = listing_totals_;
      if (query.listing) view.names = std::make_shared<const std::vector<NameRecord>>(std::move(built.names));
      done(std::move(view));
    }));
  }));
}

// --- the rest ---

bool EtcdLockBackend::available() const { return !shut_down_ && lease_ != 0 && guard_.valid(Clock::now()); }

void EtcdLockBackend::shut_down() {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<LockId> asked;
  for (const auto& [id, request] : requests_) {
    if (!request.abandoned) asked.push_back(id);
  }
  for (const auto& id : asked) finish(id, AcquireOutcome::unavailable);
  wait_timer_.stop();
  std::error_code ignored;
  guard_timer_.cancel(ignored);
  session_retry_.cancel(ignored);
  // Old leases not revoked yet end by themselves (their holders were told lost; keeping the
  // loop for their timers would hold the shutdown up for up to a margin).
  for (const auto& timer : revoke_timers_) timer->cancel(ignored);
  keep_alive_.reset();
  watch_.reset();
  // Holds stay known (not told lost: their connections are closing); their releases are
  // answered, and the revocation deletes their keys.
  guard_.give_up();
  const std::int64_t lease = lease_;
  lease_ = 0;
  ++epoch_;
  if (lease == 0) return;
  // One call deletes every key on the replica lease; the client keeps the loop running
  // until it has ended (bounded by its deadline).
  revoking_ = true;
  spdlog::info("etcd: revoking lease {:x} (shutting down)", lease);
  client_.lease_revoke(lease, guarded([this, lease](const grpc::Status& status, auto&) {
    revoking_ = false;
    if (status.ok() || lease_not_found(status)) {
      spdlog::info("etcd: lease {:x} revoked", lease);
    } else {
      spdlog::warn("etcd: lease {:x} not revoked ({}): its keys go when it expires", lease, status.error_message());
    }
  }));
}

void EtcdLockBackend::failed(std::string_view what, const grpc::Status& status) {
  if (status.ok()) return;
  warn_limited(limit_call, fmt::format("etcd: {} failed: {} ({})", what, status.error_message(),
                                       static_cast<int>(status.error_code())));
}

void EtcdLockBackend::warn_limited(int kind, const std::string& text) {
  Limited& limited = limited_[static_cast<std::size_t>(kind)];
  const auto now = Clock::now();
  if (limited.last != Clock::time_point{} && now - limited.last < std::chrono::seconds(5)) {
    ++limited.left_out;
    return;
  }
  if (limited.left_out > 0) {
    spdlog::warn("{} (and {} more like it left out)", text, limited.left_out);
  } else {
    spdlog::warn("{}", text);
  }
  limited.last = now;
  limited.left_out = 0;
}

void EtcdLockBackend::render_metrics(std::string& out) const {
  const auto& client = client_.stats();
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 "# HELP tcpnetlock_etcd_request_duration_seconds Time from issuing an etcd call to its result.\n"
                 "# TYPE tcpnetlock_etcd_request_duration_seconds histogram\n");
  client.request_duration.render("tcpnetlock_etcd_request_duration_seconds", out);
  const auto now = Clock::now();
  const auto sent = guard_.last_ack_sent();
  const bool leased = lease_ != 0 && sent.has_value();
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_etcd_lease_keepalive_age_seconds Since the send time of the last acknowledged "
                 "keepalive of the replica's lease (NaN: no lease).\n"
                 "# TYPE tcpnetlock_etcd_lease_keepalive_age_seconds gauge\n"
                 "tcpnetlock_etcd_lease_keepalive_age_seconds {}\n",
                 leased ? fmt::format("{:.3f}", seconds(now - *sent)) : std::string("NaN"));
  const auto until = guard_.valid_until();
  const double valid = available() && until ? std::max(0.0, seconds(*until - now)) : 0.0;
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_etcd_lease_valid_seconds Left before the replica gives its lease up unless a "
                 "keepalive is acknowledged.\n"
                 "# TYPE tcpnetlock_etcd_lease_valid_seconds gauge\n"
                 "tcpnetlock_etcd_lease_valid_seconds {:.3f}\n",
                 valid);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_etcd_reconnects_total etcd streams re-established and calls moved to another "
                 "member.\n"
                 "# TYPE tcpnetlock_etcd_reconnects_total counter\n"
                 "tcpnetlock_etcd_reconnects_total {}\n",
                 client.reconnects);
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_etcd_failures_total Failed etcd calls and broken streams, by kind.\n"
                 "# TYPE tcpnetlock_etcd_failures_total counter\n"
                 "tcpnetlock_etcd_failures_total{{kind=\"unavailable\"}} {}\n"
                 "tcpnetlock_etcd_failures_total{{kind=\"deadline_exceeded\"}} {}\n"
                 "tcpnetlock_etcd_failures_total{{kind=\"lease_lost\"}} {}\n"
                 "tcpnetlock_etcd_failures_total{{kind=\"txn_failed\"}} {}\n"
                 "tcpnetlock_etcd_failures_total{{kind=\"other\"}} {}\n",
                 client.failures_of(etcd::FailureKind::unavailable),
                 client.failures_of(etcd::FailureKind::deadline_exceeded), leases_lost_, txn_failed_,
                 client.failures_of(etcd::FailureKind::other));
  fmt::format_to(std::back_inserter(out),
                 "# HELP tcpnetlock_etcd_available Whether the replica can vouch for its lease and serve requests.\n"
                 "# TYPE tcpnetlock_etcd_available gauge\n"
                 "tcpnetlock_etcd_available {}\n"
                 "# HELP tcpnetlock_etcd_holds_lost_total Holds this replica told `lost` (lease given up, taken by "
                 "an admin or another).\n"
                 "# TYPE tcpnetlock_etcd_holds_lost_total counter\n"
                 "tcpnetlock_etcd_holds_lost_total {}\n"
                 "# HELP tcpnetlock_etcd_layout_conflict Whether etcd says the prefix is in the other --etcd-layout "
                 "(not serving).\n"
                 "# TYPE tcpnetlock_etcd_layout_conflict gauge\n"
                 "tcpnetlock_etcd_layout_conflict {}\n",
                 available() ? 1 : 0, holds_lost_, layout_conflict_ ? 1 : 0);
}

}  // namespace tnl
