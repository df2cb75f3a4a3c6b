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

  HttpResponse request(std::string method, std::string path, std::string body = {}, std::string authorization = {},
                       std::vector<std::pair<std::string, std::string>> query = {}) {
    return api.handle(HttpRequest{std::move(method), std::move(path), std::move(query), std::move(authorization),
                                  std::move(body), "127.0.0.1:1"});
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
  CHECK(metrics.body.find("tcpnetlock_locks_held{kind=\"detached\"} 0\n") != std::string::npos);
  const auto page = f.request("GET", "/");
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(page.body.find("<table") != std::string::npos);
  CHECK(f.request("HEAD", "/").status == 200);
}
