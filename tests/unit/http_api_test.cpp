// The HTTP API's routing, authentication and answers, with no sockets: requests in, responses
// out. Every case runs twice: against the local backend, which answers at once, and through
// a deferring one, which answers each call on a later turn of the event loop (so respond()
// runs after handle() has returned). The cases at the end drive a scripted backend by hand.
#include <catch2/catch.hpp>

#include <algorithm>
#include <asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "connection_manager.hpp"
#include "deferring_lock_backend.hpp"
#include "http_api.hpp"
#include "local_lock_backend.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "lock_view_json.hpp"
#include "scripted_lock_backend.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using nlohmann::json;
using tnl::HttpRequest;
using tnl::HttpResponse;
using namespace std::chrono_literals;

namespace {

/// What respond() was called with, and how often (shared: it may be called late).
struct Answer {
  int calls = 0;
  std::optional<HttpResponse> response;
};

/// A respond() that records into `answer`.
tnl::HttpApi::Respond recorder(const std::shared_ptr<Answer>& answer) {
  return [answer](HttpResponse response) {
    ++answer->calls;
    answer->response = std::move(response);
  };
}

/// An API over the local backend (in memory, no state dir), answering at once or, with
/// `deferred`, through a DeferringLockBackend.
struct Fixture {
  explicit Fixture(std::string token = {}, bool deferred = false)
      : store(std::filesystem::path{}), connections(io), backend(make_backend(deferred)),
        api(*backend, stats, connections, std::move(token), "<html><table></table></html>") {}

  /// The answer to `request`, running the event loop until it comes (a few turns at most);
  /// fails the test unless respond() was called exactly once.
  HttpResponse handle(const HttpRequest& request) {
    auto answer = std::make_shared<Answer>();
    api.handle(request, recorder(answer));
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!answer->response && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(10ms);
    }
    io.restart();
    io.poll();  // nothing more may come
    REQUIRE(answer->calls == 1);
    return *answer->response;
  }

  /// A request as curl or tcpnetlock_admin sends it: JSON, no Origin.
  HttpResponse request(std::string method, std::string path, std::string body = {}, std::string authorization = {},
                       std::vector<std::pair<std::string, std::string>> query = {}) {
    HttpRequest request = json_request(std::move(method), std::move(path), std::move(body));
    request.authorization = std::move(authorization);
    request.query = std::move(query);
    return handle(request);
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

  /// Names held, as the local backend's table has them.
  [[nodiscard]] std::size_t held_count() const { return local->table().held_count(); }

  std::unique_ptr<tnl::LockBackend> make_backend(bool deferred) {
    auto made = std::make_unique<tnl::LocalLockBackend>(io, store, stats);
    local = made.get();
    if (!deferred) return made;
    return std::make_unique<tnl::DeferringLockBackend>(std::move(made), io, 0ms, 12);
  }

  asio::io_context io;
  tnl::LockStore store;
  tnl::ServerStats stats;
  tnl::ConnectionManager connections;
  tnl::LocalLockBackend* local = nullptr;
  std::unique_ptr<tnl::LockBackend> backend;
  tnl::HttpApi api;
};

json body_of(const HttpResponse& response) { return json::parse(response.body); }

}  // namespace

TEST_CASE("HTTP: create, conflict, get, list and unlock, as Tracker's API", "[http_api]") {
  Fixture f({}, GENERATE(false, true));
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
  Fixture f({}, GENERATE(false, true));
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
  CHECK(f.held_count() == 0);
}

