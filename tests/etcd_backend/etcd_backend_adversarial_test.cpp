// Adversarial review of issue 13: cases found by attacking the etcd backend, one per finding.
#include <fmt/format.h>

#include "etcd_backend_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

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

namespace {

/// The send time of `backend`'s latest acknowledged keepalive, from its metrics.
Clock::time_point last_ack_sent(const EtcdLockBackend& backend) {
  std::string out;
  backend.render_metrics(out);
  const auto now = Clock::now();
  const std::string metric = "\ntcpnetlock_etcd_lease_keepalive_age_seconds ";
  const auto at = out.find(metric);
  REQUIRE(at != std::string::npos);
  const double age = std::stod(out.substr(at + metric.size()));
  return now - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(age));
}

}  // namespace

TEST_CASE("etcd backend adversarial: a replica whose guard lapsed never deletes its holders' keys before etcd "
          "could have ended the lease itself",
          "[etcd]") {
  // The guard keeps a margin before the lease can end so that the holders' `lost` goes out
  // before anyone else can be granted. Revoking the old lease at once, as soon as the
  // replica gave it up, deleted the holders' keys right after `lost` (tens of ms: the
  // random-kills run saw a holder write after the next one began).
  Cluster cluster(20s);
  cluster.add(2s, 0ms);  // replica C: TTL 2 s, margin 1 s
  EtcdLockBackend& c = *cluster.replicas[2]->backend;
  REQUIRE(run_until(cluster.io, [&] { return c.available(); }, 15s));
  auto watcher = std::make_shared<Watcher>();
  auto held = cluster.lock_now(c, "gl", 1, watcher);
  REQUIRE(held->granted());
  // B (TTL 20 s) waits for it; its grant time is taken in its completion.
  std::optional<Clock::time_point> granted_at;
  std::optional<AcquireOutcome> outcome;
  AcquireRequest request;
  request.name = "gl";
  request.limit = 1;
  request.client_id = "waiter";
  request.peer = "127.0.0.1:2";
  request.deadline = Clock::time_point::max();
  cluster.b().acquire(request, [&](const AcquireResult& result) {
    outcome = result.outcome;
    granted_at = Clock::now();
  }, {});
  cluster.run_for(300ms);
  REQUIRE_FALSE(outcome.has_value());
  // A keepalive acknowledged just now, then a pause past C's guard (S + 1 s) but not past
  // the lease itself (S + 2 s).
  REQUIRE(run_until(cluster.io, [&] { return Clock::now() - last_ack_sent(c) < 100ms; }));
  const auto sent = last_ack_sent(c);
  std::this_thread::sleep_for(1200ms);
  REQUIRE(run_until(cluster.io, [&] { return !watcher->lost_ids.empty(); }));
  REQUIRE(run_until(cluster.io, [&] { return outcome.has_value(); }, 15s));
  CHECK(*outcome == AcquireOutcome::granted);
  // Not before etcd could have ended C's lease by itself (20 ms for the metric's rounding).
  INFO("granted " << std::chrono::duration_cast<std::chrono::milliseconds>(*granted_at - sent).count()
                   << " ms after the last acknowledged keepalive was sent");
  CHECK(*granted_at >= sent + 2s - 20ms);
}

}  // namespace TNL_UNITY_ID
