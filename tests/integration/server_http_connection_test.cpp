// Connection-held locks seen and released over HTTP, and detached and connection locks
// excluding each other (docs/HTTP-API.md): the HTTP API and the line protocol on one server.
#include <catch2/catch.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_http_helpers.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

// --- Connection-held locks seen and released over HTTP -------------------------------

TEST_CASE("http: a connection-held lock is listed with kind connection, who, peer and token", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:tcp-held,client-id:c1,reason:nightly") == "ok");
  const json page = list(http);
  REQUIRE(page["total"] == 1);
  const json record = page["locks"][0];
  CHECK(is_uuid_v8(record["id"]));
  CHECK(record["service"] == "tcp-held");
  CHECK(record["who"] == "c1");
  CHECK(record["kind"] == "connection");
  CHECK(record["peer"] == "127.0.0.1:" + std::to_string(local_port(holder)));
  CHECK(record["reason"] == "nightly");
  CHECK(record["expiresAt"].is_null());
  CHECK(is_rfc3339(record["createdAt"]));
  REQUIRE(record["token"].is_number_unsigned());
  CHECK(record["token"].get<std::uint64_t>() > 0);
  // The same holder as `.locks` shows it.
  const json locks = query_json(server.port(), ".locks,name:tcp-held", "locks,")["locks"];
  REQUIRE(locks.size() == 1);
  CHECK(locks[0]["holders"][0]["id"] == record["id"]);
  CHECK(locks[0]["holders"][0]["token"] == record["token"]);
  // GET by id works for it too.
  const HttpReply one = http.get(api + "/lock/" + record["id"].get<std::string>());
  REQUIRE_STATUS(one, 200);
  CHECK(one.json()["kind"] == "connection");
}

TEST_CASE("http: a queued request shows in the holder's waiters", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:queued,client-id:c1") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:queued,wait:30,client-id:w1,reason:next");
  REQUIRE(wait_until([&] { return waiters_of(http, "queued") == 1; }));
  const json record = records_of(http, "queued")[0];
  REQUIRE(record["waiters"].size() == 1);
  const json w = record["waiters"][0];
  CHECK(w["who"] == "w1");
  CHECK(w["kind"] == "connection");
  CHECK(w["reason"] == "next");
  CHECK(w["peer"] == "127.0.0.1:" + std::to_string(local_port(waiter)));
  CHECK(is_rfc3339(w["waitingSince"]));
  // The holder itself is not in its own queue.
  CHECK(record["who"] == "c1");

  // A detached request queues behind it, in order, and says so.
  LineClient detached(server.port());
  detached.send_line("lock,name:queued,ttl:60,wait:30,client-id:w2");
  REQUIRE(wait_until([&] { return waiters_of(http, "queued") == 2; }));
  const json both = records_of(http, "queued")[0]["waiters"];
  CHECK(both[0]["who"] == "w1");
  CHECK(both[1]["who"] == "w2");
  CHECK(both[1]["kind"] == "detached");
  CHECK(both[0]["waitingSince"].get<std::string>() <= both[1]["waitingSince"].get<std::string>());
}

TEST_CASE("http: DELETE of a connection-held lock forces it: lost, closed, next waiter gets ok", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:forced,client-id:c1") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:forced,wait:30,client-id:w1");
  REQUIRE(wait_until([&] { return waiters_of(http, "forced") == 1; }));
  const std::string id = records_of(http, "forced")[0]["id"];

  const HttpReply released = http.del(api + "/lock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(released.json() == json{{"success", true}, {"message", "Lock released successfully"}});
  CHECK(holder.read_line(5s) == "lost,released by admin");
  CHECK(holder.wait_closed(5s));
  CHECK(waiter.read_line(5s) == "ok");

  const json records = records_of(http, "forced");
  REQUIRE(records.size() == 1);
  CHECK(records[0]["who"] == "w1");
  CHECK(records[0]["id"] != id);
  const HttpReply s = http.get(api + "/stats");
  REQUIRE_STATUS(s, 200);
  CHECK(s.json()["forced_release_count"] == 1);
  CHECK(stats(server.port())["forced_release_count"] == 1);
  CHECK(metric(http, "tcpnetlock_forced_releases_total") == 1);
}