TEST_CASE("HTTP: with an admin token, changes need it and reading does not", "[http_api]") {
  Fixture f("s3cret", GENERATE(false, true));
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
  Fixture f({}, GENERATE(false, true));
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
  Fixture f({}, GENERATE(false, true));
  const std::string body = R"({"service":"a","who":"x"})";
  // What Chromium sends for fetch(url, {method: 'POST', mode: 'no-cors', body}) from evil.example.
  HttpRequest browser = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  browser.content_type = "text/plain;charset=UTF-8";
  browser.origin = "http://evil.example";
  browser.sec_fetch_site = "cross-site";
  const auto refused = f.handle(browser);
  CHECK(refused.status == 403);
  CHECK(body_of(refused) == json{{"error", "cross-site request refused"}});

  // Each signal alone is enough.
  HttpRequest foreign_origin = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  foreign_origin.origin = "http://127.0.0.1:8080";  // same host, another port: another origin
  CHECK(f.handle(foreign_origin).status == 403);
  HttpRequest null_origin = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  null_origin.origin = "null";  // sandboxed iframe, file: page
  CHECK(f.handle(null_origin).status == 403);
  for (const char* site : {"cross-site", "same-site"}) {
    INFO(site);
    HttpRequest navigation = Fixture::json_request("GET", "/api/v1alpha1/unlock/00000000-0000-4000-8000-000000000000");
    navigation.sec_fetch_site = site;  // <img src> or a link: no Origin
    CHECK(f.handle(navigation).status == 403);
  }
  HttpRequest deletion = Fixture::json_request("DELETE", "/api/v1alpha1/lock/00000000-0000-4000-8000-000000000000");
  deletion.origin = "https://evil.example";
  CHECK(f.handle(deletion).status == 403);
  CHECK(f.held_count() == 0);

  // The status page's own requests: Origin is the Host it was loaded from.
  HttpRequest own = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  own.origin = "http://127.0.0.1:7655";
  own.sec_fetch_site = "same-origin";
  const auto created = f.handle(own);
  REQUIRE(created.status == 201);
  HttpRequest own_delete = Fixture::json_request("DELETE", "/api/v1alpha1/lock/" + body_of(created).at("id").get<std::string>());
  own_delete.host = "LocalHost:7655";
  own_delete.origin = "http://localhost:7655";  // case does not matter
  CHECK(f.handle(own_delete).status == 200);
  // A default port may be written in Host but is never in Origin.
  HttpRequest proxied = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  proxied.host = "locks.example.com:443";
  proxied.origin = "https://locks.example.com";
  CHECK(f.handle(proxied).status == 201);

  // Reading is not refused: without CORS headers the other page cannot read the answer.
  HttpRequest read = Fixture::json_request("GET", "/api/v1alpha1/locks/list");
  read.origin = "http://evil.example";
  CHECK(f.handle(read).status == 200);
}

TEST_CASE("HTTP: creating and renewing need Content-Type application/json (415)", "[http_api][csrf]") {
  Fixture f({}, GENERATE(false, true));
  const std::string body = R"({"service":"a","who":"x"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/jsonx", ""}) {
    INFO(type);
    HttpRequest request = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
    request.content_type = type;
    const auto refused = f.handle(request);
    CHECK(refused.status == 415);
    CHECK(body_of(refused).at("error") == "request body must be Content-Type: application/json");
  }
  HttpRequest untyped = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
  untyped.content_type.reset();
  CHECK(f.handle(untyped).status == 415);
  CHECK(f.held_count() == 0);
  for (const char* type : {"application/json", "Application/JSON; charset=utf-8", " application/json ;charset=UTF-8"}) {
    INFO(type);
    HttpRequest request = Fixture::json_request("POST", "/api/v1alpha1/lock", body);
    request.content_type = type;
    const auto created = f.handle(request);
    REQUIRE(created.status == 201);
    const std::string id = body_of(created).at("id");
    HttpRequest renew = Fixture::json_request("POST", "/api/v1alpha1/lock/" + id + "/renew", R"({"ttl":60})");
    renew.content_type = "text/plain";
    CHECK(f.handle(renew).status == 415);
    renew.content_type = type;
    CHECK(f.handle(renew).status == 200);
    CHECK(f.request("DELETE", "/api/v1alpha1/lock/" + id).status == 200);
  }
}

