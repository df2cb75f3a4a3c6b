// Batching in EtcdLockBackend: while an acquire transaction is on its way, further acquires
// queue and then go as ONE transaction (never two on one name, at most 128 operations);
// plain key deletions likewise. Each request of a batch is answered as a single one would be.
#include <fmt/format.h>

#include <set>

#include "etcd_backend_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

namespace {

/// How many of the keys in `listing` (etcdctl's --keys-only output) start with `prefix`.
std::size_t keys_in(const std::string& listing, const std::string& prefix) {
  std::size_t count = 0;
  std::size_t at = 0;
  while ((at = listing.find(prefix, at)) != std::string::npos) {
    ++count;
    at += prefix.size();
  }
  return count;
}

/// Keys under `prefix` in etcd (lock keys and index keys alike). Runs etcdctl: the test's
/// loop, and with it the replicas' lease keepalives, stands still meanwhile.
std::size_t keys_under(const EtcdCluster& etcd, const std::string& prefix) {
  return keys_in(etcd.etcdctl_out({"get", prefix, "--prefix", "--keys-only"}), prefix);
}

}  // namespace

TEST_CASE("etcd backend batches: a second request on a name goes in the next batch and tokens rise per name",
          "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  const auto before = a.acquire_batches();
  auto alone = cluster.lock(a, "s0");  // on its way: the next ones queue behind it
  auto n1 = cluster.lock(a, "n1", 0ms);
  auto n1_again = cluster.lock(a, "n1", 0ms);
  auto n2 = cluster.lock(a, "n2");
  auto n3 = cluster.lock(a, "n3");
  CHECK(a.acquire_batches() == before + 1);
  cluster.settle(alone);
  cluster.settle(n1);
  cluster.settle(n2);
  cluster.settle(n3);
  REQUIRE(alone->granted());
  REQUIRE(n1->granted());
  REQUIRE(n2->granted());
  REQUIRE(n3->granted());
  // {s0}, {n1, n2, n3}, {n1 again}: the same name never twice in one transaction.
  REQUIRE(run_until(cluster.io, [&] { return a.acquire_batches() == before + 3; }));
  cluster.run_for(200ms);
  CHECK(a.acquire_batches() == before + 3);
  CHECK(n1_again->calls == 0);  // waits behind n1
  // One transaction: one create revision for its keys, on different names.
  CHECK(n1->token == n2->token);
  CHECK(n2->token == n3->token);
  CHECK(alone->token < n1->token);
  CHECK(cluster.release(a, n1->id, ReleaseBy::holder) == ReleaseOutcome::released);
  cluster.settle(n1_again);
  REQUIRE(n1_again->granted());
  CHECK(n1_again->token > n1->token);
}

TEST_CASE("etcd backend batches: at most 128 operations per transaction and deletions batched too", "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  const auto before = a.acquire_batches();
  auto alone = cluster.lock(a, "first");
  std::vector<std::shared_ptr<Answer>> many;
  for (int i = 0; i < 40; ++i) many.push_back(cluster.lock(a, fmt::format("many{}", i)));
  for (const auto& answer : many) cluster.settle(answer);
  cluster.settle(alone);
  // A mutex request is 4 operations: 32 of them fill one transaction, 8 go in the next.
  CHECK(a.acquire_batches() == before + 3);
  std::set<tnl::FencingToken> tokens;
  for (const auto& answer : many) {
    REQUIRE(answer->granted());
    tokens.insert(answer->token);
  }
  CHECK(tokens.size() == 2);
  CHECK(std::count_if(many.begin(), many.end(), [&](const auto& answer) { return answer->token == *tokens.begin(); }) ==
        32);
  CHECK(a.hold_count() == 41);
  CHECK(keys_under(cluster.etcd, "/test/") == 2 * 41);

  // Released in one turn: the first deletion alone, the other 40 (80 operations) in one more;
  // each `released` only once its key is deleted.
  const auto deletes = a.delete_batches();
  std::vector<ReleaseOutcome> released;
  const auto count = [&](ReleaseOutcome outcome) { released.push_back(outcome); };
  a.release(alone->id, ReleaseBy::holder, "released by test", count);
  for (const auto& answer : many) a.release(answer->id, ReleaseBy::holder, "released by test", count);
  CHECK(released.empty());
  REQUIRE(run_until(cluster.io, [&] { return a.cleanup_count() == 0; }));
  CHECK(released == std::vector<ReleaseOutcome>(41, ReleaseOutcome::released));
  CHECK(a.delete_batches() == deletes + 2);
  CHECK(keys_under(cluster.etcd, "/test/") == 0);
  // Free for the other replica.
  CHECK(cluster.lock_now(cluster.b(), "many7")->granted());
}

