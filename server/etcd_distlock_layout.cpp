// EtcdLockBackend in distlock's layout (--etcd-layout distlock; etcd/distlock_layout.hpp):
// a lock name encode(P) + "-" + NAME of the server's own realm P is the key P + NAME, as the
// real distlock keeps it, so that a real distlock and we exclude each other on one etcd.
//
// Why an acquire can never make two holders with a real distlock. distlock takes the etcd
// mutex P + "__internal_lock" (its key P + "__internal_lock/<lease>" exists from before its
// GET of P + NAME until after its PUT), GETs P + NAME and PUTs it when absent, without a
// compare. Our acquire is ONE transaction that puts P + NAME only if, at its revision t,
// P + NAME is absent AND no key exists under P + "__internal_lock/" (a range compare: with
// no key in the range etcd compares against an empty key, whose version is 0). Then either
// distlock's mutex key was made after t, so its GET (later still) sees our key and it does
// not put; or its whole operation, PUT included, ended before t, so our compare sees its key
// and fails. A distlock in the middle of its operation at t makes our compare fail. We never
// take distlock's mutex ourselves: nothing of ours can keep a distlock from its work.
//
// The rest follows the recipe layout's rules: a grant is answered only after the successful
// transaction and while the guard vouches for the lease; a connection lock is on the replica
// lease (a dead replica's locks go, and a distlock watching for the DELETE wakes); a detached
// lock moves to its own lease (TTL) or to none (ttl:inf, as distlock's). Our record of a lock
// is its index P + ".ids/" + id (written with the key, one create revision); a key is deleted
// only with a compare on the create revision it was made with, never a key made by another.
//
// Waiting: a request that waits is tried again when the watch reports a deletion of the key
// or of a key of distlock's mutex; this replica's waiters on one name go first asked, first
// tried (only the first waiting one tries). distlock has no order: nothing is FIFO between a
// real distlock and us, or between replicas.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "etcd/etcd_client.hpp"
#include "etcd/etcd_listing.hpp"
#include "etcd/etcd_txn.hpp"
#include "etcd_lock_backend.hpp"
#include "protocol_answers.hpp"

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

/// How long a request that does not wait waits for distlock's internal mutex alone (the
/// lock itself free): distlock holds it for one GET and one PUT.
constexpr std::chrono::seconds nowait_mutex_grace{2};

void put_op(etcdserverpb::RequestOp* request, const std::string& key, const std::string& value, std::int64_t lease) {
  auto* op = request->mutable_request_put();
  op->set_key(key);
  op->set_value(value);
  op->set_lease(lease);
}

/// A compare: every key from `key` to `range_end` (empty: `key` alone) is absent.
void compare_absent(TxnRequest& txn, const std::string& key, const std::string& range_end) {
  Compare* compare = txn.add_compare();
  compare->set_key(key);
  if (!range_end.empty()) compare->set_range_end(range_end);
  compare->set_target(Compare::VERSION);
  compare->set_result(Compare::EQUAL);
  compare->set_version(0);
}

std::chrono::system_clock::time_point from_seconds(std::int64_t seconds) {
  return etcd::from_ms(seconds > (std::int64_t{1} << 40) ? std::int64_t{1} << 42 : seconds * 1000);
}

}  // namespace

// --- values ---

std::string EtcdLockBackend::key_value(const std::string& key, const LockValue& value) const {
  if (!distlock_.name_for_key(key)) return etcd::encode(value);
  etcd::DistlockValue written;
  written.since_s = value.since_ms / 1000;
  // distlock writes the host it runs on; tcpnetlock_distlock sends it as the client id.
  written.host = !value.client_id.empty() ? value.client_id : value.peer;
  written.reason = value.reason;
  return etcd::format_distlock_value(written);
}

std::string EtcdLockBackend::index_value(const std::string& key, const LockValue& value) const {
  if (!distlock_.name_for_key(key)) return key;
  return etcd::DistlockLayout::index_value(key, value);
}