TEST_CASE("HTTP: with an admin token, list shows lock ids only with the token", "[http_api][ids]") {
  Fixture f("s3cret", GENERATE(false, true));
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
  Fixture f({}, GENERATE(false, true));
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
  Fixture f({}, GENERATE(false, true));
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
  Fixture f({}, GENERATE(false, true));
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

namespace {

/// An API over a backend that answers only when the test says.
struct ScriptedFixture {
  explicit ScriptedFixture(std::string token = {})
      : connections(io), api(std::make_unique<tnl::HttpApi>(backend, stats, connections, std::move(token), "<html>")) {}

  /// Hands `request` to the API; its answer lands in the returned Answer, now or later.
  std::shared_ptr<Answer> send(const HttpRequest& request) {
    auto answer = std::make_shared<Answer>();
    api->handle(request, recorder(answer));
    return answer;
  }

  asio::io_context io;
  tnl::test::ScriptedLockBackend backend;
  tnl::ServerStats stats;
  tnl::ConnectionManager connections;
  std::unique_ptr<tnl::HttpApi> api;
};

using WallTime = std::chrono::system_clock::time_point;
const WallTime wall_now = WallTime{} + 1'700'000'000'000ms;

/// A view of one name held by `holder` (a detached hold of `who`).
tnl::LockView view_with(const std::string& name, const tnl::LockId& holder, const std::string& who,
                        tnl::FencingToken token = 1) {
  tnl::HoldRecord record;
  record.id = holder;
  record.kind = tnl::HoldKind::detached;
  record.client_id = who;
  record.since = wall_now - 3s;
  record.token = token;
  record.fenced = true;
  record.expires = wall_now + 57s;
  tnl::LockView view;
  view.as_of = wall_now;
  view.version = 7;
  view.totals.held_names = 1;
  view.totals.detached_holds = 1;
  view.names = std::make_shared<const std::vector<tnl::NameRecord>>(
      std::vector<tnl::NameRecord>{tnl::NameRecord{name, 1, {record}, {}, {}}});
  return view;
}

/// A view listing nothing.
tnl::LockView empty_view() {
  tnl::LockView view;
  view.as_of = wall_now;
  view.names = std::make_shared<const std::vector<tnl::NameRecord>>();
  return view;
}

}  // namespace

TEST_CASE("HTTP: create answers once the backend has granted and read the record, after handle() returned",
          "[http_api][async]") {
  ScriptedFixture f;
  const auto answer =
      f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", R"({"service":"deploy","who":"ci-1","reason":"v2","ttl":60})"));
  CHECK(answer->calls == 0);
  REQUIRE(f.backend.acquires.size() == 1);
  const auto& call = f.backend.acquires[0];
  CHECK(call.request.name == "deploy");
  CHECK(call.request.limit == 1);
  CHECK(call.request.client_id == "ci-1");
  CHECK(call.request.reason == "v2");
  CHECK(call.request.peer.empty());
  CHECK(call.request.kind == tnl::HoldKind::detached);
  CHECK_FALSE(call.request.deadline);  // no wait: busy is a conflict
  CHECK(call.request.ttl == std::chrono::duration_cast<tnl::LockBackend::Clock::duration>(60s));
  CHECK(call.request.shows_token);  // the record shows the token: it must be durable
  const auto id = call.id;

  f.backend.grant(id, 41);
  CHECK(answer->calls == 0);  // the record is read first
  REQUIRE(f.backend.reads.size() == 1);
  CHECK(f.backend.reads[0].query.id == id);
  CHECK(f.backend.reads[0].query.listing);
  f.backend.answer_read(0, view_with("deploy", id, "ci-1", 41));
  REQUIRE(answer->calls == 1);
  CHECK(answer->response->status == 201);
  CHECK(answer->response->changed_locks);
  const auto record = body_of(*answer->response);
  CHECK(record.at("id") == id.str());
  CHECK(record.at("service") == "deploy");
  CHECK(record.at("token") == 41);
  CHECK(record.at("createdAt") == tnl::format_rfc3339(wall_now - 3s));
  CHECK(record.at("heldSeconds") == 3.0);
}

TEST_CASE("HTTP: a lock granted but gone before its record is read is still answered 201 with its id",
          "[http_api][async]") {
  // A short lease, or an admin, may end it between the grant and the read: its creator
  // must still learn the id and token it was given.
  ScriptedFixture f;
  const auto answer = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", R"({"service":"s","who":"w","ttl":0.1})"));
  const auto id = f.backend.acquires.at(0).id;
  f.backend.grant(id, 5);
  f.backend.answer_read(0, empty_view());
  REQUIRE(answer->calls == 1);
  CHECK(answer->response->status == 201);
  CHECK(answer->response->changed_locks);
  const auto record = body_of(*answer->response);
  CHECK(record.at("id") == id.str());
  CHECK(record.at("service") == "s");
  CHECK(record.at("who") == "w");
  CHECK(record.at("token") == 5);
  CHECK(record.at("kind") == "detached");
}

TEST_CASE("HTTP: a refused create reads the name for its 409, or answers the start grace's 503", "[http_api][async]") {
  ScriptedFixture f;
  const std::string body = R"({"service":"deploy","who":"ci-2"})";
  // Busy: 409 with the holder the read shows.
  const auto busy = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", body));
  f.backend.complete(f.backend.acquires.at(0).id, tnl::AcquireOutcome::not_granted);
  CHECK(busy->calls == 0);
  REQUIRE(f.backend.reads.size() == 1);
  CHECK(f.backend.reads[0].query.name == std::optional<std::string>("deploy"));
  const auto holder = tnl::test::ScriptedLockBackend::make_id(99);
  f.backend.answer_read(0, view_with("deploy", holder, "ci-1"));
  REQUIRE(busy->calls == 1);
  CHECK(busy->response->status == 409);
  CHECK_FALSE(busy->response->changed_locks);
  CHECK(body_of(*busy->response) ==
        json{{"error", "lock already exists"},
             {"existingLock", {{"id", holder.str()}, {"who", "ci-1"}, {"createdAt", tnl::format_rfc3339(wall_now - 3s)}}}});

  // Nobody holds it, but grants are held back at start: 503, Retry-After rounded up.
  const auto starting = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", body));
  f.backend.complete(f.backend.acquires.at(1).id, tnl::AcquireOutcome::not_granted);
  auto grace = empty_view();
  grace.totals.start_grace_seconds_left = 2.2;
  f.backend.answer_read(1, grace);
  REQUIRE(starting->calls == 1);
  CHECK(starting->response->status == 503);
  CHECK(body_of(*starting->response).at("error") == "server is starting: nothing is granted during its start grace");
  CHECK(starting->response->headers ==
        std::vector<std::pair<std::string, std::string>>{{"Retry-After", "3"}});

  // A limit mismatch with nobody shown (the read came after they left): 409 without existingLock.
  const auto mismatch = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", body));
  f.backend.complete(f.backend.acquires.at(2).id, tnl::AcquireOutcome::limit_mismatch);
  f.backend.answer_read(2, empty_view());
  REQUIRE(mismatch->calls == 1);
  CHECK(body_of(*mismatch->response) == json{{"error", "lock already exists"}});

  // Not durable, or the backend going: 503 at once, no read.
  const auto failed = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", body));
  f.backend.complete(f.backend.acquires.at(3).id, tnl::AcquireOutcome::failed);
  REQUIRE(failed->calls == 1);
  CHECK(failed->response->status == 503);
  CHECK(body_of(*failed->response).at("error") == "cannot persist the lock, try again later");
  const auto gone = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", body));
  f.api->shutting_down();  // unavailable before that: "backend unavailable" (tested below)
  f.backend.complete(f.backend.acquires.at(4).id, tnl::AcquireOutcome::unavailable);
  REQUIRE(gone->calls == 1);
  CHECK(gone->response->status == 503);
  CHECK(body_of(*gone->response).at("error") == "server is shutting down");
  CHECK(f.backend.reads.size() == 3);
}

TEST_CASE("HTTP: get, release, renew, list, stats and metrics answer when the backend does", "[http_api][async]") {
  ScriptedFixture f;
  const auto id = tnl::test::ScriptedLockBackend::make_id(7);

  const auto got = f.send(Fixture::json_request("GET", "/api/v1alpha1/lock/" + id.str()));
  REQUIRE(f.backend.reads.size() == 1);
  CHECK(f.backend.reads[0].query.id == id);
  CHECK(got->calls == 0);
  f.backend.answer_read(0, view_with("a", id, "me"));
  REQUIRE(got->calls == 1);
  CHECK(got->response->status == 200);
  CHECK(body_of(*got->response).at("id") == id.str());
  const auto missing = f.send(Fixture::json_request("GET", "/api/v1alpha1/lock/" + id.str()));
  f.backend.answer_read(1, empty_view());
  CHECK(missing->response->status == 404);

  const auto released = f.send(Fixture::json_request("DELETE", "/api/v1alpha1/lock/" + id.str()));
  REQUIRE(f.backend.releases.size() == 1);
  CHECK(f.backend.releases[0].id == id);
  CHECK(f.backend.releases[0].by == tnl::ReleaseBy::admin);
  CHECK(f.backend.releases[0].who == "HTTP from 127.0.0.1:1");
  CHECK(released->calls == 0);
  f.backend.answer_release(0, tnl::ReleaseOutcome::forced);  // a connection's hold, taken away
  REQUIRE(released->calls == 1);
  CHECK(released->response->status == 200);
  CHECK(released->response->changed_locks);
  for (const auto& [outcome, status] : std::vector<std::pair<tnl::ReleaseOutcome, int>>{
           {tnl::ReleaseOutcome::released, 200},
           {tnl::ReleaseOutcome::unknown, 404},
           {tnl::ReleaseOutcome::held_by_connection, 404},
           {tnl::ReleaseOutcome::not_saved, 503},
           {tnl::ReleaseOutcome::unavailable, 503}}) {
    const auto answer = f.send(Fixture::json_request("GET", "/api/v1alpha1/unlock/" + id.str()));
    f.backend.answer_release(f.backend.releases.size() - 1, outcome);
    REQUIRE(answer->calls == 1);
    CHECK(answer->response->status == status);
    CHECK(answer->response->changed_locks == (status == 200));
  }

  const auto renewed = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock/" + id.str() + "/renew", R"({"ttl":30})"));
  REQUIRE(f.backend.renews.size() == 1);
  CHECK(f.backend.renews[0].ttl == std::chrono::duration_cast<tnl::LockBackend::Clock::duration>(30s));
  f.backend.answer_renew(0, tnl::RenewOutcome::renewed);
  CHECK(renewed->calls == 0);  // the record is read first
  f.backend.answer_read(2, view_with("a", id, "me"));
  REQUIRE(renewed->calls == 1);
  CHECK(renewed->response->status == 200);
  CHECK(renewed->response->changed_locks);
  for (const auto& [outcome, status] : std::vector<std::pair<tnl::RenewOutcome, int>>{
           {tnl::RenewOutcome::unknown, 404},
           {tnl::RenewOutcome::held_by_connection, 409},
           {tnl::RenewOutcome::not_saved, 503},
           {tnl::RenewOutcome::unavailable, 503}}) {
    const auto answer = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock/" + id.str() + "/renew", R"({"ttl":30})"));
    f.backend.answer_renew(f.backend.renews.size() - 1, outcome);
    REQUIRE(answer->calls == 1);
    CHECK(answer->response->status == status);
    CHECK_FALSE(answer->response->changed_locks);
  }

  auto list_request = Fixture::json_request("GET", "/api/v1alpha1/locks/list");
  list_request.query = {{"service", "a"}};
  const auto listed = f.send(list_request);
  REQUIRE(f.backend.reads.size() == 4);
  CHECK(f.backend.reads[3].query.name == std::optional<std::string>("a"));
  CHECK(f.backend.reads[3].query.listing);
  f.backend.answer_read(3, view_with("a", id, "me"));
  REQUIRE(listed->calls == 1);
  CHECK(body_of(*listed->response).at("total") == 1);
  CHECK(body_of(*listed->response).at("locks").at(0).at("id") == id.str());

  const auto stats = f.send(Fixture::json_request("GET", "/api/v1alpha1/stats"));
  CHECK_FALSE(f.backend.reads.at(4).query.listing);  // totals only
  f.backend.answer_read(4, view_with("a", id, "me"));
  REQUIRE(stats->calls == 1);
  CHECK(body_of(*stats->response).at("detached_hold_count") == 1);
  const auto metrics = f.send(Fixture::json_request("GET", "/metrics"));
  CHECK_FALSE(f.backend.reads.at(5).query.listing);
  f.backend.answer_read(5, view_with("a", id, "me"));
  REQUIRE(metrics->calls == 1);
  CHECK(metrics->response->body.find("tcpnetlock_holds{kind=\"detached\"} 1\n") != std::string::npos);
}

TEST_CASE("HTTP: /readyz is 503 while the backend is not available", "[http_api][async]") {
  ScriptedFixture f;
  const auto ready = f.send(Fixture::json_request("GET", "/readyz"));
  REQUIRE(ready->calls == 1);  // no backend call: at once
  CHECK(ready->response->status == 200);
  f.backend.is_available = false;
  const auto unavailable = f.send(Fixture::json_request("GET", "/readyz"));
  REQUIRE(unavailable->calls == 1);
  CHECK(unavailable->response->status == 503);
  CHECK(body_of(*unavailable->response) == json{{"status", "backend unavailable"}});
  f.api->shutting_down();
  CHECK(body_of(*f.send(Fixture::json_request("GET", "/readyz"))->response) == json{{"status", "shutting down"}});
}

TEST_CASE("HTTP: a backend answer that comes after the API is gone is a 503 and touches nothing of it",
          "[http_api][async]") {
  ScriptedFixture f;
  const auto stats = f.send(Fixture::json_request("GET", "/api/v1alpha1/stats"));
  const auto created = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"x"})"));
  const auto renewed = f.send(Fixture::json_request(
      "POST", "/api/v1alpha1/lock/" + tnl::test::ScriptedLockBackend::make_id(9).str() + "/renew", R"({"ttl":30})"));
  f.api.reset();  // the server is going away; ASan would see any use of it
  f.backend.answer_read(0, empty_view());
  f.backend.grant(f.backend.acquires.at(0).id);
  f.backend.answer_renew(0, tnl::RenewOutcome::renewed);
  for (const auto& answer : {stats, created, renewed}) {
    REQUIRE(answer->calls == 1);
    CHECK(answer->response->status == 503);
    CHECK(body_of(*answer->response).at("error") == "server is shutting down");
  }
  CHECK(f.backend.reads.size() == 1);  // nothing more was asked of the backend
}