TEST_CASE("etcd backend batches: a cancel inside a batch on its way and of a request still queued", "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  const auto before = a.acquire_batches();
  auto k0 = cluster.lock(a, "k0");
  auto k1 = cluster.lock(a, "k1", 0ms);
  auto k2 = cluster.lock(a, "k2", 0ms);
  auto k3 = cluster.lock(a, "k3", 0ms);
  auto queued = cluster.lock(a, "k4", 0ms);
  CHECK(a.cancel(queued->id));  // nothing sent for it yet
  CHECK_FALSE(a.cancel(queued->id));
  // Stops right after k0's answer sent the batch {k1, k2, k3}.
  REQUIRE(run_until(cluster.io, [&] { return a.acquire_batches() == before + 2; }));
  CHECK(k1->calls + k2->calls + k3->calls == 0);
  CHECK(a.cancel(k2->id));
  CHECK_FALSE(a.cancel(k2->id));
  cluster.settle(k1);
  cluster.settle(k3);
  CHECK(k1->granted());
  CHECK(k3->granted());
  CHECK(k1->token == k3->token);
  REQUIRE(run_until(cluster.io, [&] { return a.cleanup_count() == 0 && a.request_count() == 0; }));
  cluster.run_for(200ms);
  CHECK(k2->calls == 0);
  CHECK(queued->calls == 0);
  CHECK(a.acquire_batches() == before + 2);  // nothing was ever sent for k4
  CHECK(a.hold_count() == 3);
  // k2's key (put by the batch) is gone; k4's was never made.
  CHECK(keys_under(cluster.etcd, "/test/k2/") == 0);
  CHECK(keys_under(cluster.etcd, "/test/k4/") == 0);
  CHECK(cluster.lock_now(cluster.b(), "k2")->granted());
  CHECK(cluster.lock_now(cluster.b(), "k4")->granted());
}