bool EtcdLockBackend::distlock_key_ours(const mvccpb::KeyValue& kv, const etcd::DistlockLayout::Index& index,
                                        Revision index_created) const {
  // The create revision alone is not enough: a distlock that lost its mutex (its session
  // gone between its GET and its PUT) PUTs over our key without a compare, which keeps the
  // create revision (and no lease, as a ttl:inf lock of ours). Every write of ours writes the
  // key and the index together, so the key still says what the index says while it is ours.
  return kv.key() == index.key && kv.create_revision() == index_created && kv.value() == key_value(index.key, index.value);
}

LockId EtcdLockBackend::foreign_distlock_id(Revision created, std::unordered_map<Revision, LockId>& seen) {
  const auto known = foreign_ids_.find(created);
  const LockId id = known != foreign_ids_.end() ? known->second : ids_.next();
  if (known == foreign_ids_.end()) {
    foreign_ids_.emplace(created, id);
    foreign_revisions_.emplace(id, created);
  }
  seen.emplace(created, id);
  return id;
}

std::optional<EtcdLockBackend::Revision> EtcdLockBackend::foreign_distlock_revision(const LockId& id) const {
  if (!distlock_.enabled()) return std::nullopt;
  const auto it = foreign_revisions_.find(id);
  if (it == foreign_revisions_.end()) return std::nullopt;
  return it->second;
}

// --- acquire ---

void EtcdLockBackend::start_distlock(const LockId& id) {
  Request& request = requests_.at(id);
  if (request.request.limit != 1) {
    // distlock's key holds one holder: a semaphore cannot be laid out there.
    finish(id, AcquireOutcome::limit_mismatch);
    return;
  }
  if (request.request.deadline && *request.request.deadline != Clock::time_point::max()) {
    deadlines_.emplace(*request.request.deadline, id);
    wait_timer_.schedule();
  }
  DistlockQueue& queue = distlock_queues_[request.request.name];
  const bool others_wait = std::any_of(queue.ids.begin(), queue.ids.end(), [this](const LockId& other) {
    const auto it = requests_.find(other);
    return it != requests_.end() && !it->second.nowait;
  });
  if (!request.request.deadline) {
    if (others_wait) {
      // Busy: one of this replica's requests waits for it already.
      finish(id, AcquireOutcome::not_granted);
      return;
    }
    request.nowait = true;
  }
  queue.ids.push_back(id);
  if (request.nowait || !others_wait) {
    try_distlock(id);
  } else {
    request.phase = Request::Phase::waiting;  // behind this replica's earlier waiters
    ++stats_.wait_count;
  }
}

void EtcdLockBackend::try_distlock(const LockId& id) {
  Request& request = requests_.at(id);
  if (shut_down_ || lease_ == 0 || request.epoch != epoch_ || !check_guard()) {
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  request.phase = Request::Phase::putting;
  TxnRequest txn;
  // See the file comment: absent, and distlock's internal mutex free.
  compare_absent(txn, request.key, "");
  compare_absent(txn, distlock_.mutex_prefix(), etcd::prefix_end(distlock_.mutex_prefix()));
  const LockValue value = lock_value_for(id, request, request.request.kind, request.asked_wall, std::nullopt);
  put_op(txn.add_success(), request.key, key_value(request.key, value), lease_);
  put_op(txn.add_success(), layout_.index_key(id), index_value(request.key, value), lease_);
  auto* held = txn.add_failure()->mutable_request_range();
  held->set_key(request.key);
  held->set_count_only(true);
  client_.txn(std::move(txn), guarded([this, id](const grpc::Status& answered, TxnResponse& response) {
    const grpc::Status status = std::exchange(lose_next_distlock_answer_, false)
                                    ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "answer lost (test)")
                                    : answered;
    if (std::exchange(hold_next_answer_, false)) {
      held_answer_ = [this, id, status, response]() mutable { on_distlock_tried(id, status, response); };
      return;
    }
    on_distlock_tried(id, status, response);
  }));
}

