// EtcdLockBackend in process, against a real etcd started by each test: two backends (two
// "replicas") on one io_context and one etcd, each with its own client, as two servers
// would be. The semantics of the local backend, across replicas, and the lease guard.
#include "etcd_backend_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

TEST_CASE("etcd backend: a mutex across replicas, and the token is the key create revision", "[etcd]") {
  Cluster cluster;
  auto held = cluster.lock_now(cluster.a(), "m");
  REQUIRE(held->granted());
  CHECK(held->token > 0);
  auto refused = cluster.lock_now(cluster.b(), "m");
  CHECK(refused->outcome == AcquireOutcome::not_granted);
  auto again = cluster.lock_now(cluster.a(), "m");
  CHECK(again->outcome == AcquireOutcome::not_granted);
  // The token is the create revision of the lock's key in etcd.
  const std::string key = "/test/m/" + held->id.str();
  const std::string json = cluster.etcd.etcdctl_out({"get", key, "-w", "json"});
  CHECK(json.find("\"create_revision\":" + std::to_string(held->token)) != std::string::npos);
  CHECK(cluster.release(cluster.a(), held->id, ReleaseBy::holder) == ReleaseOutcome::released);
  // Released in the background: the other replica gets it soon after.
  std::shared_ptr<Answer> next;
  REQUIRE(run_until(cluster.io, [&] {
    if (next && next->calls && next->granted()) return true;
    if (!next || next->calls) next = cluster.lock(cluster.b(), "m");
    return false;
  }));
  CHECK(next->token > held->token);
  CHECK(cluster.a().hold_count() == 0);
  CHECK(cluster.b().hold_count() == 1);
}

