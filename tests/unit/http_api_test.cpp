// The HTTP API's routing, authentication and answers, with no sockets: requests in, responses out.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "connection_manager.hpp"
#include "http_api.hpp"

using nlohmann::json;
using tnl::HttpRequest;
using tnl::HttpResponse;

namespace {

/// A lock service and API over an in-memory table.
struct Fixture {
  explicit Fixture(std::string token = {})
      : store(std::filesystem::path{}), locks([] { return ++last_token; }), service(io, locks, store, stats),
        connections(io),
        api(service, stats, connections, std::move(token), "<html><table></table></html>") {}

  /// A request as curl or tcpnetlock_admin sends it: JSON, no Origin.
  HttpResponse request(std::string method, std::string path, std::string body = {}, std::string authorization = {},
                       std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpRequest request = json_request(std::move(method), std::move(path), std::move(body));
    request.authorization = std::move(authorization);
    request.query = std::move(query);
    return api.handle(request);
  }

  /// A request to 127.0.0.1:7655 with a JSON body, to be adjusted by the test.
  static HttpRequest json_request(std::string method, std::string path, std::string body = {}) {
    HttpRequest request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    request.peer = "127.0.0.1:1";
    request.host = "127.0.0.1:7655";
    request.content_type = "application/json";
    return request;
  }

  static inline tnl::LockTable::Token last_token = 0;
  asio::io_context io;
  tnl::LockStore store;
  tnl::LockTable locks;
  tnl::ServerStats stats;
  tnl::LockService service;
  tnl::ConnectionManager connections;
  tnl::HttpApi api;
};

json body_of(const HttpResponse& response) { return json::parse(response.body); }

}  // namespace

TEST_CASE("HTTP: create, conflict, get, list and unlock, as Tracker's API", "[http_api]") {
  Fixture f;
  const auto created = f.request("POST", "/api/v1alpha1/lock", R"({"service":"deploy","who":"ci-1","ttl":60})");
  REQUIRE(created.status == 201);
  const auto record = body_of(created);
  const std::string id = record.at("id");
  CHECK(record.at("service") == "deploy");
  CHECK(record.at("who") == "ci-1");
  CHECK(record.at("kind") == "detached");
  CHECK(record.at("expiresAt").is_string());

  const auto conflict = f.request("POST", "/api/v1alpha1/lock", R"({"service":"deploy","who":"ci-2"})");
  CHECK(conflict.status == 409);
  CHECK(body_of(conflict).at("error") == "lock already exists");
  CHECK(body_of(conflict).at("existingLock").at("id") == id);
  CHECK(body_of(conflict).at("existingLock").at("who") == "ci-1");

  CHECK(body_of(f.request("GET", "/api/v1alpha1/lock/" + id)).at("service") == "deploy");
  const auto list = body_of(f.request("GET", "/api/v1alpha1/locks/list", {}, {}, {{"per_page", "10"}, {"page", "1"}}));
  CHECK(list.at("total") == 1);
  CHECK(list.at("perPage") == 10);
  CHECK(list.at("page") == 1);

  const auto unlocked = f.request("GET", "/api/v1alpha1/unlock/" + id);
  CHECK(unlocked.status == 200);
  CHECK(body_of(unlocked) == json{{"success", true}, {"message", "Lock released successfully"}});
  CHECK(f.request("GET", "/api/v1alpha1/lock/" + id).status == 404);
  CHECK(f.request("DELETE", "/api/v1alpha1/lock/" + id).status == 404);
  CHECK(f.stats.lock_acquired_count == 1);
  CHECK(f.stats.lock_not_acquired_count == 1);
  CHECK(f.stats.hold_seconds.count() == 1);
}

