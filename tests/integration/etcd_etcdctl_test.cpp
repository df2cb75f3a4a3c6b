// etcd's own lock recipe and ours exclude each other: the real `etcdctl lock PREFIX+N -- cmd`
// (ETCDCTL_API=3) against `tcpnetlock_do --lock-name N` and raw line clients, both ways.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "etcd_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::etcd;
namespace fs = std::filesystem;

namespace {
/// `etcdctl lock KEY -- sh -c SCRIPT`, started in the background.
ChildProcess etcdctl_lock(const EtcdCluster& cluster, const std::string& key, const std::string& script) {
  SpawnOptions spawn;
  spawn.env["ETCDCTL_API"] = "3";
  spawn.new_process_group = true;
  return ChildProcess::start(cluster.etcdctl_argv({"lock", key, "--", "sh", "-c", script}), spawn);
}
}  // namespace

TEST_CASE("etcdctl: etcdctl lock PREFIX+N excludes tcpnetlock_do --lock-name N, and hands over", "[etcd][etcdctl]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("ctl");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3);
  TempDir dir;
  const fs::path held = dir.path() / "held", release = dir.path() / "release";

  // etcdctl holds N until the test creates `release`.
  ChildProcess ctl = etcdctl_lock(cluster, prefix + "N",
                                  "touch '" + held.string() + "'; while [ ! -e '" + release.string() +
                                      "' ]; do sleep 0.02; done; echo \"done-by-etcdctl $ETCD_LOCK_REV\"");
  REQUIRE(wait_until([&] { return fs::exists(held); }, 10s));

  // tcpnetlock_do without waiting: not granted (123), its command never runs.
  ChildProcess refused = ChildProcess::start(at("tcpnetlock_do", a, {"--lock-name", "N", "--", "touch", (dir.path() / "ran").string()}), clean_env());
  const auto refused_status = refused.wait_for_exit(10s);
  REQUIRE(refused_status);
  CHECK(refused_status->exited(123));
  CHECK_FALSE(fs::exists(dir.path() / "ran"));
  CHECK(LineClient(b.port()).request("lock,name:N") == std::optional<std::string>("not-granted"));
  // Every replica lists the foreign holder (a connection hold, limit 1).
  CHECK(wait_until([&] { return name_state(a, "N").holders == 1 && name_state(b, "N").holders == 1; }, 5s));
  // A limit other than 1 is a mismatch with etcd's mutex.
  CHECK(LineClient(a.port()).request("lock,name:N,limit:2") == std::optional<std::string>("err,limit mismatch"));

  // A tcpnetlock_do that waits runs its command only after etcdctl's command has ended.
  const fs::path log = dir.path() / "log";
  ChildProcess waiting = ChildProcess::start(
      at("tcpnetlock_do", b, {"--lock-name", "N", "--wait", "30", "--fencing", "--shell",
                              "echo \"do $TCPNETLOCK_TOKEN\" >> '" + log.string() + "'"}),
      clean_env());
  REQUIRE(wait_waiters(a, "N", 1));
  CHECK_FALSE(fs::exists(log));
  { std::ofstream(release.string()) << ""; }
  const auto ctl_status = ctl.wait_for_exit(10s);
  REQUIRE(ctl_status);
  CHECK(ctl_status->exited(0));
  const auto waited = waiting.wait_for_exit(10s);
  REQUIRE(waited);
  CHECK(waited->exited(0));
  CHECK(read_file(log).rfind("do ", 0) == 0);
  // Its token (= its key's create revision) is above etcdctl's key's.
  INFO("etcdctl: " << ctl.stdout_text() << " tcpnetlock_do: " << read_file(log));
  const std::string out = ctl.stdout_text();
  const auto at = out.find("done-by-etcdctl ");
  REQUIRE(at != std::string::npos);
  // etcdctl did not wait, so its ETCD_LOCK_REV is its key's create revision.
  CHECK(std::stoull(read_file(log).substr(3)) > std::stoull(out.substr(at + 16)));
}

TEST_CASE("etcdctl: a tcpnetlock holder of N excludes etcdctl lock PREFIX+N until it releases", "[etcd][etcdctl]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("ctl2");
  Replica a(cluster, prefix, 3);
  TempDir dir;
  const fs::path got = dir.path() / "got";

  LineClient holder(a.port());
  REQUIRE(holder.request("lock,name:N,fencing:1") .value_or("").rfind("ok,token:", 0) == 0);
  ChildProcess ctl = etcdctl_lock(cluster, prefix + "N", "echo \"$ETCD_LOCK_KEY\" > '" + got.string() + "'");
  // etcdctl queues behind us: its key appears under N/, its command does not run.
  REQUIRE(wait_until([&] { return cluster.keys(prefix + "N/").size() == 2; }, 10s));
  CHECK_FALSE(wait_until([&] { return fs::exists(got) || !ctl.running(); }, 1s));
  CHECK(wait_waiters(a, "N", 1));  // listed as a waiter

  // A second tcpnetlock request queues behind etcdctl (FIFO across both recipes).
  LineClient second(a.port());
  second.send_line("lock,name:N,wait:30");
  REQUIRE(wait_waiters(a, "N", 2));

  CHECK(holder.request("release") == std::optional<std::string>("released"));
  const auto status = ctl.wait_for_exit(10s);
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(read_file(got).rfind(prefix + "N/", 0) == 0);
  // etcdctl released when its command ended: the next tcpnetlock waiter gets N.
  CHECK(second.read_line(10s) == std::optional<std::string>("ok"));
}

TEST_CASE("etcdctl: a kill -9 of etcdctl frees N for tcpnetlock when its lease ends", "[etcd][etcdctl]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("ctl3");
  Replica a(cluster, prefix, 3);
  TempDir dir;
  const fs::path held = dir.path() / "held";
  SpawnOptions spawn;
  spawn.env["ETCDCTL_API"] = "3";
  spawn.new_process_group = true;
  ChildProcess ctl = ChildProcess::start(
      cluster.etcdctl_argv({"lock", "--ttl", "2", prefix + "N", "--", "sh", "-c", "touch '" + held.string() + "'; sleep 60"}),
      spawn);
  REQUIRE(wait_until([&] { return fs::exists(held); }, 10s));
  LineClient waiter(a.port());
  waiter.send_line("lock,name:N,wait:30");
  CHECK(waiter.stays_silent(300ms));
  const auto killed = Clock::now();
  ctl.signal(SIGKILL, true);
  CHECK(waiter.read_line(10s) == std::optional<std::string>("ok"));
  CHECK(seconds_since(killed) < 2 + 1.5);
}

}  // namespace TNL_UNITY_ID