TEST_CASE("etcd backend: FIFO waits across replicas, tokens increasing", "[etcd]") {
  Cluster cluster;
  auto holder = cluster.lock_now(cluster.a(), "q");
  REQUIRE(holder->granted());
  auto first = cluster.lock(cluster.b(), "q", 0ms);
  cluster.run_for(100ms);
  auto second = cluster.lock(cluster.a(), "q", 0ms);
  cluster.run_for(100ms);
  auto third = cluster.lock(cluster.b(), "q", 0ms);
  cluster.run_for(200ms);
  CHECK(first->calls + second->calls + third->calls == 0);
  CHECK(cluster.read(cluster.a(), LockQuery{std::string("q"), {}, true, true}).totals.waiters == 3);

  CHECK(cluster.release(cluster.a(), holder->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(first);
  REQUIRE(first->granted());
  CHECK(second->calls == 0);
  CHECK(cluster.release(cluster.b(), first->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(second);
  REQUIRE(second->granted());
  CHECK(third->calls == 0);
  CHECK(cluster.release(cluster.a(), second->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(third);
  REQUIRE(third->granted());
  CHECK(holder->token < first->token);
  CHECK(first->token < second->token);
  CHECK(second->token < third->token);
}

TEST_CASE("etcd backend: semaphores across replicas, and limit mismatch", "[etcd]") {
  Cluster cluster;
  auto one = cluster.lock_now(cluster.a(), "s", 2);
  auto two = cluster.lock_now(cluster.b(), "s", 2);
  REQUIRE(one->granted());
  REQUIRE(two->granted());
  auto three = cluster.lock_now(cluster.a(), "s", 2);
  CHECK(three->outcome == AcquireOutcome::not_granted);
  auto mutex = cluster.lock_now(cluster.b(), "s", 1);
  CHECK(mutex->outcome == AcquireOutcome::limit_mismatch);
  auto more = cluster.lock_now(cluster.a(), "s", 3);
  CHECK(more->outcome == AcquireOutcome::limit_mismatch);
  auto waiter = cluster.lock(cluster.a(), "s", 0ms, 2);
  cluster.run_for(200ms);
  CHECK(waiter->calls == 0);
  const auto view = cluster.read(cluster.b(), LockQuery{std::string("s"), {}, true, true});
  const auto* record = find_name(view, "s");
  REQUIRE(record != nullptr);
  CHECK(record->limit == 2);
  CHECK(record->holders.size() == 2);
  CHECK(record->waiters.size() == 1);
  CHECK(cluster.release(cluster.b(), two->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(waiter);
  CHECK(waiter->granted());
}

TEST_CASE("etcd backend: a wait times out, a cancelled wait leaves nothing behind", "[etcd]") {
  Cluster cluster;
  auto holder = cluster.lock_now(cluster.a(), "t");
  REQUIRE(holder->granted());
  const auto asked = Clock::now();
  auto timed = cluster.lock(cluster.b(), "t", 300ms);
  cluster.settle(timed);
  CHECK(timed->outcome == AcquireOutcome::timed_out);
  CHECK(Clock::now() - asked >= 300ms);
  CHECK(cluster.replicas[1]->stats.wait_timeout_count == 1);

  auto cancelled = cluster.lock(cluster.b(), "t", 0ms);
  cluster.run_for(200ms);
  CHECK(cluster.b().cancel(cancelled->id));
  CHECK_FALSE(cluster.b().cancel(cancelled->id));
  CHECK(cluster.b().request_count() == 0);
  // The keys of the timed-out and the cancelled request are gone: after the holder's
  // release, nobody holds the name and a new request gets it at once.
  REQUIRE(run_until(cluster.io, [&] { return cluster.b().cleanup_count() == 0; }));
  CHECK(cluster.release(cluster.a(), holder->id, ReleaseBy::holder) == ReleaseOutcome::released);
  REQUIRE(run_until(cluster.io, [&] { return cluster.a().cleanup_count() == 0; }));
  auto after = cluster.lock_now(cluster.b(), "t");
  CHECK(after->granted());
  CHECK(cancelled->calls == 0);
  // A cancel right after asking (the put still on its way): never answered, key deleted.
  auto quick = cluster.lock(cluster.a(), "t", 0ms);
  CHECK(cluster.a().cancel(quick->id));
  cluster.run_for(300ms);
  CHECK(quick->calls == 0);
  CHECK(cluster.a().request_count() == 0);
  const auto view = cluster.read(cluster.a(), LockQuery{std::string("t"), {}, true, true});
  REQUIRE(find_name(view, "t") != nullptr);
  CHECK(find_name(view, "t")->waiters.empty());
}

TEST_CASE("etcd backend: detached locks with a TTL and inf, renewed and unlocked from the other replica", "[etcd]") {
  Cluster cluster;
  auto timed = cluster.lock(cluster.a(), "d1", std::nullopt, 1, nullptr, HoldKind::detached, 2s);
  cluster.settle(timed);
  REQUIRE(timed->granted());
  auto forever = cluster.lock(cluster.a(), "d2", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
  cluster.settle(forever);
  REQUIRE(forever->granted());
  // Both listed from the other replica, as detached with their lease ends.
  const auto view = cluster.read(cluster.b(), LockQuery{std::nullopt, {}, true, true});
  REQUIRE(find_name(view, "d1") != nullptr);
  REQUIRE(find_name(view, "d1")->holders.size() == 1);
  CHECK(find_name(view, "d1")->holders[0].kind == HoldKind::detached);
  CHECK(find_name(view, "d1")->holders[0].expires.has_value());
  CHECK(find_name(view, "d1")->holders[0].token == timed->token);
  CHECK_FALSE(find_name(view, "d2")->holders[0].expires.has_value());
  CHECK(view.totals.detached_holds == 2);

  // A connection hold is not the unlock's to take; nor renewable.
  auto conn = cluster.lock_now(cluster.a(), "c");
  CHECK(cluster.release(cluster.b(), conn->id, ReleaseBy::unlock) == ReleaseOutcome::held_by_connection);
  CHECK(cluster.release(cluster.a(), conn->id, ReleaseBy::unlock) == ReleaseOutcome::held_by_connection);
  CHECK(cluster.renew(cluster.b(), conn->id, 10s) == RenewOutcome::held_by_connection);
  CHECK(cluster.renew(cluster.a(), conn->id, 10s) == RenewOutcome::held_by_connection);
  CHECK(cluster.renew(cluster.b(), LockId{1, 2}, 10s) == RenewOutcome::unknown);
  CHECK(cluster.release(cluster.b(), LockId{1, 2}, ReleaseBy::unlock) == ReleaseOutcome::unknown);

  // The TTL lock, renewed from B to a minute, outlives its first lease.
  CHECK(cluster.renew(cluster.b(), timed->id, 60s) == RenewOutcome::renewed);
  cluster.run_for(3500ms);
  CHECK(cluster.lock_now(cluster.b(), "d1")->outcome == AcquireOutcome::not_granted);
  // Renewed back to 1 s: it ends by itself.
  CHECK(cluster.renew(cluster.b(), timed->id, 1s) == RenewOutcome::renewed);
  std::shared_ptr<Answer> next;
  REQUIRE(run_until(
      cluster.io,
      [&] {
        if (next && next->calls && next->granted()) return true;
        if (!next || next->calls) next = cluster.lock(cluster.b(), "d1");
        return false;
      },
      10s));

  // ttl:inf: unlocked by id from the other replica.
  CHECK(cluster.release(cluster.b(), forever->id, ReleaseBy::unlock) == ReleaseOutcome::released);
  CHECK(cluster.release(cluster.b(), forever->id, ReleaseBy::unlock) == ReleaseOutcome::unknown);
  CHECK(cluster.lock_now(cluster.a(), "d2")->granted());
}

TEST_CASE("etcd backend: a listing read after an unlock or admin release by id does not show the hold", "[etcd]") {
  // The replica that answered `released` or `forced` lists the name free at once, before its
  // watch brings the deletion (a listing already in flight was served stale about 1 read in
  // 4). Asked fresh: a shared listing may be paced, up to a second behind (LockQuery; it
  // is when a build took 1 ms or more, as under ASan on a loaded machine), but a listing
  // taken after the release must not show the hold.
  Cluster cluster;
  LockQuery fresh;
  fresh.fresh = true;
  for (int round = 0; round < 10; ++round) {
    INFO("round " << round);
    auto detached = cluster.lock(cluster.a(), "ld", std::nullopt, 1, nullptr, HoldKind::detached, std::nullopt);
    cluster.settle(detached);
    REQUIRE(detached->granted());
    auto held = cluster.lock_now(cluster.a(), "lc");
    REQUIRE(held->granted());
    REQUIRE(run_until(cluster.io, [&] {
      const LockView view = cluster.read(cluster.b());
      return find_name(view, "ld") != nullptr && find_name(view, "lc") != nullptr;
    }));
    REQUIRE(cluster.release(cluster.b(), detached->id, ReleaseBy::unlock) == ReleaseOutcome::released);
    CHECK(find_name(cluster.read(cluster.b(), fresh), "ld") == nullptr);
    REQUIRE(cluster.release(cluster.b(), held->id, ReleaseBy::admin) == ReleaseOutcome::forced);
    CHECK(find_name(cluster.read(cluster.b(), fresh), "lc") == nullptr);
    // Both gone on A too before the next round (its watch catches up).
    REQUIRE(run_until(cluster.io, [&] { return cluster.a().hold_count() == 0; }));
  }
}

TEST_CASE("etcd backend: an admin on the other replica takes a connection hold and its holder hears first", "[etcd]") {
  Cluster cluster;
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(cluster.a(), "adm", 1, watcher);
  REQUIRE(held->granted());
  auto waiter = cluster.lock(cluster.a(), "adm", 0ms);
  cluster.run_for(100ms);
  CHECK(cluster.release(cluster.b(), held->id, ReleaseBy::admin) == ReleaseOutcome::forced);
  cluster.settle(waiter);
  REQUIRE(waiter->granted());
  REQUIRE(watcher->lost_ids.size() == 1);
  CHECK(watcher->lost_ids[0].first == held->id);
  CHECK(watcher->lost_ids[0].second == "released by admin");
  CHECK(watcher->sequence < waiter->sequence);
  CHECK(cluster.a().hold_count() == 1);  // the waiter's, not the old one
  CHECK(cluster.a().holds_lost() == 1);
  CHECK(cluster.replicas[1]->stats.forced_release_count == 1);
  // The same on its own replica.
  auto watcher2 = std::make_shared<Watcher>();
  CHECK(cluster.release(cluster.a(), waiter->id, ReleaseBy::admin) == ReleaseOutcome::forced);
  CHECK(cluster.release(cluster.a(), waiter->id, ReleaseBy::admin) == ReleaseOutcome::unknown);
}

TEST_CASE("etcd backend: a hold deleted in etcd by another is lost", "[etcd]") {
  Cluster cluster;
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(cluster.a(), "gone", 1, watcher);
  REQUIRE(held->granted());
  cluster.etcd.etcdctl_out({"del", "/test/gone/" + held->id.str()});
  REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }));
  CHECK(watcher->lost_ids[0].second == "released by admin");
  CHECK(cluster.a().hold_count() == 0);
}

TEST_CASE("etcd backend: lock-delay after a holder is gone or taken, across replicas", "[etcd]") {
  Cluster cluster(4s, 1500ms);
  auto held = cluster.lock_now(cluster.a(), "ld");
  REQUIRE(held->granted());
  auto waiter = cluster.lock(cluster.b(), "ld", 0ms);
  cluster.run_for(100ms);
  const auto gone_at = Clock::now();
  CHECK(cluster.release(cluster.a(), held->id, ReleaseBy::holder_gone) == ReleaseOutcome::released);
  cluster.run_for(500ms);
  CHECK(waiter->calls == 0);
  const auto view = cluster.read(cluster.b(), LockQuery{std::string("ld"), {}, true, true});
  REQUIRE(find_name(view, "ld") != nullptr);
  CHECK(find_name(view, "ld")->delays.size() == 1);
  CHECK(find_name(view, "ld")->holders.empty());
  CHECK(view.totals.delays == 1);
  cluster.settle(waiter, 10s);
  CHECK(waiter->granted());
  CHECK(Clock::now() - gone_at >= 1400ms);
  // A consented release leaves none.
  CHECK(cluster.release(cluster.b(), waiter->id, ReleaseBy::holder) == ReleaseOutcome::released);
  std::shared_ptr<Answer> next = cluster.lock(cluster.a(), "ld", 5s);
  const auto asked = Clock::now();
  cluster.settle(next);
  CHECK(next->granted());
  CHECK(Clock::now() - asked < 1000ms);
}

TEST_CASE("etcd backend: listings are the same from both replicas", "[etcd]") {
  Cluster cluster;
  auto x = cluster.lock_now(cluster.a(), "x");
  auto y = cluster.lock_now(cluster.b(), "y");
  auto wx = cluster.lock(cluster.b(), "x", 0ms);
  cluster.run_for(200ms);
  for (EtcdLockBackend* backend : {&cluster.a(), &cluster.b()}) {
    const auto view = cluster.read(*backend, LockQuery{std::nullopt, {}, true, true});
    CHECK(view.ok);
    REQUIRE(view.names);
    REQUIRE(view.names->size() == 2);
    CHECK((*view.names)[0].name == "x");
    CHECK((*view.names)[0].holders.at(0).id == x->id);
    CHECK((*view.names)[0].holders.at(0).token == x->token);
    CHECK((*view.names)[0].waiters.at(0).id == wx->id);
    CHECK((*view.names)[1].holders.at(0).id == y->id);
    CHECK(view.totals.held_names == 2);
    CHECK(view.totals.connection_holds == 2);
    CHECK(view.totals.waiters == 1);
    // Shared reads too (paced, never more than a second behind).
    const auto shared = cluster.read(*backend, LockQuery{});
    CHECK(shared.totals.held_names == 2);
    // By id: the hold's name only.
    LockQuery by_id;
    by_id.id = y->id;
    const auto one = cluster.read(*backend, by_id);
    REQUIRE(one.names);
    REQUIRE(one.names->size() == 1);
    CHECK((*one.names)[0].name == "y");
    by_id.id = LockId{5, 5};
    CHECK(cluster.read(*backend, by_id).names->empty());
  }
  // A release answered is not listed afterwards by a fresh read (the deletion, answered at
  // once and made in the background, is tried before the listing is read).
  CHECK(cluster.release(cluster.b(), y->id, ReleaseBy::holder) == ReleaseOutcome::released);
  const auto after = cluster.read(cluster.b(), LockQuery{std::nullopt, {}, true, true});
  CHECK(find_name(after, "y") == nullptr);
  std::string metrics;
  cluster.a().render_metrics(metrics);
  CHECK(metrics.find("tcpnetlock_etcd_available 1") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_request_duration_seconds_count") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_failures_total{kind=\"lease_lost\"} 0") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_holds_lost_total 0") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_lease_keepalive_age_seconds") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_lease_valid_seconds") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_reconnects_total") != std::string::npos);
}

TEST_CASE("etcd backend: etcdctl lock keys and ours exclude each other", "[etcd]") {
  Cluster cluster;
  // A key as `etcdctl lock /test/ext` makes it: under the name, empty value.
  cluster.etcd.etcdctl_out({"put", "/test/ext/694d7b2ac3e1f01a", ""});
  CHECK(cluster.lock_now(cluster.a(), "ext")->outcome == AcquireOutcome::not_granted);
  CHECK(cluster.lock_now(cluster.a(), "ext", 2)->outcome == AcquireOutcome::limit_mismatch);
  auto waiter = cluster.lock(cluster.b(), "ext", 0ms);
  cluster.run_for(200ms);
  CHECK(waiter->calls == 0);
  cluster.etcd.etcdctl_out({"del", "/test/ext/694d7b2ac3e1f01a"});
  cluster.settle(waiter);
  CHECK(waiter->granted());
}

TEST_CASE("etcd backend: the lease guard fires, holders lost first, requests refused, then available again",
          "[etcd][guard]") {
  Cluster cluster(2s);
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(cluster.a(), "g", 1, watcher);
  REQUIRE(held->granted());
  auto waiting_here = cluster.lock(cluster.a(), "g", 0ms);
  auto waiting_there = cluster.lock(cluster.b(), "g", 0ms);
  cluster.run_for(200ms);
  const auto cut = Clock::now();
  // A is cut off from etcd's answers: no keepalive acknowledged any more.
  cluster.a().stop_keepalives_for_test();
  REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }, 5s));
  // valid_until = grant/ack send + 2 s - 1 s: it gave up within about a second.
  CHECK(Clock::now() - cut <= 1500ms);
  CHECK(watcher->lost_ids[0].second == "backend unavailable");
  REQUIRE(waiting_here->calls == 1);
  CHECK(waiting_here->outcome == AcquireOutcome::unavailable);
  CHECK(cluster.a().hold_count() == 0);
  // The other replica's waiter is granted only after the holder heard (the old lease is
  // revoked, or expires in etcd).
  cluster.settle(waiting_there, 10s);
  CHECK(waiting_there->granted());
  CHECK(watcher->sequence < waiting_there->sequence);
  CHECK(cluster.a().holds_lost() == 1);
  // A new lease: available again, and it serves.
  REQUIRE(run_until(cluster.io, [&] { return cluster.a().available(); }, 10s));
  auto again = cluster.lock_now(cluster.a(), "g2");
  CHECK(again->granted());
  std::string metrics;
  cluster.a().render_metrics(metrics);
  CHECK(metrics.find("tcpnetlock_etcd_failures_total{kind=\"lease_lost\"} 1") != std::string::npos);
  CHECK(metrics.find("tcpnetlock_etcd_holds_lost_total 1") != std::string::npos);
}