TEST_CASE("HTTP: bad input gets a JSON error with the right status", "[http_api]") {
  Fixture f;
  CHECK(f.request("POST", "/api/v1alpha1/lock", "{").status == 400);
  CHECK(f.request("POST", "/api/v1alpha1/lock", "[1]").status == 400);
  CHECK(f.request("POST", "/api/v1alpha1/lock", R"({"who":"x"})").status == 400);
  CHECK(f.request("POST", "/api/v1alpha1/lock", R"({"service":"a b","who":"x"})").status == 400);
  CHECK(f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":7})").status == 400);
  for (const char* ttl : {"0", "-1", "\"60\"", "31536001", "1e400"}) {
    INFO(ttl);
    CHECK(f.request("POST", "/api/v1alpha1/lock", std::string(R"({"service":"a","who":"x","ttl":)") + ttl + "}").status ==
          400);
  }
  CHECK(f.request("GET", "/api/v1alpha1/lock/not-a-uuid").status == 400);
  CHECK(f.request("POST", "/api/v1alpha1/lock", std::string(8193, ' ')).status == 413);
  CHECK(f.request("GET", "/api/v1alpha1/locks/list", {}, {}, {{"page", "0"}}).status == 400);
  CHECK(f.request("GET", "/api/v1alpha1/locks/list", {}, {}, {{"per_page", "1001"}}).status == 400);
  CHECK(f.request("GET", "/nowhere").status == 404);
  const auto wrong_method = f.request("PUT", "/api/v1alpha1/lock");
  CHECK(wrong_method.status == 405);
  REQUIRE(wrong_method.headers.size() == 1);
  CHECK(wrong_method.headers[0] == std::pair<std::string, std::string>{"Allow", "POST"});
  CHECK(body_of(wrong_method).at("error") == "method not allowed");
  CHECK(f.locks.held_count() == 0);
}

TEST_CASE("HTTP: with an admin token, changes need it and reading does not", "[http_api]") {
  Fixture f("s3cret");
  const std::string body = R"({"service":"a","who":"x"})";
  const auto denied = f.request("POST", "/api/v1alpha1/lock", body);
  CHECK(denied.status == 401);
  CHECK(denied.headers.at(0) == std::pair<std::string, std::string>{"WWW-Authenticate", "Bearer"});
  CHECK(f.request("POST", "/api/v1alpha1/lock", body, "Bearer s3cre").status == 401);
  CHECK(f.request("POST", "/api/v1alpha1/lock", body, "Bearer s3cret2").status == 401);
  CHECK(f.request("POST", "/api/v1alpha1/lock", body, "Basic s3cret").status == 401);
  const auto created = f.request("POST", "/api/v1alpha1/lock", body, "bearer s3cret");  // any case
  REQUIRE(created.status == 201);
  const std::string id = body_of(created).at("id");
  CHECK(f.request("GET", "/api/v1alpha1/lock/" + id).status == 200);
  CHECK(f.request("GET", "/api/v1alpha1/locks/list").status == 200);
  CHECK(f.request("GET", "/metrics").status == 200);
  CHECK(f.request("GET", "/api/v1alpha1/unlock/" + id).status == 401);
  CHECK(f.request("POST", "/api/v1alpha1/lock/" + id + "/renew", R"({"ttl":5})").status == 401);
  CHECK(f.request("POST", "/api/v1alpha1/lock/" + id + "/renew", R"({"ttl":5})", "Bearer s3cret").status == 200);
  CHECK(f.request("DELETE", "/api/v1alpha1/lock/" + id, {}, "Bearer s3cret").status == 200);
  CHECK(body_of(f.request("GET", "/api/v1alpha1/server")).at("authRequired") == true);
}

TEST_CASE("HTTP: health, readiness through shutdown, metrics and the page", "[http_api]") {
  Fixture f;
  CHECK(body_of(f.request("GET", "/healthz")) == json{{"status", "ok"}});
  CHECK(f.request("GET", "/readyz").status == 200);
  f.api.shutting_down();
  CHECK(f.request("GET", "/readyz").status == 503);
  CHECK(f.request("GET", "/healthz").status == 200);
  const auto metrics = f.request("GET", "/metrics");
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body.find("# TYPE tcpnetlock_hold_seconds histogram\n") != std::string::npos);
  CHECK(metrics.body.find("tcpnetlock_holds{kind=\"detached\"} 0\n") != std::string::npos);
  const auto page = f.request("GET", "/");
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(page.body.find("<table") != std::string::npos);
  CHECK(f.request("HEAD", "/").status == 200);
}

