// Adversarial review of issue 13: cases found by attacking the etcd backend, one per finding.
#include <fmt/format.h>

#include "etcd_backend_cluster.hpp"

TEST_CASE("etcd backend adversarial: a semaphore hold's lock-delay keeps the semaphore's limit", "[etcd]") {
  Cluster cluster(4s, 2000ms);
  auto first = cluster.lock_now(cluster.a(), "sd", 2);
  auto second = cluster.lock_now(cluster.b(), "sd", 2);
  REQUIRE(first->granted());
  REQUIRE(second->granted());
  // The earliest holder goes without consent: its key (the name's head) becomes a delay.
  CHECK(cluster.release(cluster.a(), first->id, ReleaseBy::holder_gone) == ReleaseOutcome::released);
  cluster.run_for(300ms);
  const auto view = cluster.read(cluster.b(), LockQuery{std::string("sd"), {}, true, true});
  const auto* record = find_name(view, "sd");
  REQUIRE(record != nullptr);
  CHECK(record->limit == 2);
  CHECK(record->delays.size() == 1);
  CHECK(record->holders.size() == 1);
  // Both slots are taken (the delay and the other holder): a busy semaphore, not a mismatch.
  auto third = cluster.lock_now(cluster.b(), "sd", 2);
  CHECK(third->outcome == AcquireOutcome::not_granted);
  // A waiter of the same semaphore is granted once the delay ends, not refused.
  auto waiter = cluster.lock(cluster.a(), "sd", 10000ms, 2);
  cluster.settle(waiter);
  CHECK(waiter->granted());
}

TEST_CASE("etcd backend adversarial: a renewal whose answer is lost never deletes the detached lock", "[etcd]") {
  Cluster cluster;
  auto held = cluster.lock(cluster.a(), "rn", std::nullopt, 1, nullptr, HoldKind::detached, 20s);
  cluster.settle(held);
  REQUIRE(held->granted());
  // etcd applies the renewal (the key moves to a new lease) but the answer is lost: the
  // renewal is reported unavailable; its holder still holds until the old expiry at least.
  cluster.b().lose_next_renew_answer_for_test();
  CHECK(cluster.renew(cluster.b(), held->id, 30s) == RenewOutcome::unavailable);
  cluster.run_for(500ms);
  auto other = cluster.lock_now(cluster.b(), "rn");
  CHECK(other->outcome == AcquireOutcome::not_granted);
  const auto view = cluster.read(cluster.a(), LockQuery{std::string("rn"), {}, true, true});
  REQUIRE(find_name(view, "rn") != nullptr);
  CHECK(find_name(view, "rn")->holders.size() == 1);
}

// A detached lock granted in etcd but not yet moved to its own lease (Phase::moving: the
// lease grant and the move are on their way) is still on its replica's lease. Such a key
// is written here directly, as it is in that window, and renewed, then unlocked, by id
// from the other replica: neither may revoke the lease it is on (the replica's, with every
// connection hold of that replica on it).
TEST_CASE("etcd backend adversarial: renew or unlock of a detached lock still on its replica's lease never revokes that lease",
          "[etcd]") {
  Cluster cluster;
  auto watcher = std::make_shared<Watcher>();
  auto conn = cluster.lock_now(cluster.a(), "conn", 1, watcher);
  REQUIRE(conn->granted());
  const std::int64_t lease = cluster.a().lease();
  REQUIRE(lease != 0);
  for (const bool unlock : {false, true}) {
    auto spare = cluster.lock_now(cluster.b(), "spare");  // only for a fresh lock id
    REQUIRE(spare->granted());
    CHECK(cluster.release(cluster.b(), spare->id, ReleaseBy::holder) == ReleaseOutcome::released);
    const std::string id = spare->id.str();
    const std::string key = "/test/moving/" + id;
    const std::string lease_hex = fmt::format("{:x}", lease);
    cluster.etcd.etcdctl_out({"put", "--lease=" + lease_hex, key,
                          R"({"id":")" + id + R"(","kind":"detached","limit":1,"fenced":true})"});
    cluster.etcd.etcdctl_out({"put", "--lease=" + lease_hex, "/test/.ids/" + id, key});
    if (unlock) {
      cluster.release(cluster.b(), spare->id, ReleaseBy::unlock);
    } else {
      cluster.renew(cluster.b(), spare->id, 30s);
    }
    cluster.run_for(1500ms);
    CHECK(watcher->lost_ids.empty());
    CHECK(cluster.a().hold_count() == 1);
    CHECK(cluster.a().lease() == lease);
    auto other = cluster.lock_now(cluster.b(), "conn");
    CHECK(other->outcome == AcquireOutcome::not_granted);
    cluster.etcd.etcdctl_out({"del", key});
    cluster.etcd.etcdctl_out({"del", "/test/.ids/" + id});
  }
}
