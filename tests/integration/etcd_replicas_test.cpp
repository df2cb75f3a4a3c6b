// Two and three tcpnetlock_server replicas on one etcd: one lock space. Waits hand over
// across replicas in FIFO order, semaphores count holders on every replica, `.locks` and
// the HTTP list show the whole cluster from each replica, detached locks made on one
// replica are renewed and unlocked by id on another.
#include <catch2/catch.hpp>

#include "etcd_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::etcd;

TEST_CASE("replicas: a waiter on A is granted when B's holder releases, in FIFO order", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("fifo");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3);

  LineClient holder(b.port());
  const auto first = holder.request("lock,name:job,fencing:1");
  REQUIRE(first);
  REQUIRE(first->rfind("ok,token:", 0) == 0);
  // Busy across replicas: A refuses a request that does not wait.
  LineClient refused(a.port());
  CHECK(refused.request("lock,name:job") == std::optional<std::string>("not-granted"));

  LineClient waiter_a(a.port());
  waiter_a.send_line("lock,name:job,wait:30,fencing:1");
  REQUIRE(wait_waiters(b, "job", 1));  // queued in etcd before the next one asks
  LineClient waiter_b(b.port());
  waiter_b.send_line("lock,name:job,wait:30,fencing:1");
  REQUIRE(wait_waiters(a, "job", 2));
  CHECK(waiter_a.stays_silent(300ms));

  // B's holder releases: the earlier waiter, on A, gets it; the one on B keeps waiting.
  const auto released_at = Clock::now();
  CHECK(holder.request("release") == std::optional<std::string>("released"));
  const auto second = waiter_a.read_line(5s);
  REQUIRE(second);
  REQUIRE(second->rfind("ok,token:", 0) == 0);
  const double handoff = seconds_since(released_at);
  CHECK(handoff < 2.0);  // the watch hands it over, nobody polls
  CHECK(token_of(second) > token_of(first));
  CHECK(waiter_b.stays_silent(300ms));

  // A's holder just disconnects: B's waiter gets it.
  waiter_a.close();
  const auto third = waiter_b.read_line(5s);
  REQUIRE(third);
  REQUIRE(third->rfind("ok,token:", 0) == 0);
  CHECK(token_of(third) > token_of(second));
  CHECK(waiter_b.request(".keepalive") == std::optional<std::string>("alive"));
  WARN("handoff from B's release to A's waiter: " << handoff << " s");
}

TEST_CASE("replicas: a wait runs out across replicas and leaves the queue", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("timeout");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3);
  LineClient holder(a.port());
  REQUIRE(holder.request("lock,name:w") == std::optional<std::string>("ok"));
  LineClient waiter(b.port());
  const auto asked = Clock::now();
  CHECK(waiter.request("lock,name:w,wait:0.5") == std::optional<std::string>("not-granted"));
  CHECK(seconds_since(asked) >= 0.45);
  // Its key is gone: after the holder leaves, a request on A is granted at once.
  REQUIRE(wait_waiters(a, "w", 0));
  holder.close();
  CHECK(wait_until([&] { return LineClient(b.port()).request("lock,name:w") == std::optional<std::string>("ok"); }, 5s));
}

