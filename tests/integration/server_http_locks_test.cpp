// The HTTP admin API's Tracker-compatible lock calls end to end (docs/HTTP-API.md): create,
// get, unlock and delete, TTLs and renewal. Listing: server_http_list_test.cpp; connection
// holds and exclusion: server_http_connection_test.cpp; errors: server_http_errors_test.cpp.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

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

// --- Tracker Locks compatibility -----------------------------------------------------

TEST_CASE("http: POST /lock answers 201 and a Tracker lock record", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply reply =
      http.post(api + "/lock", json{{"service", "production-deployment"}, {"who", "ci-pipeline-123"}});
  REQUIRE_STATUS(reply, 201);
  CHECK(reply.header("content-type").value_or("").rfind("application/json", 0) == 0);
  const json record = reply.json();
  CHECK(is_uuid_v4(record["id"]));
  CHECK(record["service"] == "production-deployment");
  CHECK(record["who"] == "ci-pipeline-123");
  CHECK(is_rfc3339(record["createdAt"]));
  // Our additions, as documented.
  CHECK(record["kind"] == "detached");
  CHECK(record["expiresAt"].is_null());  // no ttl: no expiry, as in Tracker
  CHECK(record["peer"] == "");
  CHECK(record["reason"] == "");
  CHECK(record["limit"] == 1);
  CHECK(record["waiters"] == json::array());
  CHECK(record["token"].is_number_unsigned());
  CHECK(record["heldSeconds"].is_number());
}

TEST_CASE("http: a second POST for a held service is 409 with exactly the existing lock", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json first = create(http, "production-deployment", "ci-pipeline-123");
  const HttpReply second =
      http.post(api + "/lock", json{{"service", "production-deployment"}, {"who", "ci-pipeline-124"}});
  REQUIRE_STATUS(second, 409);
  CHECK(second.json() == json{{"error", "lock already exists"},
                              {"existingLock",
                               {{"id", first["id"]}, {"who", "ci-pipeline-123"}, {"createdAt", first["createdAt"]}}}});
  // The first lock is untouched.
  const HttpReply still = http.get(api + "/lock/" + first["id"].get<std::string>());
  REQUIRE_STATUS(still, 200);
  CHECK(still.json()["who"] == "ci-pipeline-123");
}

TEST_CASE("http: GET /lock/{id} answers the record", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json created = create(http, "db-migrations", "alice", json{{"reason", "schema v7"}});
  const HttpReply reply = http.get(api + "/lock/" + created["id"].get<std::string>());
  REQUIRE_STATUS(reply, 200);
  json record = reply.json();
  CHECK(record["heldSeconds"].get<double>() >= created["heldSeconds"].get<double>());
  record.erase("heldSeconds");
  json expected = created;
  expected.erase("heldSeconds");
  CHECK(record == expected);
  CHECK(record["reason"] == "schema v7");
}

TEST_CASE("http: GET /unlock/{id} releases - then GET /lock/{id} is 404", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "deploy", "ci")["id"];
  const HttpReply released = http.get(api + "/unlock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(released.json() == json{{"success", true}, {"message", "Lock released successfully"}});
  const HttpReply gone = http.get(api + "/lock/" + id);
  CHECK_STATUS(gone, 404);
  CHECK(gone.json() == json{{"error", "lock not found"}});
  const HttpReply again = http.get(api + "/unlock/" + id);
  CHECK_STATUS(again, 404);
  CHECK(again.json() == json{{"error", "lock not found"}});
  // The name is free again.
  CHECK(create(http, "deploy", "ci-2")["id"] != id);
}

TEST_CASE("http: DELETE /lock/{id} releases like unlock", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "deploy", "ci")["id"];
  const HttpReply released = http.del(api + "/lock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(released.json() == json{{"success", true}, {"message", "Lock released successfully"}});
  const HttpReply gone = http.get(api + "/lock/" + id);
  CHECK_STATUS(gone, 404);
  CHECK(gone.json() == json{{"error", "lock not found"}});
  const HttpReply again = http.del(api + "/lock/" + id);
  CHECK_STATUS(again, 404);
  CHECK(again.json() == json{{"error", "lock not found"}});
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:deploy") == "ok");
}

// --- TTLs and renewal -----------------------------------------------------------------

