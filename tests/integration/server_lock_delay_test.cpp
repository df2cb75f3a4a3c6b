// --lock-delay end to end (issue 10): after the server takes a lock away without its
// holder's consent, nobody gets the name until the delay has passed, so that what the
// old holder still runs (tcpnetlock_do's command, for up to its --kill-grace) stops
// first. A release the holder chose hands the lock on at once, as always.
#include <catch2/catch.hpp>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include <signal.h>

#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "server_http_helpers.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

/// The holders `.locks,name:NAME` lists (delays included).
json holders_of(std::uint16_t port, const std::string& name) {
  const auto locks = query_json(port, ".locks,name:" + name, "locks,");
  REQUIRE(locks.at("locks").size() == 1);
  return locks.at("locks")[0].at("holders");
}

/// Whether `.locks,name:NAME` shows `count` waiters, within a deadline.
bool waiters_queued(std::uint16_t port, const std::string& name, int count) {
  return wait_until([&] {
    const auto locks = query_json(port, ".locks,name:" + name, "locks,");
    return locks.at("locks").size() == 1 && locks.at("locks")[0].at("waiters") == count;
  });
}

}  // namespace

TEST_CASE("after a holder timeout the waiter gets the lock only once the lock-delay has passed",
          "[lock-delay][holder-timeout]") {
  // (--start-grace 0: this server has no predecessor whose holders could still run.)
  ServerProcess server({"--holder-timeout", "0.3", "--lock-delay", "4", "--start-grace", "0"});
  const auto before_grant = Clock::now();
  LineClient silent(server.port());
  REQUIRE(silent.request("lock,name:job,client-id:old-holder,fencing:1").value_or("").rfind("ok,token:", 0) == 0);
  LineClient waiter(server.port());
  REQUIRE(waiter.send_line("lock,name:job,wait:60"));
  REQUIRE(waiters_queued(server.port(), "job", 1));

  REQUIRE(silent.read_line(5s) == "lost,holder timeout");
  // During the delay: the slot shows as a holder of kind "delay", naming whose loss it
  // follows and when it ends; a request that does not wait is not granted.
  const auto holders = holders_of(server.port(), "job");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].at("kind") == "delay");
  CHECK(holders[0].at("client_id") == "old-holder");
  CHECK(holders[0].at("expires").is_string());
  CHECK(LineClient(server.port()).request("lock,name:job") == "not-granted");
  CHECK(stats(server.port()).at("lock_count") == 0);  // nobody holds it

  REQUIRE(waiter.read_line(15s) == "ok");
  // The grant came at least holder timeout + delay after the holder's own grant.
  CHECK(Clock::now() - before_grant >= 4300ms);
  const auto after = holders_of(server.port(), "job");
  REQUIRE(after.size() == 1);
  CHECK(after[0].at("kind") == "connection");
}

TEST_CASE("a release, or a connection the holder closes, hands the lock on at once despite --lock-delay",
          "[lock-delay]") {
  ServerProcess server({"--lock-delay", "30", "--start-grace", "0"});
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:job") == "ok");
  LineClient waiter(server.port());
  REQUIRE(waiter.send_line("lock,name:job,wait:60"));
  REQUIRE(waiters_queued(server.port(), "job", 1));
  CHECK(holder.request("release") == "released");
  CHECK(waiter.read_line(10s) == "ok");  // a delay would have taken 30 s

  LineClient next(server.port());
  REQUIRE(next.send_line("lock,name:job,wait:60"));
  REQUIRE(waiters_queued(server.port(), "job", 1));
  waiter.close();
  CHECK(next.read_line(10s) == "ok");
  CHECK(holders_of(server.port(), "job").size() == 1);
}

TEST_CASE("a forced release over HTTP leaves the lock-delay too, and the HTTP list shows it",
          "[lock-delay][http]") {
  HttpServerProcess server({"--lock-delay", "4", "--start-grace", "0"});
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:deploy,client-id:stuck") == "ok");
  LineClient waiter(server.port());
  REQUIRE(waiter.send_line("lock,name:deploy,wait:60"));
  REQUIRE(waiters_queued(server.port(), "deploy", 1));
  const auto records = records_of(http, "deploy");
  REQUIRE(records.size() == 1);
  const std::string id = records[0].at("id");

  const auto before_release = Clock::now();
  REQUIRE_STATUS(http.del(api + "/lock/" + id), 200);
  CHECK(holder.read_line(5s) == "lost,released by admin");
  const auto delayed = records_of(http, "deploy");
  REQUIRE(delayed.size() == 1);
  CHECK(delayed[0].at("kind") == "delay");
  CHECK(delayed[0].at("who") == "stuck");
  CHECK(delayed[0].at("expiresAt").is_string());
  CHECK(list(http).at("total") == 1);
  // A delay is no lock: it cannot be fetched or released by the id of the hold it follows.
  CHECK_STATUS(http.get(api + "/lock/" + id), 404);
  CHECK_STATUS(http.del(api + "/lock/" + id), 404);
  CHECK_STATUS(http.post(api + "/lock", json{{"service", "deploy"}, {"who", "other"}}), 409);

  REQUIRE(waiter.read_line(15s) == "ok");
  CHECK(Clock::now() - before_release >= 4s);
}

