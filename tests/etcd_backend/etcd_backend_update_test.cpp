// EtcdLockBackend::update (Tracker's UpdateLock): a detached lock's who and reason are
// rewritten in its key, seen from every replica, with its lease, token and key kept; a key
// released (and made again) meanwhile is never written.
#include "etcd_backend_cluster.hpp"
#include "tracker_locks.hpp"

using tnl::HoldUpdate;
using tnl::UpdateOutcome;

namespace {

UpdateOutcome update_now(Cluster& cluster, EtcdLockBackend& backend, const LockId& id, HoldUpdate changes) {
  std::optional<UpdateOutcome> outcome;
  backend.update(id, std::move(changes), [&](UpdateOutcome o) { outcome = o; });
  REQUIRE(run_until(cluster.io, [&] { return outcome.has_value(); }));
  return *outcome;
}

const tnl::HoldRecord* holder_of(const LockView& view, const std::string& name) {
  const auto* record = find_name(view, name);
  return record && !record->holders.empty() ? &record->holders.front() : nullptr;
}

}  // namespace

TEST_CASE("etcd backend: update rewrites who and reason, seen from both replicas, lease kept", "[etcd][update]") {
  Cluster cluster;
  auto timed = cluster.lock(cluster.a(), "u1", std::nullopt, 1, nullptr, HoldKind::detached, 3s);
  cluster.settle(timed);
  REQUIRE(timed->granted());
  const LockView before = cluster.read(cluster.a(), LockQuery{std::nullopt, timed->id, true});
  const auto [name_before, held_before] = tnl::find_holder(before, timed->id);
  REQUIRE(held_before);
  CHECK(held_before->client_id == "client");

  // From the other replica: who and reason change, nothing else.
  CHECK(update_now(cluster, cluster.b(), timed->id, HoldUpdate{std::string("ci-2"), std::string("event-2")}) ==
        UpdateOutcome::updated);
  for (EtcdLockBackend* replica : {&cluster.a(), &cluster.b()}) {
    REQUIRE(run_until(cluster.io, [&] {
      const auto* holder = holder_of(cluster.read(*replica, LockQuery{std::nullopt, {}, true, true}), "u1");
      return holder && holder->client_id == "ci-2";
    }));
    const auto* holder = holder_of(cluster.read(*replica, LockQuery{std::nullopt, {}, true, true}), "u1");
    REQUIRE(holder);
    CHECK(holder->id == timed->id);
    CHECK(holder->reason == "event-2");
    CHECK(holder->token == timed->token);
    CHECK(holder->expires == held_before->expires);
  }
  // Only the reason: the who stays.
  CHECK(update_now(cluster, cluster.a(), timed->id, HoldUpdate{std::nullopt, std::string("event-3")}) ==
        UpdateOutcome::updated);
  const LockView after = cluster.read(cluster.a(), LockQuery{std::nullopt, timed->id, true});
  REQUIRE(tnl::find_holder(after, timed->id).second);
  CHECK(tnl::find_holder(after, timed->id).second->client_id == "ci-2");
  CHECK(tnl::find_holder(after, timed->id).second->reason == "event-3");

  // Its lease is the one it had: it still ends by itself, about when it was to.
  REQUIRE(run_until(cluster.io, [&] { return holder_of(cluster.read(cluster.b()), "u1") == nullptr; }, 10s));
  CHECK(update_now(cluster, cluster.b(), timed->id, HoldUpdate{std::string("late"), std::nullopt}) ==
        UpdateOutcome::unknown);
  CHECK(holder_of(cluster.read(cluster.b()), "u1") == nullptr);

  // A connection hold's who is its connection's; an unknown id is unknown.
  auto conn = cluster.lock_now(cluster.a(), "c");
  REQUIRE(conn->granted());
  CHECK(update_now(cluster, cluster.a(), conn->id, HoldUpdate{std::string("x"), std::nullopt}) ==
        UpdateOutcome::held_by_connection);
  CHECK(update_now(cluster, cluster.b(), conn->id, HoldUpdate{std::string("x"), std::nullopt}) ==
        UpdateOutcome::held_by_connection);
  CHECK(update_now(cluster, cluster.b(), LockId{1, 2}, HoldUpdate{std::string("x"), std::nullopt}) ==
        UpdateOutcome::unknown);
}

TEST_CASE("etcd backend: an update racing a release never brings the lock back, nor writes the next holder's key",
          "[etcd][update]") {
  Cluster cluster;
  int updated = 0;
  int unknown = 0;
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    auto first = cluster.lock(cluster.a(), "race", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
    cluster.settle(first);
    REQUIRE(first->granted());
    // The update (from B) and the release (from A) on their way at once; then the name made
    // again at once by another detached lock: the update's find may see the first key, and
    // its transaction then meet the second.
    std::optional<UpdateOutcome> outcome;
    cluster.b().update(first->id, HoldUpdate{std::string("stale-" + std::to_string(round)), std::nullopt},
                       [&](UpdateOutcome o) { outcome = o; });
    std::optional<ReleaseOutcome> released;
    cluster.a().release(first->id, ReleaseBy::unlock, "test", [&](ReleaseOutcome o) { released = o; });
    REQUIRE(run_until(cluster.io, [&] { return released.has_value(); }));
    CHECK(*released == ReleaseOutcome::released);
    auto second = cluster.lock(cluster.a(), "race", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
    cluster.settle(second);
    REQUIRE(run_until(cluster.io, [&] { return outcome.has_value(); }));
    CHECK((*outcome == UpdateOutcome::updated || *outcome == UpdateOutcome::unknown));
    (*outcome == UpdateOutcome::updated ? updated : unknown) += 1;
    REQUIRE(second->granted());
    // The first is gone for good, the second is untouched.
    for (EtcdLockBackend* replica : {&cluster.a(), &cluster.b()}) {
      const LockView view = cluster.read(*replica, LockQuery{std::nullopt, first->id, true});
      CHECK(tnl::find_holder(view, first->id).second == nullptr);
      const LockView by_second = cluster.read(*replica, LockQuery{std::nullopt, second->id, true});
      const auto* holder = tnl::find_holder(by_second, second->id).second;
      REQUIRE(holder);
      CHECK(holder->client_id == "client");
    }
    CHECK(update_now(cluster, cluster.b(), first->id, HoldUpdate{std::string("later"), std::nullopt}) ==
          UpdateOutcome::unknown);
    REQUIRE(cluster.release(cluster.a(), second->id, ReleaseBy::unlock) == ReleaseOutcome::released);
  }
  INFO("updated " << updated << ", unknown " << unknown);
  CHECK(updated + unknown == 20);
}
