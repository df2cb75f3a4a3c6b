// EtcdLockBackend in distlock's layout (--etcd-layout distlock): the realm's distlock names
// ("__test__-NAME" for the prefix /test/) are the key /test/NAME, as a real distlock keeps
// them. A real distlock's doings are written here with etcdctl: its mutex key under
// /test/__internal_lock/, its unconditional PUT of /test/NAME, its --unlock (a delete).
#include <fmt/format.h>

#include "etcd_backend_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

namespace {

/// The lease and create revision of `key` from `etcdctl get -w json` ("" when absent).
std::string field(const std::string& json, const std::string& name) {
  const auto at = json.find("\"" + name + "\":");
  if (at == std::string::npos) return "";
  auto begin = at + name.size() + 3;
  auto end = json.find_first_of(",}", begin);
  return json.substr(begin, end - begin);
}

}  // namespace

TEST_CASE("etcd distlock layout: a connection lock is the plain key on the replica lease, tokens, local FIFO",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  auto held = cluster.lock_now(cluster.a(), "__test__-m");
  REQUIRE(held->granted());
  const std::string json = cluster.etcd.etcdctl_out({"get", "/test/m", "-w", "json"});
  CHECK(field(json, "create_revision") == std::to_string(held->token));
  CHECK(field(json, "lease") == std::to_string(cluster.a().lease()));
  const std::string value = cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/m"});
  CHECK(value.find(";client;") != std::string::npos);  // "<unix s>;<host>;<reason>"
  CHECK(cluster.etcd.etcdctl_out({"get", "--prefix", "--keys-only", "/test/m/"}).find("/test/m/") == std::string::npos);

  CHECK(cluster.lock_now(cluster.b(), "__test__-m")->outcome == AcquireOutcome::not_granted);
  CHECK(cluster.lock_now(cluster.a(), "__test__-m")->outcome == AcquireOutcome::not_granted);
  // B's waiters in the order they asked (FIFO among one replica's waiters).
  auto first = cluster.lock(cluster.b(), "__test__-m", 0ms);
  cluster.run_for(100ms);
  auto second = cluster.lock(cluster.b(), "__test__-m", 0ms);
  cluster.run_for(200ms);
  CHECK(first->calls + second->calls == 0);
  // A request that does not wait is refused while B's waiters wait.
  CHECK(cluster.lock_now(cluster.b(), "__test__-m")->outcome == AcquireOutcome::not_granted);

  CHECK(cluster.release(cluster.a(), held->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(first);
  REQUIRE(first->granted());
  CHECK(first->token > held->token);
  cluster.run_for(200ms);
  CHECK(second->calls == 0);
  CHECK(cluster.release(cluster.b(), first->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(second);
  REQUIRE(second->granted());
  CHECK(second->token > first->token);

  // A semaphore cannot be laid out in distlock's key; other names keep the recipe.
  CHECK(cluster.lock_now(cluster.a(), "__test__-sem", 2)->outcome == AcquireOutcome::limit_mismatch);
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/sem"}).empty());
  auto plain = cluster.lock_now(cluster.a(), "plain");
  REQUIRE(plain->granted());
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/plain/" + plain->id.str()}).find("/test/plain/") !=
        std::string::npos);
  // The recipe keys of "__internal_lock" would be distlock's internal mutex: refused.
  CHECK(cluster.lock_now(cluster.a(), "__internal_lock")->outcome == AcquireOutcome::limit_mismatch);
  CHECK(cluster.etcd.etcdctl_out({"get", "--prefix", "--keys-only", "/test/__internal_lock/"}).empty());
  auto other_realm = cluster.lock_now(cluster.a(), "__other__-m");
  REQUIRE(other_realm->granted());
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/__other__-m/" + other_realm->id.str()}) != "");
}

TEST_CASE("etcd distlock layout: detached locks, TTL and inf, renewed, listed and unlocked from the other replica",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  auto timed = cluster.lock(cluster.a(), "__test__-d1", std::nullopt, 1, nullptr, HoldKind::detached, 2s);
  cluster.settle(timed);
  REQUIRE(timed->granted());
  auto forever = cluster.lock(cluster.a(), "__test__-d2", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(forever);
  REQUIRE(forever->granted());
  // ttl:inf has no lease, as distlock's own; a TTL has a lease of its own.
  CHECK(field(cluster.etcd.etcdctl_out({"get", "/test/d2", "-w", "json"}), "lease").empty());
  const std::string timed_lease = field(cluster.etcd.etcdctl_out({"get", "/test/d1", "-w", "json"}), "lease");
  CHECK(!timed_lease.empty());
  CHECK(timed_lease != std::to_string(cluster.a().lease()));

  const auto view = cluster.read(cluster.b(), LockQuery{std::nullopt, {}, true, true});
  const auto* d1 = find_name(view, "__test__-d1");
  REQUIRE(d1 != nullptr);
  REQUIRE(d1->holders.size() == 1);
  CHECK(d1->holders[0].id == timed->id);
  CHECK(d1->holders[0].kind == HoldKind::detached);
  CHECK(d1->holders[0].expires.has_value());
  CHECK(d1->holders[0].token == timed->token);
  const auto* d2 = find_name(view, "__test__-d2");
  REQUIRE(d2 != nullptr);
  CHECK_FALSE(d2->holders[0].expires.has_value());
  CHECK(view.totals.detached_holds == 2);
  // Read by id, from the other replica.
  const auto by_id = cluster.read(cluster.b(), LockQuery{std::nullopt, forever->id, true, true});
  REQUIRE(by_id.names);
  REQUIRE(by_id.names->size() == 1);
  CHECK((*by_id.names)[0].name == "__test__-d2");

  // Renewed from B to a minute: it outlives its first lease; then back to 1 s: it ends.
  CHECK(cluster.renew(cluster.b(), timed->id, 60s) == RenewOutcome::renewed);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/d1"}).find(";client;") != std::string::npos);
  cluster.run_for(3000ms);
  CHECK(cluster.lock_now(cluster.b(), "__test__-d1")->outcome == AcquireOutcome::not_granted);
  CHECK(cluster.renew(cluster.b(), timed->id, 1s) == RenewOutcome::renewed);
  auto waiter = cluster.lock(cluster.b(), "__test__-d1", 10000ms);
  cluster.settle(waiter);
  CHECK(waiter->granted());

  // ttl:inf unlocked by id from the other replica; a connection hold is not the unlock's.
  CHECK(cluster.release(cluster.b(), forever->id, ReleaseBy::unlock) == ReleaseOutcome::released);
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/d2"}).empty());
  CHECK(cluster.release(cluster.b(), forever->id, ReleaseBy::unlock) == ReleaseOutcome::unknown);
  CHECK(cluster.release(cluster.a(), waiter->id, ReleaseBy::unlock) == ReleaseOutcome::held_by_connection);
  CHECK(cluster.release(cluster.a(), waiter->id, ReleaseBy::unlock) == ReleaseOutcome::held_by_connection);
}

TEST_CASE("etcd distlock layout: a real distlock lock excludes ours, is listed, and is unlocked through the listing",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  cluster.etcd.etcdctl_out({"put", "/test/real", "1700000000;node-3;Upgrade RPMs on node-3"});
  cluster.etcd.etcdctl_out({"put", "/test/odd", "not a distlock value"});
  CHECK(cluster.lock_now(cluster.a(), "__test__-real")->outcome == AcquireOutcome::not_granted);
  auto waiter = cluster.lock(cluster.b(), "__test__-real", 0ms);
  cluster.run_for(200ms);
  CHECK(waiter->calls == 0);

  const auto view = cluster.read(cluster.a(), LockQuery{std::nullopt, {}, true, true});
  const auto* real = find_name(view, "__test__-real");
  REQUIRE(real != nullptr);
  REQUIRE(real->holders.size() == 1);
  const auto& holder = real->holders[0];
  CHECK(holder.kind == HoldKind::detached);  // no lease
  CHECK(holder.client_id == "node-3");
  CHECK(holder.reason == "Upgrade RPMs on node-3");
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(holder.since.time_since_epoch()).count() == 1700000000);
  CHECK(find_name(view, "__test__-odd") != nullptr);  // a malformed value is still a lock
  // The id shown is this replica's to act on; a renewal is refused (no lease of ours to give).
  CHECK(cluster.renew(cluster.a(), holder.id, 10s) == RenewOutcome::unknown);
  CHECK(cluster.release(cluster.a(), holder.id, ReleaseBy::unlock) == ReleaseOutcome::released);
  // Gone (B's waiter may have made it again already: then it is B's, with B's value).
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/real"}).find("node-3") == std::string::npos);
  cluster.settle(waiter);
  CHECK(waiter->granted());
  CHECK(cluster.release(cluster.a(), holder.id, ReleaseBy::unlock) == ReleaseOutcome::unknown);

  // A foreign key with a lease is a connection's: never taken by an unlock.
  const std::string lease = cluster.etcd.etcdctl_out({"lease", "grant", "30"});
  const auto hex_at = lease.find("lease ") + 6;
  const std::string lease_hex = lease.substr(hex_at, lease.find(' ', hex_at) - hex_at);
  cluster.etcd.etcdctl_out({"put", "--lease=" + lease_hex, "/test/leased", "1;h;r"});
  const auto leased_view = cluster.read(cluster.a(), LockQuery{std::string("__test__-leased"), {}, true, true});
  const auto* leased = find_name(leased_view, "__test__-leased");
  REQUIRE(leased != nullptr);
  CHECK(leased->holders[0].kind == HoldKind::connection);
  CHECK(cluster.release(cluster.a(), leased->holders[0].id, ReleaseBy::unlock) == ReleaseOutcome::held_by_connection);
  CHECK_FALSE(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/leased"}).empty());
}

TEST_CASE("etcd distlock layout: nothing is put while the internal mutex of distlock is held", "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  // A distlock between its mutex and its PUT: its GET may have found the name free.
  cluster.etcd.etcdctl_out({"put", "/test/__internal_lock/694d8c2f3a1b", ""});
  auto nowait = cluster.lock(cluster.a(), "__test__-x");
  auto waiter = cluster.lock(cluster.b(), "__test__-y", 0ms);
  cluster.run_for(500ms);
  CHECK(nowait->calls == 0);  // waits for the mutex, briefly
  CHECK(waiter->calls == 0);
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/x"}).empty());
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/y"}).empty());
  // The mutex is not listed as a lock.
  CHECK(find_name(cluster.read(cluster.a(), LockQuery{std::nullopt, {}, true, true}), "__internal_lock") == nullptr);
  // The mutex freed: both go.
  cluster.etcd.etcdctl_out({"del", "/test/__internal_lock/694d8c2f3a1b"});
  cluster.settle(nowait);
  cluster.settle(waiter);
  CHECK(nowait->granted());
  CHECK(waiter->granted());

  // A mutex held longer than a request that does not wait will wait: not granted.
  cluster.etcd.etcdctl_out({"put", "/test/__internal_lock/694d8c2f3a1c", ""});
  const auto asked = Clock::now();
  auto refused = cluster.lock(cluster.a(), "__test__-z");
  cluster.settle(refused);
  CHECK(refused->outcome == AcquireOutcome::not_granted);
  CHECK(Clock::now() - asked >= 1500ms);
  CHECK(cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/z"}).empty());
  cluster.etcd.etcdctl_out({"del", "/test/__internal_lock/694d8c2f3a1c"});
}

TEST_CASE("etcd distlock layout: a hold deleted by distlock --unlock is lost, and no release deletes the key of another",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 2000ms, true);  // a lock-delay too: distlock's key never gets one
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(cluster.a(), "__test__-u", 1, watcher);
  REQUIRE(held->granted());
  cluster.etcd.etcdctl_out({"del", "/test/u"});  // distlock --unlock: whoever made it
  REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }));
  CHECK(watcher->lost_ids[0].second == "released by admin");
  CHECK(cluster.a().hold_count() == 0);
  // A real distlock takes it; our old holder's release must not delete it.
  cluster.etcd.etcdctl_out({"put", "/test/u", "1;node-3;mine now"});
  CHECK(cluster.release(cluster.a(), held->id, ReleaseBy::holder) != ReleaseOutcome::released);
  cluster.run_for(300ms);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/u"}).find("mine now") != std::string::npos);

  // The same for a detached lock of ours: deleted and taken by distlock, then unlocked by our id.
  auto detached = cluster.lock(cluster.a(), "__test__-v", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(detached);
  REQUIRE(detached->granted());
  cluster.etcd.etcdctl_out({"del", "/test/v"});
  cluster.etcd.etcdctl_out({"put", "/test/v", "1;node-3;mine now"});
  CHECK(cluster.release(cluster.b(), detached->id, ReleaseBy::unlock) == ReleaseOutcome::unknown);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/v"}).find("mine now") != std::string::npos);

  // A connection hold that ends without consent leaves no lock-delay in distlock's key.
  auto gone = cluster.lock_now(cluster.b(), "__test__-w");
  REQUIRE(gone->granted());
  CHECK(cluster.release(cluster.b(), gone->id, ReleaseBy::holder_gone) == ReleaseOutcome::released);
  REQUIRE(run_until(cluster.io, [&] { return cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/w"}).empty(); }));
  CHECK(cluster.lock_now(cluster.a(), "__test__-w")->granted());
}

TEST_CASE("etcd distlock layout: an acquire applied by etcd but whose answer was lost leaves no key behind",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  cluster.a().lose_next_distlock_answer_for_test();
  auto lost = cluster.lock_now(cluster.a(), "__test__-s");
  CHECK(lost->outcome == AcquireOutcome::unavailable);
  // The key was put (on A's lease, alive): found through its index and deleted, as made.
  REQUIRE(run_until(cluster.io, [&] { return cluster.etcd.etcdctl_out({"get", "--keys-only", "/test/s"}).empty(); },
                    5s));
  CHECK(cluster.etcd.etcdctl_out({"get", "--prefix", "--keys-only", "/test/.ids/"}).empty());
  CHECK(cluster.lock_now(cluster.b(), "__test__-s")->granted());
}

TEST_CASE("etcd distlock layout: an update rewrites distlock's record and ours, never a real distlock's",
          "[etcd][distlock-layout][update]") {
  Cluster cluster(4s, 0ms, true);
  auto forever = cluster.lock(cluster.a(), "__test__-u", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(forever);
  REQUIRE(forever->granted());
  std::optional<tnl::UpdateOutcome> outcome;
  cluster.b().update(forever->id, tnl::HoldUpdate{std::string("node-9"), std::string("new reason")},
                     [&](tnl::UpdateOutcome o) { outcome = o; });
  REQUIRE(run_until(cluster.io, [&] { return outcome.has_value(); }));
  CHECK(*outcome == tnl::UpdateOutcome::updated);
  // The key still holds distlock's "<unix s>;<host>;<reason>", no lease; the token is kept.
  const std::string value = cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/u"});
  CHECK(value.find(";node-9;new reason") != std::string::npos);
  CHECK(value.find('{') == std::string::npos);
  CHECK(field(cluster.etcd.etcdctl_out({"get", "/test/u", "-w", "json"}), "lease").empty());
  for (EtcdLockBackend* replica : {&cluster.a(), &cluster.b()}) {
    REQUIRE(run_until(cluster.io, [&] {
      const auto view = cluster.read(*replica, LockQuery{std::nullopt, {}, true, true});
      const auto* record = find_name(view, "__test__-u");
      return record && !record->holders.empty() && record->holders[0].client_id == "node-9";
    }));
    const auto view = cluster.read(*replica, LockQuery{std::nullopt, {}, true, true});
    const auto& holder = find_name(view, "__test__-u")->holders[0];
    CHECK(holder.id == forever->id);
    CHECK(holder.reason == "new reason");
    CHECK(holder.token == forever->token);
  }

  // A real distlock's lock: its record is distlock's, not ours to rewrite.
  cluster.etcd.etcdctl_out({"put", "/test/real", "1700000000;node-3;Upgrade RPMs"});
  const auto view = cluster.read(cluster.a(), LockQuery{std::nullopt, {}, true, true});
  const auto* real = find_name(view, "__test__-real");
  REQUIRE(real != nullptr);
  outcome.reset();
  cluster.a().update(real->holders[0].id, tnl::HoldUpdate{std::string("x"), std::string("y")},
                     [&](tnl::UpdateOutcome o) { outcome = o; });
  REQUIRE(run_until(cluster.io, [&] { return outcome.has_value(); }));
  CHECK(*outcome == tnl::UpdateOutcome::unknown);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/real"}) == "1700000000;node-3;Upgrade RPMs\n");
}

// A misconfiguration: replicas of one prefix in the two layouts would keep one name in two
// keys (P + NAME and P + encode(P) + "-" + NAME + "/" + id) and each grant it. The layout of
// the prefix is written once in etcd; a replica of the other layout refuses to serve.
TEST_CASE("etcd distlock layout: a replica in the recipe layout on a distlock-layout prefix refuses to serve",
          "[etcd][distlock-layout]") {
  for (const bool first_distlock : {true, false}) {
    CAPTURE(first_distlock);
    Cluster cluster(4s, 0ms, first_distlock);
    auto held = cluster.lock_now(cluster.a(), "__test__-mix");
    REQUIRE(held->granted());
    auto detached = cluster.lock(cluster.b(), "__test__-mixd", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
    cluster.settle(detached);
    REQUIRE(detached->granted());
    cluster.add(4s, 0ms, !first_distlock);
    EtcdLockBackend& other = *cluster.replicas[2]->backend;
    cluster.run_for(1500ms);
    CHECK_FALSE(other.available());
    std::string metrics;
    other.render_metrics(metrics);
    CHECK(metrics.find("tcpnetlock_etcd_layout_conflict 1") != std::string::npos);
    CHECK(cluster.lock_now(other, "__test__-mix")->outcome != AcquireOutcome::granted);
    CHECK(cluster.lock_now(other, "__test__-mixd")->outcome != AcquireOutcome::granted);
    // The replicas of the prefix's layout serve on.
    CHECK(cluster.a().available());
    CHECK(cluster.lock_now(cluster.b(), "__test__-mix")->outcome == AcquireOutcome::not_granted);
    // The marker is no lock of either layout.
    const LockView view = cluster.read(cluster.a());
    REQUIRE(view.names);
    for (const auto& record : *view.names) CHECK(record.name.find("layout") == std::string::npos);
    CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test.tcpnetlock-layout"}) ==
          (first_distlock ? "distlock\n" : "recipe\n"));
    cluster.replicas[2]->backend.reset();
  }
}

// A distlock paused past its session between its GET and its unconditional PUT (its mutex
// gone with its lease) overwrites a key we made meanwhile: same create revision, its value.
// That key is distlock's now: our connection holder is told lost, and our id no longer
// unlocks (or lists) a detached one.
TEST_CASE("etcd distlock layout: a key overwritten by a late distlock PUT is no longer ours",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(cluster.a(), "__test__-ow", 1, watcher);
  REQUIRE(held->granted());
  cluster.etcd.etcdctl_out({"put", "/test/ow", "1;node-3;late put"});
  REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }));
  CHECK(cluster.release(cluster.a(), held->id, ReleaseBy::holder) != ReleaseOutcome::released);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/ow"}).find("late put") != std::string::npos);

  auto detached = cluster.lock(cluster.a(), "__test__-owd", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(detached);
  REQUIRE(detached->granted());
  cluster.etcd.etcdctl_out({"put", "/test/owd", "1;node-3;late put"});
  cluster.run_for(200ms);
  const LockView view = cluster.read(cluster.b());
  const auto* record = find_name(view, "__test__-owd");
  REQUIRE(record);
  REQUIRE(record->holders.size() == 1);
  CHECK(record->holders[0].client_id == "node-3");
  CHECK(record->holders[0].id != detached->id);
  CHECK(cluster.release(cluster.b(), detached->id, ReleaseBy::unlock) == ReleaseOutcome::unknown);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/owd"}).find("late put") != std::string::npos);
  // Our lease-less index of it goes with a listing (it would stay for ever).
  REQUIRE(run_until(cluster.io, [&] {
    (void)cluster.read(cluster.a());
    return cluster.etcd.etcdctl_out({"get", "--prefix", "--keys-only", "/test/.ids/"}).find(detached->id.str()) ==
           std::string::npos;
  }, 5s));
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/owd"}).find("late put") != std::string::npos);
}

// Our ttl:inf lock has no lease, nor has its index: when a real distlock deletes (--unlock)
// or overwrites the key, nothing of ours deletes the index, which would stay in etcd for ever
// (one more per such unlock). A listing that finds an index whose key is gone or remade
// deletes it (only while the key is still not the one it was made with).
TEST_CASE("etcd distlock layout: the index of a lease-less lock deleted by distlock does not stay in etcd",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  auto detached = cluster.lock(cluster.a(), "__test__-orph", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(detached);
  REQUIRE(detached->granted());
  auto remade = cluster.lock(cluster.a(), "__test__-orph2", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(remade);
  REQUIRE(remade->granted());
  auto kept = cluster.lock(cluster.a(), "__test__-orph3", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(kept);
  REQUIRE(kept->granted());
  cluster.etcd.etcdctl_out({"del", "/test/orph"});                       // distlock --unlock
  cluster.etcd.etcdctl_out({"del", "/test/orph2"});
  cluster.etcd.etcdctl_out({"put", "/test/orph2", "1;node-3;mine now"});  // and its lock
  const auto indexes = [&] { return cluster.etcd.etcdctl_out({"get", "--prefix", "--keys-only", "/test/.ids/"}); };
  REQUIRE(run_until(cluster.io, [&] {
    (void)cluster.read(cluster.b());
    const std::string left = indexes();
    return left.find(detached->id.str()) == std::string::npos && left.find(remade->id.str()) == std::string::npos;
  }, 5s));
  CHECK(indexes().find(kept->id.str()) != std::string::npos);  // a live one stays
  CHECK(cluster.release(cluster.b(), kept->id, ReleaseBy::unlock) == ReleaseOutcome::released);
  CHECK(cluster.etcd.etcdctl_out({"get", "--print-value-only", "/test/orph2"}).find("mine now") != std::string::npos);
}

// A waiter's transaction evaluated while the key is held, answered only after the watch
// missed (compaction) the key's deletion: the re-check after the compaction ran while the
// transaction was on its way and skipped it. It must try again, not wait for ever.
TEST_CASE("etcd distlock layout: a waiter whose try was on its way during a compaction tries again",
          "[etcd][distlock-layout]") {
  Cluster cluster(4s, 0ms, true);
  cluster.etcd.etcdctl_out({"put", "/test/cw", "1;node-3;held"});  // a real distlock's
  cluster.b().drop_watch_events_for_test(true);
  cluster.b().hold_next_distlock_answer_for_test();
  auto waiter = cluster.lock(cluster.b(), "__test__-cw", 0ms);  // waits for ever
  cluster.run_for(500ms);  // its transaction is answered (held), the answer kept
  cluster.etcd.etcdctl_out({"del", "/test/cw"});                // distlock --unlock, missed
  cluster.b().compacted_for_test();
  cluster.run_for(500ms);  // the re-read after the compaction is answered
  cluster.b().drop_watch_events_for_test(false);
  REQUIRE(cluster.b().release_held_answer_for_test());
  REQUIRE(run_until(cluster.io, [&] { return waiter->calls > 0; }, 5s));
  CHECK(waiter->granted());
}

}  // namespace TNL_UNITY_ID
