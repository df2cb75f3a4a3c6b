// The HTTP admin API's error answers end to end (docs/HTTP-API.md): bad bodies, fields, ids,
// paths and methods, and percent-encoding. Limits and timeouts: server_http_limits_test.cpp;
// HTTP/1.1 itself: server_http_wire_test.cpp.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "http_client.hpp"
#include "http_port.hpp"
#include "server_http_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

// --- Errors -----------------------------------------------------------------------------

TEST_CASE("http: malformed JSON is 400 with a JSON error", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string body : {R"({"service":)", "not json", "", "[1,2]", "\"text\"", "42", "null",
                                 R"({"service":"a","who":"b"} trailing)"}) {
    INFO("body: " << body);
    const HttpReply reply = http.post(api + "/lock", body);
    CHECK_STATUS(reply, 400);
    CHECK(reply.header("content-type").value_or("").rfind("application/json", 0) == 0);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http)["total"] == 0);
}

TEST_CASE("http: missing or invalid service and who are 400", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json bodies[] = {
      json{{"who", "ci"}},
      json{{"service", "svc"}},
      json::object(),
      json{{"service", ""}, {"who", "ci"}},
      json{{"service", "no spaces"}, {"who", "ci"}},
      json{{"service", "a/b"}, {"who", "ci"}},
      json{{"service", "a,b"}, {"who", "ci"}},
      json{{"service", "caf\xc3\xa9"}, {"who", "ci"}},
      json{{"service", 42}, {"who", "ci"}},
      json{{"service", nullptr}, {"who", "ci"}},
      json{{"service", "svc"}, {"who", 7}},
      json{{"service", "svc"}, {"who", nullptr}},
      json{{"service", "svc"}, {"who", "line\nbreak"}},
      json{{"service", "svc"}, {"who", std::string(257, 'w')}},
      json{{"service", "svc"}, {"who", "ci"}, {"reason", 5}},
  };
  for (const json& body : bodies) {
    INFO(body.dump());
    const HttpReply reply = http.post(api + "/lock", body);
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http)["total"] == 0);
  // The edges that are fine: an empty who (documented), 256 bytes of who.
  CHECK(create(http, "svc", "")["who"] == "");
  CHECK(create(http, "svc2", std::string(256, 'w'))["who"] == std::string(256, 'w'));
}

TEST_CASE("http: ttl 0, negative, a string or over a year is 400", "[http][errors][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const json& ttl : {json(0), json(-1), json(-0.5), json("10"), json(31536001), json(1e300), json(true),
                          json::array({10}), json::object()}) {
    INFO("ttl " << ttl.dump());
    const HttpReply reply = http.post(api + "/lock", json{{"service", "t"}, {"who", "ci"}, {"ttl", ttl}});
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http)["total"] == 0);
  CHECK(is_rfc3339(create(http, "t", "ci", json{{"ttl", 31536000}})["expiresAt"]));
  CHECK(is_rfc3339(create(http, "t2", "ci", json{{"ttl", 0.5}})["expiresAt"]));
}

TEST_CASE("http: an id that is not a UUID is 400 - an unknown UUID is 404", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string bad : {"not-a-uuid", "123", "00000000-0000-4000-8000-00000000000", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}) {
    INFO(bad);
    const HttpReply get = http.get(api + "/lock/" + bad);
    CHECK_STATUS(get, 400);
    CHECK(get.json()["error"].is_string());
    CHECK_STATUS(http.get(api + "/unlock/" + bad), 400);
    CHECK_STATUS(http.del(api + "/lock/" + bad), 400);
  }
  for (const auto& reply : {http.get(api + "/lock/" + unknown_id), http.get(api + "/unlock/" + unknown_id),
                            http.del(api + "/lock/" + unknown_id)}) {
    CHECK_STATUS(reply, 404);
    CHECK(reply.json() == json{{"error", "lock not found"}});
  }
}

TEST_CASE("http: an unknown path is 404 with a JSON error", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string& path : std::vector<std::string>{"/nope", "/api/v1alpha1", "/api/v1alpha1/locks",
                                                          "/api/v1alpha2/lock",
                                                          api + "/lock/" + unknown_id + "/extra/more", "/metrics/x"}) {
    INFO(path);
    const HttpReply reply = http.get(path);
    CHECK_STATUS(reply, 404);
    CHECK(reply.header("content-type").value_or("").rfind("application/json", 0) == 0);
    CHECK(reply.json()["error"].is_string());
  }
}

TEST_CASE("http: a wrong method is 405 with an Allow header", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply put = http.request("PUT", api + "/lock", R"({"service":"x","who":"y"})");
  REQUIRE_STATUS(put, 405);
  CHECK(put.header("allow") == "POST");
  CHECK(put.json()["error"].is_string());
  const HttpReply get_lock = http.get(api + "/lock");
  CHECK_STATUS(get_lock, 405);
  CHECK(get_lock.header("allow") == "POST");
  const HttpReply post_list = http.post(api + "/locks/list", std::string("{}"));
  CHECK_STATUS(post_list, 405);
  CHECK(post_list.header("allow") == "GET");
  // /lock/{id} takes GET, DELETE and PUT (an update).
  const HttpReply post_id = http.request("POST", api + "/lock/" + std::string(unknown_id), "{}");
  CHECK_STATUS(post_id, 405);
  const std::string allow = post_id.header("allow").value_or("");
  CHECK(contains(allow, "GET"));
  CHECK(contains(allow, "DELETE"));
  CHECK(contains(allow, "PUT"));
  CHECK(list(http)["total"] == 0);
}

TEST_CASE("http: a percent-encoded path and query work", "[http]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "pct-name", "ci")["id"];
  std::string encoded;
  for (const char c : id) encoded += c == '-' ? std::string("%2D") : std::string(1, c);
  const HttpReply by_encoded_id = http.get(api + "/lock/" + encoded);
  REQUIRE_STATUS(by_encoded_id, 200);
  CHECK(by_encoded_id.json()["id"] == id);
  CHECK_STATUS(http.get("/%68ealthz"), 200);
  const json only = list(http, "?service=pct%2Dname&per%5Fpage=5");
  CHECK(only["total"] == 1);
  CHECK(only["perPage"] == 5);
  const HttpReply broken = http.get(api + "/lock/%zz");
  CHECK_STATUS(broken, 400);
  CHECK(broken.json()["error"].is_string());
  const HttpReply released = http.get(api + "/unlock/" + encoded);
  CHECK_STATUS(released, 200);
}

}  // namespace TNL_UNITY_ID
