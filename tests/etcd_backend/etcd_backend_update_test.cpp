// EtcdLockBackend::update (Tracker's UpdateLock): a detached lock's who and reason are
// rewritten in its key, seen from every replica, with its lease, token and key kept; a key
// released (and made again) meanwhile is never written.
#include <sstream>

#include "etcd_backend_cluster.hpp"
#include "tracker_locks.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

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

// A renewal moves the key to a new lease and revokes the old one; an update found the key
// before (on the old lease, with the old expiry) must neither put it back on the old lease
// (revoked with it: the lock would vanish while its holder holds it), nor be answered
// unknown for a lock still held, nor be overwritten by the renewal once answered.
TEST_CASE("etcd backend: an update racing a renewal keeps the renewed lease and the new who", "[etcd][update]") {
  Cluster cluster;
  for (int round = 0; round < 16; ++round) {
    INFO("round " << round);
    const std::string name = "renew-race-" + std::to_string(round);
    auto held = cluster.lock(cluster.a(), name, std::nullopt, 1, nullptr, HoldKind::detached, 20s);
    cluster.settle(held);
    REQUIRE(held->granted());
    std::optional<RenewOutcome> renewed;
    cluster.a().renew(held->id, 60s, [&](RenewOutcome o) { renewed = o; });
    // The update starts a little later each round, so that its find and its transaction
    // fall before, between and after the renewal's steps.
    for (int step = 0; step < round; ++step) cluster.io.run_one_for(std::chrono::milliseconds(50));
    std::optional<UpdateOutcome> updated;
    const std::string who = "who-" + std::to_string(round);
    cluster.b().update(held->id, HoldUpdate{who, std::nullopt}, [&](UpdateOutcome o) { updated = o; });
    REQUIRE(run_until(cluster.io, [&] { return renewed.has_value() && updated.has_value(); }));
    CHECK(*renewed == RenewOutcome::renewed);
    CHECK(*updated == UpdateOutcome::updated);
    // The key is on the renewal's lease (60 s), not the revoked one (20 s), and shows both changes.
    const std::string out = cluster.etcd.etcdctl_out({"get", "--prefix", "/test/" + name + "/", "-w", "json"});
    INFO("etcd: " << out);
    const auto at = out.find("\"lease\":");
    REQUIRE(at != std::string::npos);
    const long long lease = std::stoll(out.substr(at + 8));
    std::ostringstream hex;
    hex << std::hex << lease;
    const std::string ttl = cluster.etcd.etcdctl_out({"lease", "timetolive", hex.str()});
    INFO(ttl);
    CHECK(ttl.find("granted with TTL(60s)") != std::string::npos);
    const LockView view = cluster.read(cluster.b(), LockQuery{std::nullopt, held->id, true});
    const auto* holder = tnl::find_holder(view, held->id).second;
    REQUIRE(holder);
    CHECK(holder->client_id == who);
    REQUIRE(holder->expires);
    CHECK(*holder->expires > std::chrono::system_clock::now() + 40s);
    REQUIRE(cluster.release(cluster.a(), held->id, ReleaseBy::unlock) == ReleaseOutcome::released);
  }
}

// Two updates at once from two replicas, one of the who and one of the reason: both are
// answered `updated`, so both must be kept (neither written over a value read before the other).
TEST_CASE("etcd backend: two updates at once of different fields both stay", "[etcd][update]") {
  Cluster cluster;
  for (int round = 0; round < 10; ++round) {
    INFO("round " << round);
    const std::string name = "both-" + std::to_string(round);
    auto held = cluster.lock(cluster.a(), name, std::nullopt, 1, nullptr, HoldKind::detached, 30s);
    cluster.settle(held);
    REQUIRE(held->granted());
    std::optional<UpdateOutcome> who_done;
    std::optional<UpdateOutcome> reason_done;
    const std::string who = "who-" + std::to_string(round);
    const std::string reason = "reason-" + std::to_string(round);
    cluster.a().update(held->id, HoldUpdate{who, std::nullopt}, [&](UpdateOutcome o) { who_done = o; });
    cluster.b().update(held->id, HoldUpdate{std::nullopt, reason}, [&](UpdateOutcome o) { reason_done = o; });
    REQUIRE(run_until(cluster.io, [&] { return who_done.has_value() && reason_done.has_value(); }));
    CHECK(*who_done == UpdateOutcome::updated);
    CHECK(*reason_done == UpdateOutcome::updated);
    for (EtcdLockBackend* replica : {&cluster.a(), &cluster.b()}) {
      const LockView view = cluster.read(*replica, LockQuery{std::nullopt, held->id, true});
      const auto* holder = tnl::find_holder(view, held->id).second;
      REQUIRE(holder);
      CHECK(holder->client_id == who);
      CHECK(holder->reason == reason);
    }
    REQUIRE(cluster.release(cluster.a(), held->id, ReleaseBy::unlock) == ReleaseOutcome::released);
  }
}

}  // namespace TNL_UNITY_ID