namespace {

/// A view the backend could not read (etcd out of reach).
tnl::LockView failed_read() {
  tnl::LockView view;
  view.ok = false;
  return view;
}

/// Whether `response` is the 503 of a backend that cannot serve.
void check_backend_unavailable(const std::shared_ptr<Answer>& answer) {
  REQUIRE(answer->calls == 1);
  CHECK(answer->response->status == 503);
  CHECK(body_of(*answer->response) == json{{"error", "backend unavailable"}});
  CHECK(std::find(answer->response->headers.begin(), answer->response->headers.end(),
                  std::pair<std::string, std::string>{"Retry-After", "1"}) != answer->response->headers.end());
  CHECK_FALSE(answer->response->changed_locks);
}

}  // namespace

TEST_CASE("HTTP: a list, get or stats the backend cannot read is 503 backend unavailable, never an empty answer",
          "[http_api][async][backend_unavailable]") {
  ScriptedFixture f;
  const auto id = tnl::test::ScriptedLockBackend::make_id(3).str();
  auto list_request = Fixture::json_request("GET", "/api/v1alpha1/locks/list");
  const auto listed = f.send(list_request);
  list_request.query = {{"service", "a"}};
  const auto listed_one = f.send(list_request);
  const auto got = f.send(Fixture::json_request("GET", "/api/v1alpha1/lock/" + id));
  const auto stats = f.send(Fixture::json_request("GET", "/api/v1alpha1/stats"));
  REQUIRE(f.backend.reads.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) f.backend.answer_read(i, failed_read());
  for (const auto& answer : {listed, listed_one, got, stats}) check_backend_unavailable(answer);
}