// A server that stops (kill -9, a crash, its machine gone, even SIGTERM) takes every
// connection's lock without its holder's consent, and the lock-delays it kept live only in
// its memory: so a server started with a lock-delay grants nothing for that long (its start
// grace, --start-grace, the lock-delay by default), whatever the server before it did.
// [local-only]: --state-dir and a restart's start grace: with etcd a lock-delay is a key on its own lease.
TEST_CASE("a lock-delay is still running after a restart on the same --state-dir",
          "[lock-delay][restart][local-only]") {
  tnl::test::TempDir state;
  {
    ServerProcess server({"--state-dir", state.path().string(), "--holder-timeout", "0.3", "--lock-delay", "30",
                          "--start-grace", "0"});
    LineClient silent(server.port());
    REQUIRE(silent.request("lock,name:job,client-id:old-holder") == "ok");
    REQUIRE(silent.read_line(5s) == "lost,holder timeout");
    REQUIRE(holders_of(server.port(), "job").at(0).at("kind") == "delay");
    REQUIRE(server.stop());
  }
  ServerProcess again({"--state-dir", state.path().string(), "--lock-delay", "30"});
  // 30 s of delay were left a moment ago: the name must still be kept from the next holder.
  CHECK(LineClient(again.port()).request("lock,name:job") == "not-granted");
  CHECK(LineClient(again.port()).request("lock,name:any-other") == "not-granted");
}

// [local-only]: --state-dir and the start grace: with etcd the killed replica's key stays until its lease runs out.
TEST_CASE("a server killed while a connection holds a lock does not hand it on at once after a restart",
          "[lock-delay][restart][local-only]") {
  tnl::test::TempDir state;
  {
    ServerProcess server({"--state-dir", state.path().string(), "--lock-delay", "30", "--start-grace", "0"});
    LineClient holder(server.port());
    REQUIRE(holder.request("lock,name:job") == "ok");
    server.process().signal(SIGKILL);
    REQUIRE(server.process().wait_for_exit());
  }
  ServerProcess again({"--state-dir", state.path().string(), "--lock-delay", "30"});
  // The old holder lost its lock without consent (its command gets up to --kill-grace).
  CHECK(LineClient(again.port()).request("lock,name:job") == "not-granted");
}

// [local-only]: --state-dir and --start-grace 3, which the etcd backend refuses (nothing to wait for there).
TEST_CASE("during the start grace waiters queue in order and are granted when it ends, restored locks stay held",
          "[lock-delay][restart][local-only]") {
  tnl::test::TempDir state;
  std::string detached_id;
  {
    ServerProcess server({"--state-dir", state.path().string(), "--start-grace", "0"});
    const auto answer = LineClient(server.port()).request("lock,name:kept,ttl:300,client-id:batch");
    REQUIRE(answer.value_or("").rfind("ok,id:", 0) == 0);
    detached_id = answer->substr(std::string("ok,id:").size());
    detached_id = detached_id.substr(0, detached_id.find(','));
    REQUIRE(server.stop());
  }
  const auto started = Clock::now();
  HttpServerProcess server({"--state-dir", state.path().string(), "--lock-delay", "3", "--start-grace", "3"});
  // The restored detached lock is held as before: renewing and unlocking work.
  CHECK(holders_of(server.port(), "kept").at(0).at("kind") == "detached");
  CHECK(LineClient(server.port()).request("lock,name:kept") == "not-granted");
  LineClient first(server.port());
  REQUIRE(first.send_line("lock,name:job,wait:60,client-id:first"));
  REQUIRE(waiters_queued(server.port(), "job", 1));
  LineClient second(server.port());
  REQUIRE(second.send_line("lock,name:job,wait:60,client-id:second"));
  REQUIRE(waiters_queued(server.port(), "job", 2));
  LineClient other(server.port());
  REQUIRE(other.send_line("lock,name:other,wait:60"));
  REQUIRE(waiters_queued(server.port(), "other", 1));
  // A request that does not wait is not granted; over HTTP that is 503 with Retry-After,
  // not a conflict (nobody holds the name).
  CHECK(LineClient(server.port()).request("lock,name:free") == "not-granted");
  const double left = stats(server.port()).at("start_grace_seconds_left");
  CHECK(left > 0);
  CHECK(left <= 3);
  const HttpClient http(server.http_port());
  const auto refused = http.post(api + "/lock", json{{"service", "free"}, {"who", "me"}});
  CHECK(refused.status == 503);
  CHECK(refused.header("retry-after").has_value());

  CHECK(first.read_line(10s) == "ok");
  CHECK(other.read_line(10s) == "ok");
  CHECK(Clock::now() - started >= 3s);
  CHECK(stats(server.port()).at("start_grace_seconds_left") == 0.0);
  CHECK(holders_of(server.port(), "job").at(0).at("client_id") == "first");
  CHECK(first.request("release") == "released");
  CHECK(second.read_line(10s) == "ok");
  CHECK(LineClient(server.port()).request("unlock,id:" + detached_id) == "released");
  CHECK(LineClient(server.port()).request("lock,name:free") == "ok");
}

}  // namespace TNL_UNITY_ID