void EtcdLockBackend::on_distlock_tried(const LockId& id, const grpc::Status& status, TxnResponse& response) {
  const bool vouched = check_guard();
  const auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Request& request = it->second;
  const bool applied = status.ok() && response.succeeded();
  if (applied) request.revision = response.header().revision();
  if (!status.ok()) remember_unsure(id);
  const std::string name = request.request.name;
  if (request.abandoned) {
    // Answered (or withdrawn) meanwhile: what it put goes.
    if (!status.ok()) {
      clean_unsure_distlock(id, request.key, request.epoch, 0);
    } else if (applied) {
      Cleanup cleanup;
      cleanup.key = request.key;
      cleanup.index_key = layout_.index_key(id);
      cleanup.revision = request.revision;
      cleanup.epoch = request.epoch;
      cleanup.exact = true;
      add_cleanup(std::move(cleanup));
    }
    const bool first = unqueue_distlock(name, id);
    requests_.erase(it);
    if (first) wake_distlock(name);
    return;
  }
  request.phase = Request::Phase::waiting;  // answered: no longer on its way
  if (!status.ok()) {
    if (lease_not_found(status) && request.epoch == epoch_) {
      lose_session("etcd says the lease is gone (a put on it failed)");
      return;
    }
    failed("acquire", status);
    clean_unsure_distlock(id, request.key, request.epoch, 0);
    finish(id, AcquireOutcome::unavailable);
    return;
  }
  if (!vouched || request.epoch != epoch_) {
    finish(id, AcquireOutcome::unavailable);  // drop_distlock deletes the key if it was put
    return;
  }
  if (applied) {
    unqueue_distlock(name, id);
    granted(id);
    return;
  }
  const auto& responses = response.responses();
  const bool held = responses.size() > 0 && responses[0].response_range().count() > 0;
  const Revision at = response.header().revision();
  if (request.nowait) {
    if (held) {
      finish(id, AcquireOutcome::not_granted);
      return;
    }
    // Free, but a distlock is at work under its mutex: wait for it, briefly.
    if (!request.request.deadline) {
      request.request.deadline = Clock::now() + nowait_mutex_grace;
      deadlines_.emplace(*request.request.deadline, id);
      wait_timer_.schedule();
    }
  }
  // A deletion the watch reported after `at` (it may come before this answer) may have freed it.
  const auto queue = distlock_queues_.find(name);
  const Revision deleted = queue != distlock_queues_.end() ? queue->second.deleted : 0;
  if (deleted > at || distlock_mutex_deleted_ > at) try_distlock(id);
}

bool EtcdLockBackend::unqueue_distlock(const std::string& name, const LockId& id) {
  const auto queue = distlock_queues_.find(name);
  if (queue == distlock_queues_.end()) return false;
  auto& ids = queue->second.ids;
  bool first_waiting = true;
  bool was_first = false;
  for (auto it = ids.begin(); it != ids.end(); ++it) {
    const auto request = requests_.find(*it);
    const bool waits = request != requests_.end() && !request->second.nowait;
    if (*it == id) {
      was_first = first_waiting && waits;
      ids.erase(it);
      break;
    }
    if (waits) first_waiting = false;
  }
  if (ids.empty()) distlock_queues_.erase(queue);
  return was_first;
}

void EtcdLockBackend::wake_distlock(const std::string& name) {
  const auto queue = distlock_queues_.find(name);
  if (queue == distlock_queues_.end()) return;
  std::vector<LockId> due;
  for (const LockId& id : queue->second.ids) {
    const auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    if (it->second.phase == Request::Phase::waiting) due.push_back(id);
    if (!it->second.nowait) break;  // the first waiting one; the later ones wait behind it
  }
  for (const LockId& id : due) {
    const auto it = requests_.find(id);
    if (it != requests_.end() && it->second.phase == Request::Phase::waiting) try_distlock(id);
  }
}