TEST_CASE("etcd backend: etcd stopped past the TTL, holders lost, requests refused, reads fail, back after",
          "[etcd][guard]") {
  Cluster cluster(2s);
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(cluster.a(), "p", 1, watcher);
  REQUIRE(held->granted());
  cluster.etcd.pause(0);
  REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }, 5s));
  CHECK(watcher->lost_ids[0].second == "backend unavailable");
  CHECK_FALSE(cluster.a().available());
  // B gives up too, by its own guard (its last keepalive may have been a little later).
  REQUIRE(run_until(cluster.io, [&] { return !cluster.b().available(); }, 5s));
  // New requests are refused at once; reads fail (ok=false), never a stale listing.
  auto refused = cluster.lock(cluster.a(), "p2");
  CHECK(refused->calls == 1);
  CHECK(refused->outcome == AcquireOutcome::unavailable);
  const auto view = cluster.read(cluster.b(), LockQuery{std::nullopt, {}, true, true});
  CHECK_FALSE(view.ok);
  std::string metrics;
  cluster.a().render_metrics(metrics);
  CHECK(metrics.find("tcpnetlock_etcd_available 0") != std::string::npos);
  cluster.etcd.resume(0);
  REQUIRE(run_until(cluster.io, [&] { return cluster.a().available() && cluster.b().available(); }, 15s));
  // Nothing stale: the old hold is gone (the old lease revoked), the name is free.
  std::shared_ptr<Answer> next;
  REQUIRE(run_until(
      cluster.io,
      [&] {
        if (next && next->calls && next->granted()) return true;
        if (!next || next->calls) next = cluster.lock(cluster.b(), "p");
        return false;
      },
      10s));
  CHECK(next->token > held->token);
}