TEST_CASE("replicas: a semaphore counts the holders on every replica", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("sem");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3), c(cluster, prefix, 3);

  LineClient h1(a.port()), h2(b.port());
  REQUIRE(h1.request("lock,name:pool,limit:2") == std::optional<std::string>("ok"));
  REQUIRE(h2.request("lock,name:pool,limit:2") == std::optional<std::string>("ok"));
  // Full: C refuses one that does not wait, and another limit.
  CHECK(LineClient(c.port()).request("lock,name:pool,limit:2") == std::optional<std::string>("not-granted"));
  CHECK(LineClient(c.port()).request("lock,name:pool,limit:3") == std::optional<std::string>("err,limit mismatch"));
  CHECK(LineClient(a.port()).request("lock,name:pool") == std::optional<std::string>("err,limit mismatch"));

  LineClient waiter(c.port());
  waiter.send_line("lock,name:pool,limit:2,wait:30");
  REQUIRE(wait_waiters(a, "pool", 1));
  CHECK(waiter.stays_silent(300ms));
  CHECK(name_state(c, "pool").holders == 2);

  // One holder (on A) leaves: C's waiter takes its slot; B's holder still holds.
  h1.close();
  CHECK(waiter.read_line(5s) == std::optional<std::string>("ok"));
  CHECK(h2.request(".keepalive") == std::optional<std::string>("alive"));
  CHECK(wait_until([&] { return name_state(a, "pool").holders == 2 && name_state(a, "pool").waiters == 0; }, 5s));
  CHECK(LineClient(a.port()).request("lock,name:pool,limit:2") == std::optional<std::string>("not-granted"));
}

TEST_CASE("replicas: .locks and the HTTP list show the whole cluster from each replica", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("list");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3), c(cluster, prefix, 3);
  std::vector<Replica*> replicas{&a, &b, &c};

  LineClient ha(a.port()), hb(b.port()), hc(c.port()), waiter(c.port());
  REQUIRE(ha.request("lock,name:alpha,client-id:on-a,reason:from A") == std::optional<std::string>("ok"));
  REQUIRE(hb.request("lock,name:beta,client-id:on-b") == std::optional<std::string>("ok"));
  REQUIRE(hc.request("lock,name:gamma,client-id:on-c,limit:2") == std::optional<std::string>("ok"));
  waiter.send_line("lock,name:alpha,client-id:waits-on-c,wait:30");
  const auto detached = LineClient(b.port()).request("lock,name:delta,client-id:det,ttl:60");
  REQUIRE(detached);
  REQUIRE(detached->rfind("ok,id:", 0) == 0);

  for (Replica* r : replicas) {
    INFO("replica on port " << r->port());
    CHECK(wait_until(
        [&] {
          const auto json = r->locks();
          if (!json.is_object()) return false;
          std::set<std::string> names;
          for (const auto& lock : json["locks"]) names.insert(lock.value("name", ""));
          return names == std::set<std::string>{"alpha", "beta", "gamma", "delta"} &&
                 name_state(*r, "alpha").waiters == 1;
        },
        5s));
    const auto alpha = name_state(*r, "alpha");
    CHECK(alpha.holders == 1);
    CHECK(alpha.client_ids == std::set<std::string>{"on-a"});
    CHECK(name_state(*r, "beta").client_ids == std::set<std::string>{"on-b"});
    CHECK(name_state(*r, "delta").client_ids == std::set<std::string>{"det"});
    const auto json = r->locks("alpha");
    REQUIRE(json["locks"].size() == 1);
    CHECK(json["locks"][0]["holders"][0].value("reason", "") == "from A");
    CHECK(json["locks"][0]["holders"][0].value("kind", "") == "connection");
    const auto gamma = r->locks("gamma");
    REQUIRE(gamma["locks"].size() == 1);
    CHECK(gamma["locks"][0].value("limit", 0) == 2);
    // The HTTP list, the same four names.
    const HttpReply list = r->http().get("/api/v1alpha1/locks/list?per_page=100");
    REQUIRE(list.status == 200);
    INFO("list: " << list.body);
    const auto records = list.json();
    std::multiset<std::string> services;
    for (const auto& record : records["locks"]) services.insert(record.value("service", ""));
    CHECK(services == std::multiset<std::string>{"alpha", "beta", "delta", "gamma"});
  }

  // A holder that leaves disappears from every replica's listing (within a second or so).
  hb.close();
  for (Replica* r : replicas) CHECK(wait_until([&] { return name_state(*r, "beta").holders == 0; }, 5s));
}