void EtcdLockBackend::drop_distlock(const LockId& id) {
  const auto it = requests_.find(id);
  if (it == requests_.end()) return;
  Request& request = it->second;
  forget_deadline(id, request);
  if (request.phase == Request::Phase::putting) {
    // Its transaction is on its way: what it puts goes when it is answered.
    request.abandoned = true;
    request.done = nullptr;
    return;
  }
  const std::string name = request.request.name;
  if (request.revision != 0) {
    // It put the key (granted in etcd, being moved or refused at the last moment): deleted
    // only as it was made.
    Cleanup cleanup;
    cleanup.key = request.key;
    cleanup.index_key = layout_.index_key(id);
    cleanup.revision = request.revision;
    cleanup.epoch = request.phase == Request::Phase::moving ? 0 : request.epoch;
    cleanup.exact = true;
    add_cleanup(std::move(cleanup));
  }
  const bool first = unqueue_distlock(name, id);
  requests_.erase(it);
  if (first) wake_distlock(name);
}

void EtcdLockBackend::clean_unsure_distlock(const LockId& id, std::string key, std::uint64_t epoch, int attempts) {
  // On a lease given up, etcd deletes what was put on it (a request never moved off it).
  if (shut_down_ || epoch != epoch_) return;
  RangeRequest range;
  range.set_key(layout_.index_key(id));
  client_.range(std::move(range), guarded([this, id, key, epoch, attempts](const grpc::Status& status,
                                                                           RangeResponse& response) {
    const auto retry = [&] {
      if (attempts >= 8) return;  // left to the lease: it goes with the replica's
      auto timer = std::make_shared<SteadyTimer>(io_);
      timer->expires_after(std::chrono::milliseconds(100) * (1 << attempts));
      timer->async_wait(guarded([this, timer, id, key, epoch, attempts](std::error_code) {
        clean_unsure_distlock(id, key, epoch, attempts + 1);
      }));
    };
    if (!status.ok()) return retry();
    // No index: the put was not applied (if it is later, the watch sees it: on_distlock_event).
    if (response.kvs_size() == 0) return;
    const auto index = distlock_.parse_index(response.kvs(0).value());
    if (!index || index->key != key) return;
    TxnRequest txn;
    compare_created(txn, key, response.kvs(0).create_revision());
    txn.add_success()->mutable_request_delete_range()->set_key(key);
    txn.add_success()->mutable_request_delete_range()->set_key(layout_.index_key(id));
    txn.add_failure()->mutable_request_delete_range()->set_key(layout_.index_key(id));
    client_.txn(std::move(txn), guarded([this, id, key, epoch, attempts](const grpc::Status& status, TxnResponse&) {
      if (status.ok()) {
        ++local_changes_;
        return;
      }
      if (attempts >= 8) return;
      auto timer = std::make_shared<SteadyTimer>(io_);
      timer->expires_after(std::chrono::milliseconds(100) * (1 << attempts));
      timer->async_wait(guarded([this, timer, id, key, epoch, attempts](std::error_code) {
        clean_unsure_distlock(id, key, epoch, attempts + 1);
      }));
    }));
  }));
}

// --- the watch ---