TEST_CASE("HTTP: /metrics appends the backend's metrics, and a read that failed leaves out only the lock gauges",
          "[http_api][async][backend_unavailable]") {
  ScriptedFixture f;
  f.backend.metrics_text = "# HELP tnl_test_backend A backend's own.\n# TYPE tnl_test_backend gauge\ntnl_test_backend 1\n";
  const auto id = tnl::test::ScriptedLockBackend::make_id(3);
  const auto healthy = f.send(Fixture::json_request("GET", "/metrics"));
  const auto failing = f.send(Fixture::json_request("GET", "/metrics"));
  f.backend.answer_read(0, view_with("a", id, "me"));
  f.backend.answer_read(1, failed_read());
  REQUIRE(healthy->calls == 1);
  REQUIRE(failing->calls == 1);
  const std::string& all = healthy->response->body;
  CHECK(healthy->response->status == 200);
  CHECK(all.find("tcpnetlock_holds{kind=\"detached\"} 1\n") != std::string::npos);
  // After every metric of the server's own.
  CHECK(all.size() >= f.backend.metrics_text.size());
  CHECK(all.compare(all.size() - f.backend.metrics_text.size(), std::string::npos, f.backend.metrics_text) == 0);
  CHECK(all.find("process_start_time_seconds") < all.find("tnl_test_backend"));

  const std::string& some = failing->response->body;
  CHECK(failing->response->status == 200);  // a failed scrape would hide why (the backend's metrics)
  for (const char* gauge : {"tcpnetlock_locks_held", "tcpnetlock_holds", "tcpnetlock_lock_delays", "tcpnetlock_waiters",
                            "tcpnetlock_oldest_hold_age_seconds", "tcpnetlock_start_grace_remaining_seconds"}) {
    INFO(gauge);
    CHECK(some.find(gauge) == std::string::npos);
  }
  CHECK(some.find("tcpnetlock_connections ") != std::string::npos);
  CHECK(some.find("tcpnetlock_grants_total ") != std::string::npos);
  CHECK(some.find("tnl_test_backend 1\n") != std::string::npos);
}

