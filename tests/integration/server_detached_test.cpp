// Detached locks on the line protocol (docs/HTTP-API.md, "Detached locks on the line
// protocol"): `lock,...,ttl:`, `unlock,id:`, `renew,id:`, against the real server.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string uuid_pattern = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
constexpr const char* unknown_id = "00000000-0000-4000-8000-000000000000";

bool is_rfc3339(const json& value) {
  static const std::regex pattern{R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)"};
  return value.is_string() && std::regex_match(value.get<std::string>(), pattern);
}

/// The id in an `ok,id:ID` answer (which it must be).
std::string id_of(const std::optional<std::string>& answer) {
  REQUIRE(answer);
  INFO("answer: " << *answer);
  std::smatch match;
  REQUIRE(std::regex_match(*answer, match, std::regex("^ok,id:(" + uuid_pattern + ")$")));
  return match[1];
}

/// Sends one request on a fresh connection; returns the answer, and checks the server closes.
std::optional<std::string> one_shot(std::uint16_t port, const std::string& request) {
  LineClient client(port);
  const auto answer = client.request(request);
  INFO(request << " -> " << answer.value_or("(nothing)"));
  CHECK(client.wait_closed());
  return answer;
}

/// Takes a detached lock on a fresh connection; returns its id.
std::string take(std::uint16_t port, const std::string& name, const std::string& extra = ",ttl:60") {
  return id_of(one_shot(port, "lock,name:" + name + extra));
}

/// The holders of `name` in `.locks` (an empty array when it is free).
json holders_of(std::uint16_t port, const std::string& name) {
  const json locks = query_json(port, ".locks,name:" + name, "locks,")["locks"];
  return locks.empty() ? json::array() : locks[0]["holders"];
}

/// Requests queued in the whole server.
bool waiters_queued(std::uint16_t port, int n) {
  return wait_until([&] { return stats(port).at("waiter_count") == n; });
}

}  // namespace

TEST_CASE("detached: lock with ttl answers ok,id:UUID, closes, and the lock stays held", "[detached]") {
  ServerProcess server;
  LineClient client(server.port());
  const std::string id = id_of(client.request("lock,name:dx,ttl:60,client-id:job-1,reason:nightly"));
  CHECK(client.wait_closed());
  client.close();

  const json holders = holders_of(server.port(), "dx");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["id"] == id);
  CHECK(holders[0]["kind"] == "detached");
  CHECK(holders[0]["client_id"] == "job-1");
  CHECK(holders[0]["reason"] == "nightly");
  CHECK(is_rfc3339(holders[0]["expires"]));
  CHECK(holders[0]["expires"].get<std::string>() > holders[0]["since"].get<std::string>());
  CHECK(stats(server.port())["detached_lock_count"] == 1);
  CHECK(stats(server.port())["connection_count"] == 1);  // only the one asking

  CHECK(one_shot(server.port(), "lock,name:dx") == "not-granted");
  CHECK(one_shot(server.port(), "lock,name:dx,ttl:60") == "not-granted");
  CHECK(holders_of(server.port(), "dx").size() == 1);
}

TEST_CASE("detached: fencing:1 answers ok,id:ID,token:N", "[detached]") {
  ServerProcess server;
  const auto answer = one_shot(server.port(), "lock,name:df,ttl:60,fencing:1");
  REQUIRE(answer);
  std::smatch match;
  REQUIRE(std::regex_match(*answer, match, std::regex("^ok,id:(" + uuid_pattern + "),token:([0-9]+)$")));
  const json holders = holders_of(server.port(), "df");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["id"] == match[1].str());
  CHECK(holders[0]["token"].get<std::uint64_t>() == std::stoull(match[2].str()));
  // Tokens keep rising across kinds.
  LineClient tcp(server.port());
  const auto next = tcp.request("lock,name:df2,fencing:1");
  REQUIRE(next);
  REQUIRE(next->rfind("ok,token:", 0) == 0);
  CHECK(std::stoull(next->substr(9)) > std::stoull(match[2].str()));
}

TEST_CASE("detached: unlock,id: releases and frees the name, a second unlock is unknown", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "du");
  CHECK(one_shot(server.port(), "unlock,id:" + id) == "released");
  CHECK(holders_of(server.port(), "du").empty());
  CHECK(stats(server.port())["detached_lock_count"] == 0);
  CHECK(one_shot(server.port(), "unlock,id:" + id) == "err,unknown lock id");
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:30") == "err,unknown lock id");
  CHECK(one_shot(server.port(), std::string("unlock,id:") + unknown_id) == "err,unknown lock id");
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:du") == "ok");
}