TEST_CASE("http: GET /unlock of a connection-held lock is a forced release too", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:forced2") == "ok");
  const std::string id = records_of(http, "forced2")[0]["id"];
  const HttpReply released = http.get(api + "/unlock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(holder.read_line(5s) == "lost,released by admin");
  CHECK(holder.wait_closed(5s));
  LineClient next(server.port());
  CHECK(next.request("lock,name:forced2") == "ok");
}

// --- Detached and connection locks exclude each other --------------------------------

TEST_CASE("http: a lock held over HTTP makes the line protocol's lock not-granted", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "shared", "ci")["id"];
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:shared") == "not-granted");
  CHECK(tcp.wait_closed());
  LineClient detached(server.port());
  CHECK(detached.request("lock,name:shared,ttl:60") == "not-granted");
  REQUIRE_STATUS(http.get(api + "/unlock/" + id), 200);
  LineClient after(server.port());
  CHECK(after.request("lock,name:shared") == "ok");
}

TEST_CASE("http: a lock held over TCP makes POST /lock 409 with the TCP holder", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:shared,client-id:tcp-1") == "ok");
  const json held = query_json(server.port(), ".locks,name:shared", "locks,")["locks"][0]["holders"][0];
  const HttpReply reply = http.post(api + "/lock", json{{"service", "shared"}, {"who", "ci"}});
  REQUIRE_STATUS(reply, 409);
  const json body = reply.json();
  CHECK(body["error"] == "lock already exists");
  CHECK(body["existingLock"]["id"] == held["id"]);
  CHECK(body["existingLock"]["who"] == "tcp-1");
  CHECK(body["existingLock"]["createdAt"] == held["since"]);
  CHECK(holder.request("release") == "released");
  // Freed before `released` was sent (with etcd too: the key is deleted first).
  create(http, "shared", "ci");
}

TEST_CASE("http: releasing a detached lock hands it to the next waiter", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "handover", "ci")["id"];
  LineClient waiter(server.port());
  waiter.send_line("lock,name:handover,wait:30,client-id:next");
  REQUIRE(wait_until([&] { return waiters_of(http, "handover") == 1; }));
  CHECK(waiter.stays_silent(50ms));
  REQUIRE_STATUS(http.del(api + "/lock/" + id), 200);
  CHECK(waiter.read_line(5s) == "ok");
  const json records = records_of(http, "handover");
  REQUIRE(records.size() == 1);
  CHECK(records[0]["who"] == "next");
  CHECK(stats(server.port())["forced_release_count"] == 0);  // a detached release is not forced
}

TEST_CASE("http: a detached lock taken on the line protocol has its peer - list keeps grant order", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  std::vector<std::string> ids;
  std::vector<std::string> peers;
  for (int i = 0; i < 3; ++i) {
    LineClient client(server.port());
    const auto answer = client.request("lock,name:sem,limit:3,ttl:60,client-id:d" + std::to_string(i));
    REQUIRE(answer);
    REQUIRE(answer->rfind("ok,id:", 0) == 0);
    ids.push_back(answer->substr(6));
    peers.push_back("127.0.0.1:" + std::to_string(local_port(client)));
  }
  const json records = list(http, "?service=sem")["locks"];
  REQUIRE(records.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("holder " << i);
    CHECK(records[i]["id"] == ids[i]);
    CHECK(records[i]["peer"] == peers[i]);
    CHECK(records[i]["kind"] == "detached");
    CHECK(records[i]["limit"] == 3);
    CHECK(records[i]["who"] == "d" + std::to_string(i));
  }
  CHECK(records[0]["token"].get<std::uint64_t>() < records[1]["token"].get<std::uint64_t>());
  CHECK(records[1]["token"].get<std::uint64_t>() < records[2]["token"].get<std::uint64_t>());
  // Paging splits one name's holders too.
  const json second = list(http, "?per_page=2&page=2");
  CHECK(second["total"] == 3);
  REQUIRE(second["locks"].size() == 1);
  CHECK(second["locks"][0]["id"] == ids[2]);
}

}  // namespace TNL_UNITY_ID