bool EtcdLockBackend::on_distlock_event(const mvccpb::Event& event) {
  const auto& kv = event.kv();
  const bool deleted = event.type() == mvccpb::Event::DELETE;
  if (distlock_.is_mutex_key(kv.key())) {
    if (deleted) {
      // distlock's mutex changed hands: whoever found only it busy may go now.
      distlock_mutex_deleted_ = std::max(distlock_mutex_deleted_, kv.mod_revision());
      std::vector<std::string> names;
      for (const auto& [name, queue] : distlock_queues_) names.push_back(name);
      for (const auto& name : names) wake_distlock(name);
    }
    return true;
  }
  if (const auto name = distlock_.name_for_key(kv.key())) {
    // One of our connection holds deleted (distlock --unlock, etcdctl del) or moved to
    // another lease by another: it is lost. Our own releases forget the hold first. The key
    // is made again and again (not one key per request, as in the recipe): a deletion the
    // watch reports only now may be of an earlier key of the name, deleted before ours was
    // made (the watch may lag behind our acquire's answer): only a later one is ours.
    std::vector<LockId> lost;
    for (const auto& [id, hold] : holds_) {
      if (hold.key != kv.key()) continue;
      if (deleted ? kv.mod_revision() > hold.revision
                  : kv.create_revision() == hold.revision && kv.lease() != hold.lease) {
        lost.push_back(id);
      }
    }
    for (const auto& id : lost) {
      spdlog::warn("lock '{}' deleted or taken over in etcd by another (distlock layout)", *name);
      take_away(id, lost_reason::released_by_admin);
    }
    if (deleted) {
      const auto queue = distlock_queues_.find(*name);
      if (queue != distlock_queues_.end()) {
        queue->second.deleted = std::max(queue->second.deleted, kv.mod_revision());
        wake_distlock(*name);
      }
    }
    return true;
  }
  if (!deleted && lease_ != 0 && kv.lease() == lease_ && kv.create_revision() == kv.mod_revision()) {
    // An acquire whose answer was lost, applied after its cleanup looked: its index says so.
    const etcd::ParsedKey parsed = layout_.parse(kv.key());
    if (parsed.kind != etcd::ParsedKey::Kind::index) return false;
    const auto id = LockId::parse(parsed.suffix);
    if (!id || unsure_.count(*id) == 0 || requests_.count(*id) != 0 || holds_.count(*id) != 0) return false;
    const auto index = distlock_.parse_index(kv.value());
    if (!index) return false;
    unsure_.erase(*id);
    Cleanup stray;
    stray.key = index->key;
    stray.index_key = kv.key();
    stray.revision = kv.create_revision();
    stray.epoch = epoch_;
    stray.exact = true;
    spdlog::warn("lock key '{}': deleting a stray key of this replica made by a request already answered", index->key);
    add_cleanup(std::move(stray));
    return true;
  }
  return false;
}

// --- finding and reading ---

void EtcdLockBackend::find_distlock(const LockId& id, const etcd::DistlockLayout::Index& index,
                                    Revision index_created, FoundDone done) {
  RangeRequest range;
  range.set_key(index.key);
  client_.range(std::move(range), guarded([this, id, index, index_created, done = std::move(done)](
                                              const grpc::Status& status, RangeResponse& response) {
    if (!status.ok()) return done(status, std::nullopt);
    // The key is ours only while it is the one made with the index.
    if (response.kvs_size() == 0 || !distlock_key_ours(response.kvs(0), index, index_created)) {
      return done(status, std::nullopt);
    }
    if (index.value.id != id) return done(status, std::nullopt);
    Found found;
    found.key = index.key;
    found.name = distlock_.name_for_key(index.key).value_or(std::string{});
    found.value = index.value;
    found.revision = index_created;
    found.modified = response.kvs(0).mod_revision();
    found.lease = response.kvs(0).lease();
    found.holds = true;
    done(status, std::move(found));
  }));
}