TEST_CASE("http: a detached lock with a ttl expires, and a queued waiter then gets ok", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json record = create(http, "short", "ci", json{{"ttl", 1}});
  REQUIRE(is_rfc3339(record["expiresAt"]));
  const auto lease = epoch_ms(record["expiresAt"]) - epoch_ms(record["createdAt"]);
  CHECK(lease >= 999);
  CHECK(lease <= 1001);
  const std::string id = record["id"];

  LineClient waiter(server.port());
  waiter.send_line("lock,name:short,wait:30,client-id:next");
  // Whether it queued before the expiry or came just after, it gets the lock.
  const auto answer = waiter.read_line(15s);
  CHECK(answer == "ok");
  REQUIRE(wait_until([&] { return http.get(api + "/lock/" + id).status == 404; }, 15s));
  const json now = records_of(http, "short");
  REQUIRE(now.size() == 1);
  CHECK(now[0]["who"] == "next");
  CHECK(now[0]["kind"] == "connection");
  // etcd deletes an expired lock with its lease: no replica counts it (docs/HA.md).
  if (!tnl::test::etcd_backend()) {
    CHECK(stats(server.port())["expired_lock_count"] == 1);
    CHECK(metric(http, "tcpnetlock_expired_locks_total") == 1);
  }
}

TEST_CASE("http: a detached lock with a ttl and no waiter just goes away", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "gone", "ci", json{{"ttl", 0.3}})["id"];
  REQUIRE(wait_until([&] { return http.get(api + "/lock/" + id).status == 404; }, 15s));
  CHECK(http.get(api + "/lock/" + id).json() == json{{"error", "lock not found"}});
  CHECK(list(http)["total"] == 0);
  create(http, "gone", "ci-2");
}

TEST_CASE("http: renew sets a later expiresAt and answers the record", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json record = create(http, "renewed", "ci", json{{"ttl", 60}});
  const std::string id = record["id"];
  const HttpReply renewed = http.post(api + "/lock/" + id + "/renew", json{{"ttl", 600}});
  REQUIRE_STATUS(renewed, 200);
  const json after = renewed.json();
  CHECK(after["id"] == id);
  CHECK(after["service"] == "renewed");
  CHECK(after["createdAt"] == record["createdAt"]);
  REQUIRE(is_rfc3339(after["expiresAt"]));
  CHECK(after["expiresAt"].get<std::string>() > record["expiresAt"].get<std::string>());
  // now + ttl (within the test's own clock readings around the call).
  CHECK(std::llabs(epoch_ms(after["expiresAt"]) - (now_ms() + 600'000)) < 5'000);
  CHECK(http.get(api + "/lock/" + id).json()["expiresAt"] == after["expiresAt"]);
  // Renewing a lock without ttl gives it one; renew with a shorter ttl shortens it.
  const json forever = create(http, "forever", "ci");
  CHECK(forever["expiresAt"].is_null());
  const HttpReply given = http.post(api + "/lock/" + forever["id"].get<std::string>() + "/renew", json{{"ttl", 30}});
  REQUIRE_STATUS(given, 200);
  CHECK(is_rfc3339(given.json()["expiresAt"]));
}

TEST_CASE("http: renew of a connection-held lock is 409 lock is held by a connection", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:tcp-renew") == "ok");
  const std::string id = records_of(http, "tcp-renew")[0]["id"];
  const HttpReply reply = http.post(api + "/lock/" + id + "/renew", json{{"ttl", 60}});
  CHECK_STATUS(reply, 409);
  CHECK(reply.json() == json{{"error", "lock is held by a connection"}});
  CHECK(holder.request(".keepalive") == "alive");  // still holding
}

TEST_CASE("http: renew refuses bad ttls and unknown ids", "[http][ttl][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "r", "ci", json{{"ttl", 60}})["id"];
  for (const std::string body : {"{}", R"({"ttl":0})", R"({"ttl":-5})", R"({"ttl":"60"})", R"({"ttl":31536001})",
                                  R"({"ttl":null})", "not json", "[60]"}) {
    INFO(body);
    const HttpReply reply = http.post(api + "/lock/" + id + "/renew", body);
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  const HttpReply unknown = http.post(api + "/lock/" + std::string(unknown_id) + "/renew", json{{"ttl", 60}});
  CHECK_STATUS(unknown, 404);
  CHECK(unknown.json() == json{{"error", "lock not found"}});
  CHECK_STATUS(http.post(api + "/lock/not-a-uuid/renew", json{{"ttl", 60}}), 400);
}

}  // namespace TNL_UNITY_ID