TEST_CASE("detached: unlock or renew with an id that is not a UUID is err,invalid lock id", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "dg");
  for (const std::string& bad :
       std::vector<std::string>{"garbage", "", "123", id.substr(0, 35), id + "0", "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz"}) {
    INFO("id:" << bad);
    CHECK(one_shot(server.port(), "unlock,id:" + bad) == "err,invalid lock id");
    CHECK(one_shot(server.port(), "renew,id:" + bad + ",ttl:30") == "err,invalid lock id");
  }
  CHECK(holders_of(server.port(), "dg").size() == 1);
}

TEST_CASE("detached: unlock or renew without id: is bad-action, as in tcpnetlock", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "db");
  CHECK(one_shot(server.port(), "unlock,name:db") == "bad-action");
  CHECK(one_shot(server.port(), "unlock") == "bad-action");
  CHECK(one_shot(server.port(), "renew,name:db,ttl:30") == "bad-action");
  CHECK(one_shot(server.port(), "renew") == "bad-action");
  const json holders = holders_of(server.port(), "db");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["id"] == id);
}

TEST_CASE("detached: unlock or renew of a connection-held lock is refused and the holder keeps it", "[detached]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:dc,client-id:c1") == "ok");
  const json holders = holders_of(server.port(), "dc");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["kind"] == "connection");
  CHECK(holders[0]["expires"].is_null());
  const std::string id = holders[0]["id"];
  CHECK(one_shot(server.port(), "unlock,id:" + id) == "err,lock is held by a connection");
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:30") == "err,lock is held by a connection");
  CHECK(holder.request(".keepalive") == "alive");
  CHECK(one_shot(server.port(), "lock,name:dc") == "not-granted");
  CHECK(holders_of(server.port(), "dc")[0]["id"] == id);
  CHECK(stats(server.port())["forced_release_count"] == 0);
  CHECK(holder.request("release") == "released");
}

TEST_CASE("detached: renew,id:,ttl: answers renewed and moves the expiry", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "dr", ",ttl:5");
  const std::string before = holders_of(server.port(), "dr")[0]["expires"];
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:600") == "renewed");
  const json after = holders_of(server.port(), "dr");
  REQUIRE(after.size() == 1);
  CHECK(after[0]["id"] == id);
  REQUIRE(is_rfc3339(after[0]["expires"]));
  CHECK(after[0]["expires"].get<std::string>() > before);
  // Renew to a short ttl: it then expires on the new schedule.
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:0.2") == "renewed");
  CHECK(wait_until([&] { return holders_of(server.port(), "dr").empty(); }, 15s));
  // etcd deletes an expired lock with its lease: no replica counts it (docs/HA.md).
  if (!tnl::test::etcd_backend()) CHECK(stats(server.port())["expired_lock_count"] == 1);
}

TEST_CASE("detached: renew with a ttl that is not a number > 0 is err,invalid ttl", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "dt");
  const std::string before = holders_of(server.port(), "dt")[0]["expires"];
  for (const std::string ttl : {",ttl:0", ",ttl:-1", ",ttl:abc", "", ",ttl:", ",ttl:0.0", ",ttl:31536001", ",ttl:1e3",
                                ",ttl:nan", ",ttl:+5", ",ttl:1.2.3", ",ttl:0.001", ",ttl:0.0000001", ",ttl:0.09"}) {
    INFO("renew" << ttl);
    CHECK(one_shot(server.port(), "renew,id:" + id + ttl) == "err,invalid ttl");
  }
  CHECK(holders_of(server.port(), "dt")[0]["expires"] == before);
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:31536000") == "renewed");
}

TEST_CASE("detached: lock with an invalid ttl is err,invalid ttl and nothing is held", "[detached]") {
  ServerProcess server;
  // Shorter than min_ttl_seconds (0.1 s) too: about 10,000 expiries a second otherwise.
  for (const std::string ttl : {"0", "-1", "abc", "", "0.0", "31536001", "1e3", "nan", "0.0000001", "0.09", "1e-300"}) {
    INFO("ttl:" << ttl);
    CHECK(one_shot(server.port(), "lock,name:di,ttl:" + ttl) == "err,invalid ttl");
  }
  CHECK(holders_of(server.port(), "di").empty());
  CHECK(stats(server.port())["lock_count"] == 0);
  CHECK(id_of(one_shot(server.port(), "lock,name:di,ttl:0.1")).size() == 36);  // the floor itself is fine
}

