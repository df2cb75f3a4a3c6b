// PUT /api/v1alpha1/lock/{id} (Tracker's UpdateLock over REST): a detached lock's `who` and
// `event_id` change, its name never; the same access rules as DELETE.
#include <catch2/catch.hpp>

#include <csignal>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
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

namespace {

HttpReply put(const HttpClient& http, const std::string& id, const json& body,
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return http.request("PUT", api + "/lock/" + id, body.dump(), headers);
}

}  // namespace

TEST_CASE("http: PUT /lock/{id} changes who and event_id, everywhere the lock shows", "[http][update]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json made = create(http, "deploy", "ci-1", json{{"reason", "build-1"}, {"ttl", 600}});
  const std::string id = made["id"];

  const HttpReply updated = put(http, id, json{{"who", "ci-2"}, {"event_id", "build-2"}});
  REQUIRE_STATUS(updated, 200);
  const json record = updated.json();
  CHECK(record["id"] == id);
  CHECK(record["service"] == "deploy");
  CHECK(record["who"] == "ci-2");
  CHECK(record["reason"] == "build-2");
  // The same hold: its token, grant time and lease stay.
  CHECK(record["token"] == made["token"]);
  CHECK(record["createdAt"] == made["createdAt"]);
  CHECK(record["expiresAt"] == made["expiresAt"]);

  const HttpReply got = http.get(api + "/lock/" + id);
  REQUIRE_STATUS(got, 200);
  CHECK(got.json()["who"] == "ci-2");
  const json listed = list(http);
  REQUIRE(listed["locks"].size() == 1);
  CHECK(listed["locks"][0]["who"] == "ci-2");
  CHECK(listed["locks"][0]["reason"] == "build-2");
  const json locks = query_json(server.port(), ".locks,name:deploy", "locks,");
  CHECK(locks["locks"][0]["holders"][0]["client_id"] == "ci-2");

  SECTION("absent, null or empty fields change nothing; `reason` is event_id's other name") {
    REQUIRE_STATUS(put(http, id, json::object()), 200);
    REQUIRE_STATUS(put(http, id, json{{"who", nullptr}, {"event_id", ""}}), 200);
    CHECK(http.get(api + "/lock/" + id).json()["who"] == "ci-2");
    CHECK(http.get(api + "/lock/" + id).json()["reason"] == "build-2");
    const HttpReply renamed = put(http, id, json{{"reason", "build-3"}});
    REQUIRE_STATUS(renamed, 200);
    CHECK(renamed.json()["reason"] == "build-3");
    CHECK(renamed.json()["who"] == "ci-2");
    CHECK_STATUS(put(http, id, json{{"reason", "a"}, {"event_id", "b"}}), 400);
  }
  SECTION("the record sent back as it is: its own name is no move") {
    json back = record;
    back["who"] = "ci-3";
    const HttpReply same = put(http, id, back);
    REQUIRE_STATUS(same, 200);
    CHECK(same.json()["who"] == "ci-3");
  }
  SECTION("another service, environment or resource: 409, and nothing changes") {
    for (const json& move : {json{{"service", "other"}, {"who", "x"}}, json{{"environment", "prod"}, {"who", "x"}},
                             json{{"resource", "db"}, {"who", "x"}}}) {
      INFO(move.dump());
      const HttpReply refused = put(http, id, move);
      CHECK_STATUS(refused, 409);
      CHECK(contains(refused.body, "cannot move"));
    }
    CHECK(http.get(api + "/lock/" + id).json()["who"] == "ci-2");
    CHECK(LineClient(server.port()).request("lock,name:deploy") == "not-granted");
  }
}