TEST_CASE("replicas: a detached lock made on A is renewed on C and unlocked by id on B", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("detached");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3), c(cluster, prefix, 3);

  const auto made = LineClient(a.port()).request("lock,name:deploy,ttl:60,fencing:1");
  const std::string id = id_of(made);
  REQUIRE_FALSE(id.empty());
  CHECK(token_of(made) > 0);
  CHECK(LineClient(b.port()).request("lock,name:deploy") == std::optional<std::string>("not-granted"));
  CHECK(LineClient(c.port()).request("renew,id:" + id + ",ttl:120") == std::optional<std::string>("renewed"));
  // The lock outlives the replica that made it (it has its own lease).
  a.kill();
  LineClient waiter(c.port());
  waiter.send_line("lock,name:deploy,wait:30,fencing:1");
  CHECK(waiter.stays_silent(500ms));
  CHECK(LineClient(b.port()).request("unlock,id:" + id) == std::optional<std::string>("released"));
  const auto next = waiter.read_line(5s);
  REQUIRE(next);
  CHECK(next->rfind("ok,token:", 0) == 0);
  CHECK(token_of(next) > token_of(made));
  CHECK(LineClient(b.port()).request("unlock,id:" + id) == std::optional<std::string>("err,unknown lock id"));

  // The HTTP API the same way: made on B, read on C, released on C.
  a.start();
  const HttpReply created = b.http().post("/api/v1alpha1/lock", nlohmann::json{{"service", "window"}, {"who", "ci"}, {"ttl", 60}});
  REQUIRE(created.status == 201);
  const std::string hid = created.json().value("id", "");
  REQUIRE_FALSE(hid.empty());
  CHECK(c.http().get("/api/v1alpha1/lock/" + hid).status == 200);
  CHECK(a.http().post("/api/v1alpha1/lock", nlohmann::json{{"service", "window"}, {"who", "other"}}).status == 409);
  CHECK(c.http().del("/api/v1alpha1/lock/" + hid).status == 200);
  CHECK(a.http().get("/api/v1alpha1/lock/" + hid).status == 404);
  CHECK(LineClient(a.port()).request("lock,name:window") == std::optional<std::string>("ok"));
}

TEST_CASE("replicas: a detached lock's TTL runs out and a waiter on another replica gets it", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("ttl");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3);
  const auto made = LineClient(a.port()).request("lock,name:lease,ttl:1.5");
  REQUIRE_FALSE(id_of(made).empty());
  const auto made_at = Clock::now();
  LineClient waiter(b.port());
  waiter.send_line("lock,name:lease,wait:30");
  const auto answer = waiter.read_line(10s);
  CHECK(answer == std::optional<std::string>("ok"));
  const double after = seconds_since(made_at);
  CHECK(after >= 1.4);
  CHECK(after < 1.5 + 1.5);  // etcd's lease TTL is whole seconds (ceil) and expiry is checked every 0.5 s
  WARN("detached ttl:1.5 on A, granted to B's waiter after " << after << " s");
}

TEST_CASE("replicas: an admin on B releases a connection hold on A, which is told lost", "[etcd][replicas]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("admin");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3);
  LineClient holder(a.port());
  REQUIRE(holder.request("lock,name:held") == std::optional<std::string>("ok"));
  std::string id;
  REQUIRE(wait_until(
      [&] {
        const auto json = b.locks("held");
        if (!json.is_object() || json["locks"].empty()) return false;
        id = json["locks"][0]["holders"][0].value("id", "");
        return !id.empty();
      },
      5s));
  LineClient waiter(a.port());
  waiter.send_line("lock,name:held,wait:30");
  REQUIRE(wait_waiters(b, "held", 1));
  CHECK(b.http().del("/api/v1alpha1/lock/" + id).status == 200);
  CHECK(holder.read_line(5s) == std::optional<std::string>("lost,released by admin"));
  CHECK(waiter.read_line(5s) == std::optional<std::string>("ok"));
}

}  // namespace TNL_UNITY_ID