TEST_CASE("detached: HTTP refuses a ttl under the same floor as the line protocol", "[detached][http]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const double ttl : {1e-300, 0.0000001, 0.09}) {
    INFO("ttl " << ttl);
    const auto reply = http.post("/api/v1alpha1/lock", json{{"service", "h"}, {"who", "ci"}, {"ttl", ttl}});
    CHECK(reply.status == 400);
  }
  CHECK(http.post("/api/v1alpha1/lock", json{{"service", "h"}, {"who", "ci"}, {"ttl", 0.1}}).status == 201);
}

TEST_CASE("detached: ttl:inf never expires, renew ttl:inf removes an expiry", "[detached]") {
  ServerProcess server;
  const std::string forever = take(server.port(), "dinf", ",ttl:inf");
  CHECK(holders_of(server.port(), "dinf")[0]["expires"].is_null());
  CHECK(holders_of(server.port(), "dinf")[0]["kind"] == "detached");
  const std::string id = take(server.port(), "dinf2", ",ttl:60");
  CHECK(is_rfc3339(holders_of(server.port(), "dinf2")[0]["expires"]));
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:inf") == "renewed");
  CHECK(holders_of(server.port(), "dinf2")[0]["expires"].is_null());
  CHECK(one_shot(server.port(), "unlock,id:" + forever) == "released");
}

TEST_CASE("detached: a ttl:0.5 lock expires and a waiter then gets ok", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "dexp", ",ttl:0.5");
  LineClient waiter(server.port());
  const auto asked = std::chrono::steady_clock::now();
  waiter.send_line("lock,name:dexp,wait:30,client-id:next");
  // Queued if it asked before the expiry, granted at once otherwise: ok either way.
  CHECK(waiter.read_line(15s) == "ok");
  CHECK(std::chrono::steady_clock::now() - asked < 15s);
  const json holders = holders_of(server.port(), "dexp");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["client_id"] == "next");
  CHECK(holders[0]["kind"] == "connection");
  const json s = stats(server.port());
  // etcd deletes an expired lock with its lease: no replica counts it (docs/HA.md).
  if (!tnl::test::etcd_backend()) CHECK(s["expired_lock_count"] == 1);
  CHECK(s["detached_lock_count"] == 0);
  CHECK(one_shot(server.port(), "unlock,id:" + id) == "err,unknown lock id");
}

TEST_CASE("detached: a detached request with wait queues behind a TCP holder and gets ok,id:", "[detached]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:dq") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:dq,ttl:60,wait:30,client-id:later");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(waiter.stays_silent(50ms));
  holder.close();  // a disconnect hands over like a release
  const std::string id = id_of(waiter.read_line(5s));
  CHECK(waiter.wait_closed());
  const json holders = holders_of(server.port(), "dq");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["id"] == id);
  CHECK(holders[0]["kind"] == "detached");
  CHECK(holders[0]["client_id"] == "later");
  CHECK(is_rfc3339(holders[0]["expires"]));
  CHECK(stats(server.port())["wait_count"] == 1);
}

TEST_CASE("detached: a detached request whose wait runs out gets not-granted", "[detached]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:dto") == "ok");
  CHECK(one_shot(server.port(), "lock,name:dto,ttl:60,wait:0.2") == "not-granted");
  CHECK(stats(server.port())["wait_timeout_count"] == 1);
  CHECK(holders_of(server.port(), "dto").size() == 1);
}

TEST_CASE("detached: a queued detached request that disconnects leaves nothing behind", "[detached]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:dgone") == "ok");
  {
    LineClient waiter(server.port());
    waiter.send_line("lock,name:dgone,ttl:60,wait:30");
    REQUIRE(waiters_queued(server.port(), 1));
  }
  REQUIRE(waiters_queued(server.port(), 0));
  CHECK(holder.request("release") == "released");
  CHECK(holders_of(server.port(), "dgone").empty());
  CHECK(stats(server.port())["detached_lock_count"] == 0);
}