TEST_CASE("etcd backend batches: a batch failing (etcd not answering) fails every request in it once", "[etcd]") {
  // TTL 20 s: the guard (valid for at least 20 - 4 - 5 s after the last acknowledged
  // keepalive) outlives both transactions' 1 s deadlines by far, even on a loaded machine,
  // so each fails by its own answer (not by the guard refusing the queued ones first).
  Cluster cluster(20s);
  EtcdLockBackend& a = cluster.a();
  const auto before = a.acquire_batches();
  cluster.etcd.pause(0);
  auto f0 = cluster.lock(a, "f0");
  std::vector<std::shared_ptr<Answer>> batch;
  for (int i = 1; i <= 5; ++i) batch.push_back(cluster.lock(a, fmt::format("f{}", i), 0ms));
  cluster.settle(f0);
  for (const auto& answer : batch) cluster.settle(answer);
  // f0 may have reached etcd before the SIGSTOP did; the batch was sent after f0's answer.
  CHECK((f0->outcome == AcquireOutcome::unavailable || f0->granted()));
  for (const auto& answer : batch) CHECK(answer->outcome == AcquireOutcome::unavailable);
  CHECK(a.acquire_batches() == before + 2);
  CHECK(a.request_count() == 0);
  cluster.etcd.resume(0);
  // A holder's release is answered once its key is deleted: only once etcd answers again.
  if (f0->granted()) CHECK(cluster.release(a, f0->id, ReleaseBy::holder) == ReleaseOutcome::released);
  REQUIRE(run_until(cluster.io, [&] { return a.available() && a.cleanup_count() == 0; }, 20s));
  cluster.run_for(300ms);
  for (const auto& answer : batch) CHECK(answer->calls == 1);
  // Nothing left behind: every name is free for the other replica. etcd, resumed, may apply
  // the failed batch's puts only after their deletions were tried (it reads the call's
  // timeout when it reads the call): the watch shows replica A its stray keys, which it
  // deletes. Each name is asked for until granted (bounded by the deadline).
  for (int i = 0; i <= 5; ++i) {
    std::shared_ptr<Answer> next;
    REQUIRE(run_until(cluster.io, [&] {
      if (next && next->calls && next->granted()) return true;
      if (!next || next->calls) next = cluster.lock(cluster.b(), fmt::format("f{}", i));
      return false;
    }));
  }
  CHECK(keys_under(cluster.etcd, "/test/f") == 6);  // B's six holds, nothing else
}

TEST_CASE("etcd backend batches: a batch put on a lease etcd has revoked fails every request in it once", "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  const std::int64_t old_lease = a.lease();
  auto watcher = std::make_shared<Watcher>();
  auto w0 = cluster.lock(a, "w0", std::nullopt, 1, watcher);
  std::vector<std::shared_ptr<Answer>> batch;
  for (int i = 1; i <= 5; ++i) batch.push_back(cluster.lock(a, fmt::format("w{}", i), 0ms));
  // The loop is not running: the batch goes only after w0's answer, onto a revoked lease.
  cluster.etcd.etcdctl_out({"lease", "revoke", fmt::format("{:x}", old_lease)});
  cluster.settle(w0);
  for (const auto& answer : batch) cluster.settle(answer);
  for (const auto& answer : batch) CHECK(answer->outcome == AcquireOutcome::unavailable);
  if (w0->granted()) {
    // Granted before the revocation: told lost since.
    REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }));
    CHECK(watcher->lost_ids[0].first == w0->id);
  } else {
    CHECK(w0->outcome == AcquireOutcome::unavailable);
  }
  CHECK(a.hold_count() == 0);
  REQUIRE(run_until(cluster.io, [&] { return a.available() && a.lease() != old_lease; }, 15s));
  cluster.run_for(200ms);
  for (const auto& answer : batch) CHECK(answer->calls == 1);
  for (int i = 0; i <= 5; ++i) CHECK(cluster.lock_now(cluster.b(), fmt::format("w{}", i))->granted());
}