void EtcdLockBackend::find_foreign_distlock(const LockId& id, Revision created, FoundDone done) {
  (void)id;
  RangeRequest range;
  range.set_key(layout_.prefix());
  range.set_range_end(etcd::prefix_end(layout_.prefix()));
  range.set_min_create_revision(created);
  range.set_max_create_revision(created);
  client_.range(std::move(range), guarded([this, created, done = std::move(done)](const grpc::Status& status,
                                                                                  RangeResponse& response) {
    if (!status.ok()) return done(status, std::nullopt);
    for (const auto& kv : response.kvs()) {
      const auto name = distlock_.name_for_key(kv.key());
      if (!name || kv.create_revision() != created) continue;
      const etcd::DistlockValue written = etcd::parse_distlock_value(kv.value());
      Found found;
      found.key = kv.key();
      found.name = *name;
      found.value.foreign = true;
      // distlock's own locks have no lease; a leased key is someone's connection (never
      // taken by an unlock).
      found.value.kind = kv.lease() == 0 ? HoldKind::detached : HoldKind::connection;
      found.value.client_id = written.host;
      found.value.reason = written.reason;
      found.revision = created;
      found.modified = kv.mod_revision();
      found.lease = kv.lease();
      found.holds = true;
      return done(status, std::move(found));
    }
    done(status, std::nullopt);
  }));
}

void EtcdLockBackend::add_distlock_names(const RangeResponse& response, etcd::Listing& listing,
                                         const std::optional<std::string>& only, WallClock::time_point as_of) {
  // Our records of the keys, from their indexes: key -> (record, create revision).
  std::map<std::string, std::pair<etcd::DistlockLayout::Index, Revision>> ours;
  for (const auto& kv : response.kvs()) {
    if (layout_.parse(kv.key()).kind != etcd::ParsedKey::Kind::index) continue;
    if (auto index = distlock_.parse_index(kv.value())) {
      const std::string key = index->key;
      ours[key] = {std::move(*index), kv.create_revision()};
    }
  }
  auto& totals = listing.totals;
  bool added = false;
  std::unordered_map<Revision, LockId> seen;  // the foreign keys of this listing
  for (const auto& kv : response.kvs()) {
    const auto name = distlock_.name_for_key(kv.key());
    if (!name || (only && *name != *only)) continue;
    HoldRecord hold;
    const auto record = ours.find(kv.key());
    if (record != ours.end() && distlock_key_ours(kv, record->second.first, record->second.second)) {
      hold = etcd::hold_record(record->second.first.value, kv.create_revision(), as_of);
    } else {
      // A real distlock's (or anyone's): its value is "<unix s>;<host>;<reason>".
      const etcd::DistlockValue written = etcd::parse_distlock_value(kv.value());
      hold.id = foreign_distlock_id(kv.create_revision(), seen);
      hold.kind = kv.lease() == 0 ? HoldKind::detached : HoldKind::connection;
      hold.client_id = written.host;
      hold.reason = written.reason;
      hold.since = written.since_s > 0 ? from_seconds(written.since_s) : as_of;
      hold.token = static_cast<FencingToken>(kv.create_revision());
      hold.token_durable = true;
    }
    if (hold.kind == HoldKind::connection) {
      ++totals.connection_holds;
      if (!totals.oldest_connection_hold || hold.since < *totals.oldest_connection_hold) {
        totals.oldest_connection_hold = hold.since;
      }
    } else {
      ++totals.detached_holds;
      if (!totals.oldest_detached_hold || hold.since < *totals.oldest_detached_hold) {
        totals.oldest_detached_hold = hold.since;
      }
    }
    const auto same = std::find_if(listing.names.begin(), listing.names.end(),
                                   [&](const NameRecord& existing) { return existing.name == *name; });
    if (same != listing.names.end()) {
      // Recipe keys of the same name too (a server in the other layout on this prefix).
      if (same->holders.empty()) ++totals.held_names;
      same->holders.push_back(std::move(hold));
      continue;
    }
    NameRecord entry;
    entry.name = *name;
    entry.limit = 1;
    entry.holders.push_back(std::move(hold));
    ++totals.held_names;
    listing.names.push_back(std::move(entry));
    added = true;
  }
  if (!only) delete_orphan_indexes(response, ours);
  if (!only) {
    // Every key is in this listing: the ids of keys gone are forgotten (bounded by etcd's keys).
    foreign_revisions_.clear();
    for (const auto& [created, id] : seen) foreign_revisions_.emplace(id, created);
    foreign_ids_ = std::move(seen);
  }
  if (added) {
    std::sort(listing.names.begin(), listing.names.end(),
              [](const NameRecord& a, const NameRecord& b) { return a.name < b.name; });
  }
}