TEST_CASE("HTTP: create, release and renew the backend cannot serve are 503 backend unavailable (while shutting "
          "down, server is shutting down)",
          "[http_api][async][backend_unavailable]") {
  const bool shutting_down = GENERATE(false, true);
  INFO((shutting_down ? "shutting down" : "serving"));
  ScriptedFixture f;
  const auto id = tnl::test::ScriptedLockBackend::make_id(9).str();
  const auto created = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"x"})"));
  const auto released = f.send(Fixture::json_request("DELETE", "/api/v1alpha1/lock/" + id));
  const auto renewed =
      f.send(Fixture::json_request("POST", "/api/v1alpha1/lock/" + id + "/renew", R"({"ttl":30})"));
  if (shutting_down) f.api->shutting_down();
  f.backend.complete(f.backend.acquires.at(0).id, tnl::AcquireOutcome::unavailable);
  f.backend.answer_release(0, tnl::ReleaseOutcome::unavailable);
  f.backend.answer_renew(0, tnl::RenewOutcome::unavailable);
  for (const auto& answer : {created, released, renewed}) {
    if (shutting_down) {
      REQUIRE(answer->calls == 1);
      CHECK(answer->response->status == 503);
      CHECK(body_of(*answer->response) == json{{"error", "server is shutting down"}});
    } else {
      check_backend_unavailable(answer);
    }
  }
  CHECK(f.backend.reads.empty());
}