TEST_CASE("detached: one FIFO queue: TCP holder, then queued detached, then queued TCP", "[detached]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:fifo") == "ok");
  LineClient detached(server.port());
  detached.send_line("lock,name:fifo,ttl:60,wait:30");
  REQUIRE(waiters_queued(server.port(), 1));
  LineClient tcp(server.port());
  tcp.send_line("lock,name:fifo,wait:30");
  REQUIRE(waiters_queued(server.port(), 2));

  CHECK(holder.request("release") == "released");
  const std::string id = id_of(detached.read_line(5s));
  CHECK(detached.wait_closed());
  CHECK(tcp.stays_silent(100ms));  // still queued: the detached lock holds the name
  CHECK(stats(server.port())["waiter_count"] == 1);

  CHECK(one_shot(server.port(), "unlock,id:" + id) == "released");
  CHECK(tcp.read_line(5s) == "ok");
  CHECK(holders_of(server.port(), "fifo")[0]["kind"] == "connection");
}

TEST_CASE("detached: one FIFO queue: TCP holder, then queued TCP, then queued detached", "[detached]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:fifo2") == "ok");
  LineClient tcp(server.port());
  tcp.send_line("lock,name:fifo2,wait:30");
  REQUIRE(waiters_queued(server.port(), 1));
  LineClient detached(server.port());
  detached.send_line("lock,name:fifo2,ttl:60,wait:30");
  REQUIRE(waiters_queued(server.port(), 2));
  // A newcomer never overtakes the queue, detached or not.
  CHECK(one_shot(server.port(), "lock,name:fifo2,ttl:60") == "not-granted");

  holder.close();
  CHECK(tcp.read_line(5s) == "ok");
  CHECK(detached.stays_silent(100ms));
  CHECK(tcp.request("release") == "released");
  const std::string id = id_of(detached.read_line(5s));
  const json holders = holders_of(server.port(), "fifo2");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["id"] == id);
}

TEST_CASE("detached: semaphores mix detached holders, up to the limit", "[detached]") {
  ServerProcess server;
  const std::string a = take(server.port(), "dsem", ",ttl:60,limit:2");
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:dsem,limit:2") == "ok");
  CHECK(one_shot(server.port(), "lock,name:dsem,ttl:60,limit:2") == "not-granted");
  CHECK(one_shot(server.port(), "lock,name:dsem,ttl:60") == "err,limit mismatch");
  CHECK(holders_of(server.port(), "dsem").size() == 2);
  CHECK(one_shot(server.port(), "unlock,id:" + a) == "released");
  const std::string b = take(server.port(), "dsem", ",ttl:60,limit:2");
  CHECK(b != a);
}

TEST_CASE("detached: an expired lock is counted and its id becomes unknown", "[detached]") {
  ServerProcess server;
  const std::string id = take(server.port(), "dgone2", ",ttl:0.2");
  REQUIRE(wait_until([&] { return holders_of(server.port(), "dgone2").empty(); }, 15s));
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:60") == "err,unknown lock id");
  CHECK(one_shot(server.port(), "unlock,id:" + id) == "err,unknown lock id");
  const json s = stats(server.port());
  // etcd deletes an expired lock with its lease: no replica counts it (docs/HA.md).
  if (!tnl::test::etcd_backend()) CHECK(s["expired_lock_count"] == 1);
  CHECK(s["lock_count"] == 0);
}

TEST_CASE("detached: the server's log never carries a whole lock id (a capability), only its first 8 digits",
          "[detached][ids]") {
  ServerProcess server({"--info"});
  const std::string id = take(server.port(), "dlog");
  CHECK(one_shot(server.port(), "renew,id:" + id + ",ttl:60") == "renewed");
  CHECK(one_shot(server.port(), "unlock,id:" + id) == "released");
  REQUIRE(server.process().wait_for_stderr("released by"));
  const std::string log = server.process().stderr_text();
  CHECK(log.find(id.substr(0, 8)) != std::string::npos);
  CHECK(log.find(id) == std::string::npos);
  CHECK(log.find(id.substr(9)) == std::string::npos);
}

// `unlock-name,name:X` (distlock's --unlock): every detached hold of X, whoever took it.

TEST_CASE("unlock-name: releases the detached lock whoever took it, then the name is not held", "[detached][unlock-name]") {
  ServerProcess server;
  take(server.port(), "un1", ",ttl:inf,client-id:node-3");
  CHECK(one_shot(server.port(), "unlock-name,name:un1") == "released");
  // On etcd a listing built before the release may be shown until the replica's watch sees
  // the deletion (the listing's documented lag; `unlock,id:` after a `.locks` shows it too).
  CHECK(wait_until([&] { return holders_of(server.port(), "un1").empty(); }));
  CHECK(wait_until([&] { return stats(server.port())["detached_lock_count"] == 0; }));
  CHECK(one_shot(server.port(), "unlock-name,name:un1") == "err,lock is not held");
  CHECK(one_shot(server.port(), "unlock-name,name:never-taken") == "err,lock is not held");
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:un1") == "ok");
}