TEST_CASE("etcd backend: shut_down revokes the lease and waiters complete unavailable", "[etcd]") {
  Cluster cluster;
  auto held = cluster.lock_now(cluster.a(), "sd");
  REQUIRE(held->granted());
  auto holder2 = cluster.lock_now(cluster.b(), "sd2");
  REQUIRE(holder2->granted());
  auto waiter = cluster.lock(cluster.a(), "sd2", 0ms);
  cluster.run_for(100ms);
  cluster.a().shut_down();
  CHECK_FALSE(cluster.a().available());
  REQUIRE(waiter->calls == 1);
  CHECK(waiter->outcome == AcquireOutcome::unavailable);
  auto refused = cluster.lock(cluster.a(), "other");
  CHECK(refused->outcome == AcquireOutcome::unavailable);
  CHECK(cluster.a().revoking());
  REQUIRE(run_until(cluster.io, [&] { return !cluster.a().revoking(); }));
  // The revocation deleted the hold's key: the other replica gets the name at once.
  CHECK(cluster.lock_now(cluster.b(), "sd")->granted());
  // A release after shutdown is answered (its key went with the lease).
  CHECK(cluster.release(cluster.a(), held->id, ReleaseBy::holder) == ReleaseOutcome::released);
}

TEST_CASE("etcd backend: a request granted before its deadline leaves no deadline behind", "[etcd]") {
  Cluster cluster;
  auto granted = cluster.lock(cluster.a(), "dl", 300ms);
  cluster.settle(granted);
  REQUIRE(granted->granted());
  // Past the deadline the loop stays idle: a deadline left behind made its timer fire
  // again and again (a busy loop) and a stale entry was never dropped.
  cluster.io.restart();
  const std::size_t handlers = cluster.io.run_for(800ms);
  CHECK(handlers < 200);
  CHECK(granted->calls == 1);
  CHECK(cluster.a().hold_count() == 1);
}

}  // namespace TNL_UNITY_ID