TEST_CASE("HTTP: a lock created whose record cannot be read is still answered 201 with its id and lease",
          "[http_api][async][backend_unavailable]") {
  ScriptedFixture f;
  const bool with_ttl = GENERATE(false, true);
  const auto before = std::chrono::system_clock::now();
  const auto created = f.send(Fixture::json_request(
      "POST", "/api/v1alpha1/lock", with_ttl ? R"({"service":"a","who":"x","ttl":60})" : R"({"service":"a","who":"x"})"));
  const auto id = f.backend.acquires.at(0).id;
  f.backend.grant(id, 42);
  REQUIRE(f.backend.reads.size() == 1);
  CHECK(f.backend.reads[0].query.id == id);
  f.backend.answer_read(0, failed_read());
  REQUIRE(created->calls == 1);
  CHECK(created->response->status == 201);
  CHECK(created->response->changed_locks);
  CHECK(created->response->undelivered);  // given back if the client never learns the id
  const auto record = body_of(*created->response);
  CHECK(record.at("id") == id.str());
  CHECK(record.at("service") == "a");
  CHECK(record.at("who") == "x");
  CHECK(record.at("token") == 42);
  if (with_ttl) {
    // About a minute from now, not "expired" (as a record that vanished would be).
    const std::string expires = record.at("expiresAt");
    CHECK(expires > tnl::format_rfc3339(before + 59s));
    CHECK(expires < tnl::format_rfc3339(std::chrono::system_clock::now() + 61s));
  } else {
    CHECK(record.at("expiresAt").is_null());
  }
}

TEST_CASE("HTTP: a refused create whose holder cannot be read is 409 without existingLock",
          "[http_api][async][backend_unavailable]") {
  ScriptedFixture f;
  const auto created = f.send(Fixture::json_request("POST", "/api/v1alpha1/lock", R"({"service":"a","who":"x"})"));
  f.backend.complete(f.backend.acquires.at(0).id, tnl::AcquireOutcome::not_granted);
  REQUIRE(f.backend.reads.size() == 1);
  f.backend.answer_read(0, failed_read());
  REQUIRE(created->calls == 1);
  CHECK(created->response->status == 409);
  CHECK(body_of(*created->response) == json{{"error", "lock already exists"}});
}

TEST_CASE("HTTP: a renewal whose record cannot be read is 503 backend unavailable (a retry renews again)",
          "[http_api][async][backend_unavailable]") {
  ScriptedFixture f;
  const auto id = tnl::test::ScriptedLockBackend::make_id(9);
  const auto renewed =
      f.send(Fixture::json_request("POST", "/api/v1alpha1/lock/" + id.str() + "/renew", R"({"ttl":30})"));
  f.backend.answer_renew(0, tnl::RenewOutcome::renewed);
  REQUIRE(f.backend.reads.size() == 1);
  f.backend.answer_read(0, failed_read());
  check_backend_unavailable(renewed);
}