TEST_CASE("unlock-name: a lock a connection holds is not taken away", "[detached][unlock-name]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:un2") == "ok");
  CHECK(one_shot(server.port(), "unlock-name,name:un2") == "err,lock is held by a connection");
  CHECK(holder.request(".keepalive") == "alive");
  CHECK(one_shot(server.port(), "lock,name:un2") == "not-granted");
  CHECK(stats(server.port())["forced_release_count"] == 0);
  CHECK(holder.request("release") == "released");
}

TEST_CASE("unlock-name: a semaphore's detached holds all go, its connection holds stay", "[detached][unlock-name]") {
  ServerProcess server;
  take(server.port(), "un3", ",ttl:60,limit:3");
  take(server.port(), "un3", ",ttl:inf,limit:3");
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:un3,limit:3") == "ok");
  REQUIRE(holders_of(server.port(), "un3").size() == 3);
  CHECK(one_shot(server.port(), "unlock-name,name:un3") == "released");
  CHECK(wait_until([&] { return holders_of(server.port(), "un3").size() == 1; }));
  const json holders = holders_of(server.port(), "un3");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["kind"] == "connection");
  CHECK(holder.request(".keepalive") == "alive");
  // Only the connection holds it now.
  CHECK(one_shot(server.port(), "unlock-name,name:un3") == "err,lock is held by a connection");
  CHECK(holder.request("release") == "released");
}

TEST_CASE("unlock-name: the next waiter in the queue gets the lock", "[detached][unlock-name]") {
  ServerProcess server;
  take(server.port(), "un4", ",ttl:inf");
  LineClient waiter(server.port());
  waiter.send("lock,name:un4,wait:30\n");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(one_shot(server.port(), "unlock-name,name:un4") == "released");
  CHECK(waiter.read_line() == "ok");
  CHECK(wait_until([&] { return holders_of(server.port(), "un4").size() == 1; }));
  const json holders = holders_of(server.port(), "un4");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["kind"] == "connection");
}

TEST_CASE("unlock-name: a missing or invalid name is err,invalid lock name, and nothing changes", "[detached][unlock-name]") {
  ServerProcess server;
  take(server.port(), "un5");
  for (const std::string& bad : std::vector<std::string>{"unlock-name", "unlock-name,name:", "unlock-name,name:un 5",
                                                         "unlock-name,name:un5/x", "unlock-name,id:" + std::string(unknown_id),
                                                         "unlock-name,name:" + std::string(900, 'x') + "!"}) {
    INFO(bad);
    CHECK(one_shot(server.port(), bad) == "err,invalid lock name");
  }
  CHECK(holders_of(server.port(), "un5").size() == 1);
  // Not an action of a holder: it keeps its lock.
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:un6") == "ok");
  CHECK(holder.request("unlock-name,name:un5") == "bad-action");
  CHECK(holder.request(".keepalive") == "alive");
  CHECK(holders_of(server.port(), "un5").size() == 1);
}

TEST_CASE("unlock-name: with an admin token it needs that token", "[detached][unlock-name]") {
  TempDir dir;
  const auto token_file = dir.path() / "token";
  std::ofstream(token_file) << "s3cret\n";
  ServerProcess server({"--admin-token-file", token_file.string()});
  take(server.port(), "un7");
  for (const char* bad : {"unlock-name,name:un7", "unlock-name,name:un7,admin-token:", "unlock-name,name:un7,admin-token:s3cre",
                          "unlock-name,name:un7,admin-token:s3cret2", "unlock-name,name:un7,admin-token:S3CRET"}) {
    INFO(bad);
    CHECK(one_shot(server.port(), bad) == "err,unlock by name needs the admin token");
  }
  CHECK(holders_of(server.port(), "un7").size() == 1);
  CHECK(one_shot(server.port(), "unlock-name,name:un7,admin-token:s3cret") == "released");
  CHECK(wait_until([&] { return holders_of(server.port(), "un7").empty(); }));
  CHECK(one_shot(server.port(), "lock,name:un7,ttl:60").value_or("").rfind("ok,id:", 0) == 0);
}

}  // namespace TNL_UNITY_ID