TEST_CASE("HTTP: a write sent by a page of another site is refused with 403, our own page's works", "[http_api][csrf]") {
  Fixture f;
  const std::string body = R"({"service":"a","who":"x"})";
  // What Chromium sends for fetch(url, {method: 'POST', mode: 'no-cors', body}) from evil.example.
  HttpRequest browser = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  browser.content_type = "text/plain;charset=UTF-8";
  browser.origin = "http://evil.example";
  browser.sec_fetch_site = "cross-site";
  const auto refused = f.api.handle(browser);
  CHECK(refused.status == 403);
  CHECK(body_of(refused) == json{{"error", "cross-site request refused"}});

  // Each signal alone is enough.
  HttpRequest foreign_origin = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  foreign_origin.origin = "http://127.0.0.1:8080";  // same host, another port: another origin
  CHECK(f.api.handle(foreign_origin).status == 403);
  HttpRequest null_origin = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  null_origin.origin = "null";  // sandboxed iframe, file: page
  CHECK(f.api.handle(null_origin).status == 403);
  for (const char* site : {"cross-site", "same-site"}) {
    INFO(site);
    HttpRequest navigation = Fixture::json_request("GET", "/api/v1alpha1/unlock/00000000-0000-4000-8000-000000000000");
    navigation.sec_fetch_site = site;  // <img src> or a link: no Origin
    CHECK(f.api.handle(navigation).status == 403);
  }
  HttpRequest deletion = Fixture::json_request("DELETE", "/api/v1alpha1/lock/00000000-0000-4000-8000-000000000000");
  deletion.origin = "https://evil.example";
  CHECK(f.api.handle(deletion).status == 403);
  CHECK(f.locks.held_count() == 0);

  // The status page's own requests: Origin is the Host it was loaded from.
  HttpRequest own = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  own.origin = "http://127.0.0.1:7655";
  own.sec_fetch_site = "same-origin";
  const auto created = f.api.handle(own);
  REQUIRE(created.status == 201);
  HttpRequest own_delete = Fixture::json_request("DELETE", "/api/v1alpha1/lock/" + body_of(created).at("id").get<std::string>());
  own_delete.host = "LocalHost:7655";
  own_delete.origin = "http://localhost:7655";  // case does not matter
  CHECK(f.api.handle(own_delete).status == 200);
  // A default port may be written in Host but is never in Origin.
  HttpRequest proxied = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  proxied.host = "locks.example.com:443";
  proxied.origin = "https://locks.example.com";
  CHECK(f.api.handle(proxied).status == 201);

  // Reading is not refused: without CORS headers the other page cannot read the answer.
  HttpRequest read = Fixture::json_request("GET", "/api/v1alpha1/locks/list");
  read.origin = "http://evil.example";
  CHECK(f.api.handle(read).status == 200);
}

TEST_CASE("HTTP: creating and renewing need Content-Type application/json (415)", "[http_api][csrf]") {
  Fixture f;
  const std::string body = R"({"service":"a","who":"x"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/jsonx", ""}) {
    INFO(type);
    HttpRequest request = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
    request.content_type = type;
    const auto refused = f.api.handle(request);
    CHECK(refused.status == 415);
    CHECK(body_of(refused).at("error") == "request body must be Content-Type: application/json");
  }
  HttpRequest untyped = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  untyped.content_type.reset();
  CHECK(f.api.handle(untyped).status == 415);
  CHECK(f.locks.held_count() == 0);
  for (const char* type : {"application/json", "Application/JSON; charset=utf-8", " application/json ;charset=UTF-8"}) {
    INFO(type);
    HttpRequest request = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
    request.content_type = type;
    const auto created = f.api.handle(request);
    REQUIRE(created.status == 201);
    const std::string id = body_of(created).at("id");
    HttpRequest renew = Fixture::json_request("POST", "/api/v1alpha1/lock/" + id + "/renew", R"({"ttl":60})");
    renew.content_type = "text/plain";
    CHECK(f.api.handle(renew).status == 415);
    renew.content_type = type;
    CHECK(f.api.handle(renew).status == 200);
    CHECK(f.request("DELETE", "/api/v1alpha1/lock/" + id).status == 200);
  }
}