TEST_CASE("etcd backend batches: free names are granted by the puts alone, one taken name sends the whole batch "
          "the long way",
          "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  EtcdLockBackend& b = cluster.b();
  SECTION("every name free: granted, in etcd, and exclusive") {
    auto alone = cluster.lock(a, "f0");  // on its way: the next ones go as one batch
    auto f1 = cluster.lock(a, "f1");
    auto f2 = cluster.lock(a, "f2");
    auto fs = cluster.lock(a, "fs", std::nullopt, 3);
    for (const auto& answer : {alone, f1, f2, fs}) {
      cluster.settle(answer);
      REQUIRE(answer->granted());
    }
    CHECK(f1->token == f2->token);
    CHECK(f2->token == fs->token);
    CHECK(keys_under(cluster.etcd, "/test/") == 2 * 4);
    // They hold in etcd: the other replica is refused the mutex, given another slot of the semaphore.
    CHECK(cluster.lock_now(b, "f1")->outcome == AcquireOutcome::not_granted);
    CHECK(cluster.lock_now(b, "fs", 3)->granted());
    CHECK(cluster.lock_now(b, "fs", 2)->outcome == AcquireOutcome::limit_mismatch);
  }
  SECTION("a taken name in the batch: every request answered as alone") {
    auto held = cluster.lock_now(b, "taken");
    REQUIRE(held->granted());
    REQUIRE(cluster.lock_now(b, "sem", 2)->granted());
    // etcdctl's way: a key with an empty value, made before any request of ours on the name.
    cluster.etcd.etcdctl_out({"put", "/test/foreign/694d6d1a2c3b", ""});
    auto alone = cluster.lock(a, "g0");
    auto free = cluster.lock(a, "gfree");
    auto taken = cluster.lock(a, "taken");
    auto mismatch = cluster.lock(a, "sem");
    auto waiter = cluster.lock(a, "foreign", 0ms);
    for (const auto& answer : {alone, free, taken, mismatch}) cluster.settle(answer);
    CHECK(alone->granted());
    CHECK(free->granted());
    CHECK(taken->outcome == AcquireOutcome::not_granted);
    CHECK(mismatch->outcome == AcquireOutcome::limit_mismatch);
    cluster.run_for(200ms);
    CHECK(waiter->calls == 0);
    // The foreign key's deletion (a key never seen put: its create revision is not known)
    // is the waiter's predecessor going.
    cluster.etcd.etcdctl_out({"del", "/test/foreign/694d6d1a2c3b"});
    cluster.settle(waiter);
    CHECK(waiter->granted());
    CHECK(waiter->token == free->token);  // its key was made in the same transaction
  }
}

TEST_CASE("etcd backend batches: deletions queued behind an acquire batch go first in the next one", "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  auto x = cluster.lock_now(a, "x");
  REQUIRE(x->granted());
  const auto acquires = a.acquire_batches();
  const auto deletes = a.delete_batches();
  auto alone = cluster.lock(a, "d0");  // on its way: what follows waits for it
  std::optional<ReleaseOutcome> released;
  a.release(x->id, ReleaseBy::holder, "released by test", [&](ReleaseOutcome o) { released = o; });
  auto again = cluster.lock(a, "x");  // queued after x's deletion
  auto other = cluster.lock(a, "d1");
  CHECK_FALSE(released.has_value());
  cluster.settle(alone);
  cluster.settle(again);
  cluster.settle(other);
  REQUIRE(run_until(cluster.io, [&] { return released.has_value(); }));
  CHECK(*released == ReleaseOutcome::released);
  // One more transaction: x's deletion, then {x again, d1}; no deletion sent alone. Its
  // ranges saw x's old key gone: granted at once, with a later token.
  CHECK(a.acquire_batches() == acquires + 2);
  CHECK(a.delete_batches() == deletes);
  REQUIRE(again->granted());
  REQUIRE(other->granted());
  CHECK(again->token == other->token);
  CHECK(again->token > x->token);
  CHECK(keys_under(cluster.etcd, "/test/x/") == 1);
  CHECK(keys_under(cluster.etcd, "/test/.ids/") == 3);
  // Released with nothing else queued: a deletion alone again.
  CHECK(cluster.release(a, again->id, ReleaseBy::holder) == ReleaseOutcome::released);
  CHECK(a.delete_batches() == deletes + 1);
  CHECK(cluster.lock_now(cluster.b(), "x")->granted());
}