TEST_CASE("http: PUT /lock/{id} refuses bad input with 400, unknown ids with 404", "[http][update]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "svc", "owner")["id"];
  for (const json& bad : {json{{"who", 7}}, json{{"who", std::string(257, 'w')}}, json{{"who", "a\nb"}},
                          json{{"event_id", "tab\there"}}, json{{"event_id", json::array()}},
                          json{{"service", false}}, json{{"reason", 1.5}}}) {
    INFO(bad.dump());
    CHECK_STATUS(put(http, id, bad), 400);
  }
  CHECK_STATUS(http.request("PUT", api + "/lock/" + id, "[1,2]"), 400);
  CHECK_STATUS(http.request("PUT", api + "/lock/" + id, "{\"who\":"), 400);
  {
    // Not JSON: 415, as for every request that changes locks (no HTML form can send it).
    HttpStream stream(server.http_port(), std::chrono::seconds(5));
    stream.send("PUT " + api + "/lock/" + id +
                " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                "Connection: close\r\n\r\nwho=x");
    CHECK_STATUS(stream.read_reply(), 415);
  }
  CHECK_STATUS(put(http, "not-an-id", json{{"who", "x"}}), 400);
  CHECK_STATUS(put(http, unknown_id, json{{"who", "x"}}), 404);
  // Nothing changed.
  CHECK(http.get(api + "/lock/" + id).json()["who"] == "owner");
  // A released lock is not made again by an update.
  REQUIRE_STATUS(http.del(api + "/lock/" + id), 200);
  CHECK_STATUS(put(http, id, json{{"who", "ghost"}}), 404);
  CHECK(list(http)["total"] == 0);
  CHECK(LineClient(server.port()).request("lock,name:svc") == "ok");
}

TEST_CASE("http: PUT /lock/{id} of a connection's lock is 409: its who is its connection's", "[http][update]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:conn,client-id:worker-1") == "ok");
  const json records = records_of(http, "conn");
  REQUIRE(records.size() == 1);
  const std::string id = records[0]["id"];
  CHECK_STATUS(put(http, id, json{{"who", "thief"}}), 409);
  // Unchanged values ask for no change: the record.
  CHECK_STATUS(put(http, id, json{{"who", "worker-1"}}), 200);
  CHECK(records_of(http, "conn")[0]["who"] == "worker-1");
}

TEST_CASE("http: PUT /lock/{id} needs the admin token, as DELETE, and no other site's page", "[http][update][auth]") {
  TempDir dir;
  const auto token_file = dir.path() / "token";
  write_text(token_file, "upd-s3cret\n");
  HttpServerProcess server({"--admin-token-file", token_file.string()});
  const HttpClient http(server.http_port());
  const std::vector<std::pair<std::string, std::string>> good{{"Authorization", "Bearer upd-s3cret"}};
  const std::string id = create(http, "guarded", "me", json::object(), good)["id"];
  CHECK_STATUS(put(http, id, json{{"who", "x"}}), 401);
  CHECK_STATUS(put(http, id, json{{"who", "x"}}, {{"Authorization", "Bearer wrong"}}), 401);
  auto cross_site = good;
  cross_site.emplace_back("Origin", "https://evil.example");
  CHECK_STATUS(put(http, id, json{{"who", "x"}}, cross_site), 403);
  CHECK(http.get(api + "/lock/" + id).json()["who"] == "me");
  const HttpReply updated = put(http, id, json{{"who", "you"}}, good);
  REQUIRE_STATUS(updated, 200);
  CHECK(updated.json()["who"] == "you");
}

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("http: an update is on disk when answered: a restart (even kill -9) keeps it",
          "[http][update][persistence][local-only]") {
  TempDir state;
  const std::vector<std::string> args{"--state-dir", state.path().string()};
  std::string id;
  {
    HttpServerProcess server(args);
    const HttpClient http(server.http_port());
    id = create(http, "kept", "first", json{{"reason", "r1"}, {"ttl", 600}})["id"].get<std::string>();
    REQUIRE_STATUS(put(http, id, json{{"who", "second"}, {"event_id", "r2"}}), 200);
    server.server().process().signal(SIGKILL);
    REQUIRE(server.server().process().wait_for_exit());
  }
  HttpServerProcess server(args);
  const HttpClient http(server.http_port());
  const HttpReply got = http.get(api + "/lock/" + id);
  REQUIRE_STATUS(got, 200);
  CHECK(got.json()["who"] == "second");
  CHECK(got.json()["reason"] == "r2");
  CHECK(got.json()["service"] == "kept");
}

}  // namespace TNL_UNITY_ID
