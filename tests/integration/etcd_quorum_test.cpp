// Faults of etcd under two replicas: one member of three killed (the leader, or the member
// the replicas talk to) costs a reconnect and nothing else; a majority killed makes every
// holder `lost,backend unavailable`, refuses requests and turns /readyz 503, until the
// quorum returns.
#include <catch2/catch.hpp>

#include <sstream>
#include <thread>

#include "etcd_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::etcd;

namespace {
/// Which member leads, from `etcdctl endpoint status` (-1 when none answers as leader).
int leader_of(EtcdCluster& cluster) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (!cluster.running(i)) continue;
    const EtcdctlResult status = cluster.etcdctl({"--endpoints=" + cluster.endpoint(i), "endpoint", "status", "-w", "json"}, 5s);
    if (!status.ok()) continue;
    const auto json = nlohmann::json::parse(status.out, nullptr, false);
    if (!json.is_array() || json.empty()) continue;
    const auto& s = json[0]["Status"];
    if (s["header"]["member_id"] == s["leader"]) return i;
  }
  return -1;
}

EtcdClusterOptions three_members() {
  EtcdClusterOptions options;
  options.members = 3;
  // Elections well inside the lease guard's margin, so that losing the leader costs a
  // replica no keepalive it needs.
  options.heartbeat = 50ms;
  options.election = 500ms;
  return options;
}

/// Holders on one replica, each a different kind of client.
struct Holders {
  LineClient raw;
  ChildProcess tool;  // tcpnetlock_do with keepalives every 0.3 s, given up after 1 s
  Holders(Replica& replica, const std::string& name)
      : raw(replica.port()),
        tool(ChildProcess::start(at("tcpnetlock_do", replica,
                                    {"--lock-name", name + "-do", "--keep-alive-secs", "0.3", "--keep-alive-timeout", "1",
                                     "--kill-grace", "0.5", "--", "sleep", "600"}),
                                 clean_env())) {
    REQUIRE(raw.request("lock,name:" + name + "-raw,fencing:1").value_or("").rfind("ok,token:", 0) == 0);
    REQUIRE(wait_until([&] { return name_state(replica, name + "-do").holders == 1; }, 10s));
  }
  /// Both still hold: the raw one answers a keepalive, the tool still runs.
  bool hold() { return raw.request(".keepalive") == std::optional<std::string>("alive") && tool.running(); }
};
}  // namespace

TEST_CASE("quorum: killing one etcd member of three interrupts nothing beyond a reconnect", "[etcd][quorum]") {
  // Killing the leader costs an election (the cluster's election timeout, 500 ms here, and the vote) during
  // which no keepalive is answered: a lease of 3 s leaves the guard 2 s, which an ASan build
  // on a busy machine overran once (the holders were told lost: safe, but an interruption).
  // 5 s leaves 4 s, as the default 10 s leaves 8 s.
  constexpr int ttl = 5;
  EtcdCluster cluster(three_members());
  const std::string prefix = unique_prefix("one");
  Replica a(cluster, prefix, ttl), b(cluster, prefix, ttl);
  Holders on_a(a, "a"), on_b(b, "b");
  const double reconnects_before = a.metric("tcpnetlock_etcd_reconnects_total").value_or(0) +
                                   b.metric("tcpnetlock_etcd_reconnects_total").value_or(0);

  // Round 1: the first member (the replicas' first endpoint); round 2: the leader then.
  for (int round = 0; round < 2; ++round) {
    const int victim = round == 0 ? 0 : leader_of(cluster);
    REQUIRE(victim >= 0);
    INFO("round " << round << ": kill -9 of etcd member " << victim);
    cluster.kill(victim);
    // Longer than a lease: every keepalive since went through another member.
    const auto killed = Clock::now();
    while (seconds_since(killed) < ttl + 1.0) {
      REQUIRE(on_a.hold());
      REQUIRE(on_b.hold());
      CHECK(a.readyz() == 200);
      CHECK(b.readyz() == 200);
      std::this_thread::sleep_for(200ms);  // paces the checks; the loop's end is the deadline
    }
    // Requests and handoffs across replicas work meanwhile.
    const std::string name = "handoff" + std::to_string(round);
    LineClient holder(a.port());
    REQUIRE(holder.request("lock,name:" + name) == std::optional<std::string>("ok"));
    LineClient waiter(b.port());
    waiter.send_line("lock,name:" + name + ",wait:30");
    REQUIRE(wait_waiters(a, name, 1));
    CHECK(holder.request("release") == std::optional<std::string>("released"));
    CHECK(waiter.read_line(5s) == std::optional<std::string>("ok"));
    cluster.restart(victim);
    REQUIRE(cluster.wait_healthy());
  }
  CHECK(on_a.hold());
  CHECK(on_b.hold());
  const double reconnects_after = a.metric("tcpnetlock_etcd_reconnects_total").value_or(0) +
                                  b.metric("tcpnetlock_etcd_reconnects_total").value_or(0);
  CHECK(reconnects_after > reconnects_before);
  CHECK(a.metric("tcpnetlock_etcd_holds_lost_total").value_or(-1) == 0);
  CHECK(b.metric("tcpnetlock_etcd_holds_lost_total").value_or(-1) == 0);
}