TEST_CASE("HTTP: PUT /lock/{id} reads, updates, reads again, and each backend outcome has its answer",
          "[http_api][async][update]") {
  ScriptedFixture f;
  const auto id = tnl::test::ScriptedLockBackend::make_id(11);
  const std::string path = "/api/v1alpha1/lock/" + id.str();
  const auto put = [&](const std::string& body) { return f.send(Fixture::json_request("PUT", path, body)); };

  const auto updated = put(R"({"who":"new","event_id":"e2"})");
  REQUIRE(f.backend.reads.size() == 1);
  CHECK(f.backend.reads[0].query.id == id);
  f.backend.answer_read(0, view_with("a", id, "old"));
  REQUIRE(f.backend.updates.size() == 1);
  CHECK(f.backend.updates[0].id == id);
  CHECK(f.backend.updates[0].changes.client_id == std::optional<std::string>("new"));
  CHECK(f.backend.updates[0].changes.reason == std::optional<std::string>("e2"));
  CHECK(updated->calls == 0);
  f.backend.answer_update(0, tnl::UpdateOutcome::updated);
  CHECK(updated->calls == 0);  // the record is read again first
  REQUIRE(f.backend.reads.size() == 2);
  f.backend.answer_read(1, view_with("a", id, "new"));
  REQUIRE(updated->calls == 1);
  CHECK(updated->response->status == 200);
  CHECK(updated->response->changed_locks);
  CHECK(body_of(*updated->response).at("who") == "new");

  for (const auto& [outcome, status] : std::vector<std::pair<tnl::UpdateOutcome, int>>{
           {tnl::UpdateOutcome::unknown, 404},
           {tnl::UpdateOutcome::held_by_connection, 409},
           {tnl::UpdateOutcome::not_saved, 503},
           {tnl::UpdateOutcome::unavailable, 503}}) {
    const auto answer = put(R"({"who":"new"})");
    f.backend.answer_read(f.backend.reads.size() - 1, view_with("a", id, "old"));
    f.backend.answer_update(f.backend.updates.size() - 1, outcome);
    REQUIRE(answer->calls == 1);
    CHECK(answer->response->status == status);
    CHECK_FALSE(answer->response->changed_locks);
  }
  const std::size_t asked = f.backend.updates.size();

  // Nothing to change: the record, and nothing asked of the backend.
  const auto same = put(R"({"who":"old","service":"a"})");
  f.backend.answer_read(f.backend.reads.size() - 1, view_with("a", id, "old"));
  REQUIRE(same->calls == 1);
  CHECK(same->response->status == 200);
  // A move: 409.
  const auto moved = put(R"({"who":"x","service":"b"})");
  f.backend.answer_read(f.backend.reads.size() - 1, view_with("a", id, "old"));
  REQUIRE(moved->calls == 1);
  CHECK(moved->response->status == 409);
  // Not held at the first read: 404; not readable: 503, never a 404.
  const auto gone = put(R"({"who":"x"})");
  f.backend.answer_read(f.backend.reads.size() - 1, empty_view());
  REQUIRE(gone->calls == 1);
  CHECK(gone->response->status == 404);
  const auto unreadable = put(R"({"who":"x"})");
  f.backend.answer_read(f.backend.reads.size() - 1, failed_read());
  check_backend_unavailable(unreadable);
  CHECK(f.backend.updates.size() == asked);

  // Updated, but its record cannot be read: 503 (a retry updates again, harmlessly).
  const auto unread = put(R"({"who":"y"})");
  f.backend.answer_read(f.backend.reads.size() - 1, view_with("a", id, "old"));
  f.backend.answer_update(f.backend.updates.size() - 1, tnl::UpdateOutcome::updated);
  f.backend.answer_read(f.backend.reads.size() - 1, failed_read());
  check_backend_unavailable(unread);

  // The API gone before the backend answers: 503, nothing more asked.
  const auto late = put(R"({"who":"z"})");
  f.backend.answer_read(f.backend.reads.size() - 1, view_with("a", id, "old"));
  const std::size_t reads = f.backend.reads.size();
  f.api.reset();
  f.backend.answer_update(f.backend.updates.size() - 1, tnl::UpdateOutcome::updated);
  REQUIRE(late->calls == 1);
  CHECK(late->response->status == 503);
  CHECK(body_of(*late->response).at("error") == "server is shutting down");
  CHECK(f.backend.reads.size() == reads);
}

TEST_CASE("HTTP: PUT /lock/{id} checks its body before asking the backend", "[http_api][update]") {
  ScriptedFixture f;
  const std::string path = "/api/v1alpha1/lock/" + tnl::test::ScriptedLockBackend::make_id(12).str();
  for (const std::string body : {R"([1])", R"({"who":1})", R"({"who":"a\u0001"})", R"({"event_id":false})",
                                 R"({"reason":"a","event_id":"b"})", R"({"environment":[]})", "{"}) {
    INFO(body);
    const auto answer = f.send(Fixture::json_request("PUT", path, body));
    REQUIRE(answer->calls == 1);
    CHECK(answer->response->status == 400);
  }
  const auto bad_id = f.send(Fixture::json_request("PUT", "/api/v1alpha1/lock/nope", R"({"who":"x"})"));
  REQUIRE(bad_id->calls == 1);
  CHECK(bad_id->response->status == 400);
  CHECK(f.backend.reads.empty());
  CHECK(f.backend.updates.empty());
}

}  // namespace TNL_UNITY_ID