TEST_CASE("etcd backend batches: many deletions behind an acquire batch never overfill a transaction, the acquires "
          "keep their room, and a name freed later is granted to its waiter",
          "[etcd]") {
  Cluster cluster;
  EtcdLockBackend& a = cluster.a();
  std::vector<std::shared_ptr<Answer>> held;
  for (int i = 0; i < 100; ++i) held.push_back(cluster.lock(a, fmt::format("h{}", i)));
  for (const auto& answer : held) cluster.settle(answer);
  for (const auto& answer : held) REQUIRE(answer->granted());
  auto alone = cluster.lock(a, "z");  // on its way: everything below queues behind it
  // 100 deletions (200 operations: more than one transaction holds) ...
  std::vector<ReleaseOutcome> released;
  for (const auto& answer : held) {
    a.release(answer->id, ReleaseBy::holder, "released by test", [&](ReleaseOutcome o) { released.push_back(o); });
  }
  // ... then 20 acquires of free names, and a waiter on a name whose deletion is queued.
  std::vector<std::shared_ptr<Answer>> asked;
  for (int i = 0; i < 20; ++i) asked.push_back(cluster.lock(a, fmt::format("q{}", i)));
  auto again = cluster.lock(a, "h99", 0ms);
  const auto acquires = a.acquire_batches();
  cluster.settle(alone);
  for (const auto& answer : asked) cluster.settle(answer);
  cluster.settle(again);
  REQUIRE(alone->granted());
  // Every transaction within etcd's 128 operations (else etcd refuses it whole).
  for (const auto& answer : asked) CHECK(answer->granted());
  CHECK(again->granted());
  REQUIRE(run_until(cluster.io, [&] { return a.cleanup_count() == 0 && released.size() == 100; }));
  CHECK(released == std::vector<ReleaseOutcome>(100, ReleaseOutcome::released));
  // The 21 acquires went in at most two transactions (16 mutexes at least in each).
  CHECK(a.acquire_batches() <= acquires + 3);
  // One etcdctl for the hundred names: one each kept the loop still for seconds on a busy
  // machine, past the replicas' lease keepalives (B's lease was lost, and h42 refused).
  const std::string listing = cluster.etcd.etcdctl_out({"get", "/test/h", "--prefix", "--keys-only"});
  for (int i = 0; i < 99; ++i) CHECK(keys_in(listing, fmt::format("/test/h{}/", i)) == 0);
  CHECK(keys_in(listing, "/test/h99/") == 1);
  CHECK(keys_under(cluster.etcd, "/test/.ids/") == 22);
  CHECK(cluster.lock_now(cluster.b(), "h42")->granted());
}

TEST_CASE("etcd backend batches: deletions riding in a failed acquire transaction are retried, released answered "
          "only once deleted",
          "[etcd]") {
  Cluster cluster(20s);  // the guard outlives the 1 s deadlines (see above)
  EtcdLockBackend& a = cluster.a();
  std::vector<std::shared_ptr<Answer>> held;
  for (int i = 0; i < 3; ++i) held.push_back(cluster.lock_now(a, fmt::format("r{}", i)));
  for (const auto& answer : held) REQUIRE(answer->granted());
  cluster.etcd.pause(0);
  auto alone = cluster.lock(a, "p0");  // fails by its deadline
  std::vector<ReleaseOutcome> released;
  for (const auto& answer : held) {
    a.release(answer->id, ReleaseBy::holder, "released by test", [&](ReleaseOutcome o) { released.push_back(o); });
  }
  auto next = cluster.lock(a, "p1", 0ms);  // rides with the deletions: fails too
  cluster.settle(alone);
  cluster.settle(next);
  CHECK(next->outcome == AcquireOutcome::unavailable);
  CHECK(released.empty());  // never answered before the key is gone
  CHECK(a.cleanup_count() >= 3);
  cluster.etcd.resume(0);
  REQUIRE(run_until(cluster.io, [&] { return released.size() == 3 && a.cleanup_count() == 0; }, 20s));
  CHECK(released == std::vector<ReleaseOutcome>(3, ReleaseOutcome::released));
  for (int i = 0; i < 3; ++i) {
    CHECK(keys_under(cluster.etcd, fmt::format("/test/r{}/", i)) == 0);
    CHECK(cluster.lock_now(cluster.b(), fmt::format("r{}", i))->granted());
  }
}

}  // namespace TNL_UNITY_ID