TEST_CASE("quorum: losing a majority tells holders lost and refuses requests, until the quorum returns",
          "[etcd][quorum]") {
  constexpr int ttl = 3;
  EtcdCluster cluster(three_members());
  const std::string prefix = unique_prefix("majority");
  Replica a(cluster, prefix, ttl), b(cluster, prefix, ttl);
  Holders on_a(a, "a"), on_b(b, "b");
  LineClient waiter(b.port());
  waiter.send_line("lock,name:a-raw,wait:60");
  REQUIRE(wait_waiters(a, "a-raw", 1));

  // Members 1 and 2 die: member 0 (every replica's first endpoint) is up but has no leader.
  const auto killed = Clock::now();
  cluster.kill(1);
  cluster.kill(2);
  // Every holder is told within the TTL (the guard gives up a margin before it).
  CHECK(on_a.raw.read_line(std::chrono::seconds(ttl) + 2s) == std::optional<std::string>("lost,backend unavailable"));
  const double lost_after = seconds_since(killed);
  CHECK(lost_after < ttl);
  CHECK(on_b.raw.read_line(2s) == std::optional<std::string>("lost,backend unavailable"));
  const auto a_do = on_a.tool.wait_for_exit(5s), b_do = on_b.tool.wait_for_exit(5s);
  REQUIRE(a_do);
  REQUIRE(b_do);
  CHECK(a_do->exited(122));
  CHECK(b_do->exited(122));
  // The waiter is not granted: it is told the backend is unavailable.
  const auto waited = waiter.read_line(5s);
  CHECK(waited != std::optional<std::string>("ok"));
  CHECK(waited == std::optional<std::string>("err,backend unavailable"));
  // New requests are refused, /readyz says why.
  CHECK(LineClient(a.port()).request("lock,name:new") == std::optional<std::string>("err,backend unavailable"));
  CHECK(LineClient(b.port()).request("lock,name:new,wait:5") == std::optional<std::string>("err,backend unavailable"));
  CHECK(a.readyz() == 503);
  CHECK(b.readyz() == 503);
  CHECK(a.http().post("/api/v1alpha1/lock", nlohmann::json{{"service", "new"}, {"who", "x"}}).status == 503);
  CHECK(a.metric("tcpnetlock_etcd_available") == std::optional<double>(0));

  // The quorum returns: both replicas are ready again and grant; the names held before
  // are free (their old lease was revoked, or ran out).
  cluster.restart(1);
  cluster.restart(2);
  REQUIRE(cluster.wait_healthy());
  const auto back = Clock::now();
  CHECK(a.wait_ready(20s));
  CHECK(b.wait_ready(20s));
  const double ready_after = seconds_since(back);
  LineClient again(b.port());
  CHECK(again.request("lock,name:a-raw,wait:" + std::to_string(ttl + 5)) == std::optional<std::string>("ok"));
  CHECK(LineClient(a.port()).request("lock,name:new") == std::optional<std::string>("ok"));
  CHECK(a.metric("tcpnetlock_etcd_holds_lost_total").value_or(0) >= 2);
  WARN("majority lost: holders told lost after " << lost_after << " s (TTL " << ttl << " s); replicas ready "
                                                 << ready_after << " s after the quorum returned");
}

}  // namespace TNL_UNITY_ID