TEST_CASE("HTTP: with an admin token, list shows lock ids only with the token", "[http_api][ids]") {
  Fixture f("s3cret");
  const auto created = f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"x"})", "Bearer s3cret");
  REQUIRE(created.status == 201);
  const std::string id = body_of(created).at("id");

  const auto anonymous = f.request("GET", "/api/v1alpha1/locks/list");
  REQUIRE(anonymous.status == 200);
  const json hidden = body_of(anonymous).at("locks").at(0);
  CHECK(hidden.at("service") == "a");
  CHECK(hidden.at("who") == "x");
  CHECK(!hidden.contains("id"));
  CHECK(anonymous.body.find(id) == std::string::npos);

  const auto with_token = f.request("GET", "/api/v1alpha1/locks/list", {}, "Bearer s3cret");
  REQUIRE(with_token.status == 200);
  CHECK(body_of(with_token).at("locks").at(0).at("id") == id);

  // A wrong token is an error, not an anonymous read.
  const auto wrong = f.request("GET", "/api/v1alpha1/locks/list", {}, "Bearer guess");
  CHECK(wrong.status == 401);
  CHECK(wrong.body.find(id) == std::string::npos);

  // The caller who has the id may read its record.
  CHECK(body_of(f.request("GET", "/api/v1alpha1/lock/" + id)).at("id") == id);
  // The conflict shows the existing lock's id only to a creator with the token (and
  // creating needs the token): an anonymous one learns nothing.
  const auto anonymous_conflict = f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"y"})");
  CHECK(anonymous_conflict.status == 401);
  CHECK(anonymous_conflict.body.find(id) == std::string::npos);
  const auto conflict = f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"y"})", "Bearer s3cret");
  CHECK(conflict.status == 409);
  CHECK(body_of(conflict).at("existingLock").at("id") == id);
  // Nothing else a reader sees carries it.
  for (const char* path : {"/api/v1alpha1/stats", "/metrics", "/", "/api/v1alpha1/server"}) {
    INFO(path);
    CHECK(f.request("GET", path).body.find(id) == std::string::npos);
  }
}

TEST_CASE("HTTP: without an admin token, ids are listed as before", "[http_api][ids]") {
  Fixture f;
  const std::string id = body_of(f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"x"})")).at("id");
  CHECK(body_of(f.request("GET", "/api/v1alpha1/locks/list")).at("locks").at(0).at("id") == id);
  CHECK(body_of(f.request("GET", "/api/v1alpha1/locks/list", {}, "Bearer anything")).at("locks").at(0).at("id") == id);
  CHECK(body_of(f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"y"})")).at("existingLock").at("id") ==
        id);
}

TEST_CASE("HTTP: only answers that changed a lock are marked so (they are kept from eviction a while)",
          "[http_api][eviction]") {
  // Every answer on a create, renew or release route used to be marked, 404s and 409s
  // included: a client with no lock of its own could pipeline DELETEs of unknown ids, read
  // nothing, and hold every HTTP connection slot against eviction.
  Fixture f;
  const std::string unknown = "/api/v1alpha1/lock/00000000-0000-4000-8000-000000000000";
  CHECK_FALSE(f.request("DELETE", unknown).changed_locks);
  CHECK_FALSE(f.request("GET", "/api/v1alpha1/unlock/00000000-0000-4000-8000-000000000000").changed_locks);
  CHECK_FALSE(f.request("POST", unknown + "/renew", R"({"ttl":60})").changed_locks);
  CHECK_FALSE(f.request("POST", "/api/v1alpha1/lock", "not json").changed_locks);
  const auto created = f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"me"})");
  REQUIRE(created.status == 201);
  CHECK(created.changed_locks);
  const auto conflict = f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"me"})");
  REQUIRE(conflict.status == 409);
  CHECK_FALSE(conflict.changed_locks);
  const std::string id = body_of(created)["id"];
  const auto renewed = f.request("POST", "/api/v1alpha1/lock/" + id + "/renew", R"({"ttl":60})");
  REQUIRE(renewed.status == 200);
  CHECK(renewed.changed_locks);
  CHECK_FALSE(f.request("GET", "/api/v1alpha1/locks/list").changed_locks);
  const auto released = f.request("DELETE", "/api/v1alpha1/lock/" + id);
  REQUIRE(released.status == 200);
  CHECK(released.changed_locks);
}

TEST_CASE("HTTP: HEAD never releases a lock - GET /unlock/{id} does", "[http_api]") {
  // HEAD is answered wherever GET is, so HEAD /unlock/{id} released the lock: a link
  // checker or prefetcher that only asks for headers must not change anything.
  Fixture f;
  const auto created = f.request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"me"})");
  REQUIRE(created.status == 201);
  const std::string id = body_of(created)["id"];
  const auto head = f.request("HEAD", "/api/v1alpha1/unlock/" + id);
  CHECK(head.status == 405);
  CHECK(f.request("GET", "/api/v1alpha1/lock/" + id).status == 200);  // still held
  CHECK(f.request("HEAD", "/api/v1alpha1/lock/" + id).status == 200);  // a read: as GET
  CHECK(f.request("GET", "/api/v1alpha1/unlock/" + id).status == 200);
  CHECK(f.request("GET", "/api/v1alpha1/lock/" + id).status == 404);
}