void EtcdLockBackend::delete_orphan_indexes(
    const RangeResponse& response, const std::map<std::string, std::pair<etcd::DistlockLayout::Index, Revision>>& ours) {
  // An index whose key is gone or made again by another (a real distlock's --unlock or
  // PUT): ours no more. One on a lease goes with it; a lease-less one (ttl:inf) would stay
  // for ever. Deleted only while the key is still not the one the index was made with.
  std::unordered_map<std::string, const mvccpb::KeyValue*> keys;
  for (const auto& kv : response.kvs()) {
    if (ours.count(kv.key()) != 0) keys.emplace(kv.key(), &kv);
  }
  constexpr int most = 64;  // per listing: the next listing goes on
  int sent = 0;
  for (const auto& kv : response.kvs()) {
    if (sent >= most) break;
    if (kv.lease() != 0 || layout_.parse(kv.key()).kind != etcd::ParsedKey::Kind::index) continue;
    const auto index = distlock_.parse_index(kv.value());
    if (!index) continue;
    const auto key = keys.find(index->key);
    const bool same_key = key != keys.end() && key->second->create_revision() == kv.create_revision();
    if (same_key && distlock_key_ours(*key->second, *index, kv.create_revision())) continue;
    TxnRequest txn;
    compare_created(txn, kv.key(), kv.create_revision());
    Compare* unchanged = txn.add_compare();  // no update of ours since this listing
    unchanged->set_key(kv.key());
    unchanged->set_target(Compare::MOD);
    unchanged->set_result(Compare::EQUAL);
    unchanged->set_mod_revision(kv.mod_revision());
    Compare* other = txn.add_compare();
    other->set_key(index->key);
    if (same_key) {
      // Overwritten by a distlock's late PUT (the same create revision, not our value).
      other->set_target(Compare::VALUE);
      other->set_result(Compare::NOT_EQUAL);
      other->set_value(key_value(index->key, index->value));
    } else {
      other->set_target(Compare::CREATE);
      other->set_result(Compare::NOT_EQUAL);
      other->set_create_revision(kv.create_revision());
    }
    txn.add_success()->mutable_request_delete_range()->set_key(kv.key());
    spdlog::info("lock key '{}': deleting our index {} of it, made again or deleted by another", index->key, kv.key());
    client_.txn(std::move(txn), guarded([](const grpc::Status&, TxnResponse&) {}));  // else the next listing
    ++sent;
  }
}

void EtcdLockBackend::read_distlock_by_id(LockQuery query, const etcd::DistlockLayout::Index& index,
                                          Revision index_created, ReadDone done) {
  RangeRequest range;
  range.set_key(index.key);
  client_.range(std::move(range), guarded([this, query, index, index_created, done = std::move(done)](
                                              const grpc::Status& status, RangeResponse& response) {
    if (!status.ok()) {
      failed("reading a lock by id", status);
      return done(failed_view());
    }
    LockView view;
    view.as_of = WallClock::now();
    view.version = static_cast<std::uint64_t>(response.header().revision());
    view.totals = listing_totals_;
    std::vector<NameRecord> names;
    if (response.kvs_size() > 0 && distlock_key_ours(response.kvs(0), index, index_created)) {
      NameRecord record;
      record.name = distlock_.name_for_key(index.key).value_or(std::string{});
      record.holders.push_back(etcd::hold_record(index.value, index_created, view.as_of));
      names.push_back(std::move(record));
    }
    if (query.listing) view.names = std::make_shared<const std::vector<NameRecord>>(std::move(names));
    done(std::move(view));
  }));
}

}  // namespace tnl
