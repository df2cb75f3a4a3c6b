// Who may do what over HTTP: the admin token, lock ids as capabilities, and the other
// sites a browser on the same machine visits (cross-site requests, DNS rebinding).
#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_http_helpers.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// The headers Chromium sends with fetch(url, {method: 'POST', mode: 'no-cors', body: text})
/// from a page of `origin` (besides Host, Content-Length and Content-Type, which HttpClient sets).
Headers browser_headers(const std::string& origin) {
  return {{"Origin", origin},
          {"Sec-Fetch-Site", "cross-site"},
          {"Sec-Fetch-Mode", "no-cors"},
          {"Sec-Fetch-Dest", "empty"},
          {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36"},
          {"Accept", "*/*"},
          {"Referer", origin + "/"}};
}

/// Sends `request` (all of it but the blank line and body) with `body`, on its own connection.
HttpReply raw_request(std::uint16_t port, const std::string& head, const std::string& body) {
  HttpStream stream(port, 5s);
  stream.send(head + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  return stream.read_reply();
}

}  // namespace

// --- The admin token and lock ids ------------------------------------------------------

TEST_CASE("http: with an admin token, changes need the bearer token - reads do not", "[http][auth]") {
  TempDir dir;
  const auto token_file = dir.path() / "token";
  write_text(token_file, "  s3cret-T0ken  \nsecond line is ignored\n");
  HttpServerProcess server({"--admin-token-file", token_file.string()});
  const HttpClient http(server.http_port());
  const auto good = bearer("s3cret-T0ken");

  const auto check_denied = [](const HttpReply& reply) {
    CHECK_STATUS(reply, 401);
    CHECK(reply.header("www-authenticate") == "Bearer");
    CHECK(reply.json() == json{{"error", "missing or invalid bearer token"}});
  };
  const json body{{"service", "guarded"}, {"who", "ci"}, {"ttl", 60}};
  {
    INFO("no token");
    check_denied(http.post(api + "/lock", body));
  }
  {
    INFO("wrong tokens");
    check_denied(http.post(api + "/lock", body, bearer("wrong")));
    check_denied(http.post(api + "/lock", body, bearer("s3cret-T0ke")));
    check_denied(http.post(api + "/lock", body, bearer("s3cret-T0kenX")));
    check_denied(http.post(api + "/lock", body, {{"Authorization", "Basic czNjcmV0LVQwa2Vu"}}));
    check_denied(http.post(api + "/lock", body, {{"Authorization", "s3cret-T0ken"}}));
    check_denied(http.post(api + "/lock", body, {{"Authorization", "Bearer"}}));
  }
  CHECK(list(http)["total"] == 0);

  const json record = create(http, "guarded", "ci", json{{"ttl", 60}}, good);
  const std::string id = record["id"];
  check_denied(http.del(api + "/lock/" + id));
  check_denied(http.get(api + "/unlock/" + id));
  check_denied(http.post(api + "/lock/" + id + "/renew", json{{"ttl", 600}}));
  check_denied(http.del(api + "/lock/" + id, bearer("wrong")));
  check_denied(http.get(api + "/unlock/" + id, bearer("wrong")));
  check_denied(http.post(api + "/lock/" + id + "/renew", json{{"ttl", 600}}, bearer("wrong")));
  // Nothing changed.
  const HttpReply still = http.get(api + "/lock/" + id);
  REQUIRE_STATUS(still, 200);
  CHECK(still.json()["expiresAt"] == record["expiresAt"]);

  // Reads need no token (but the list shows no ids without it).
  CHECK(list(http)["total"] == 1);
  CHECK(!list(http)["locks"][0].contains("id"));
  for (const std::string& path :
       std::vector<std::string>{"/metrics", "/healthz", "/readyz", api + "/stats", api + "/server", "/"}) {
    INFO(path);
    CHECK_STATUS(http.get(path), 200);
  }
  CHECK(http.get(api + "/server").json()["authRequired"] == true);

  // With the token, everything works.
  CHECK_STATUS(http.post(api + "/lock/" + id + "/renew", json{{"ttl", 600}}, good), 200);
  CHECK_STATUS(http.get(api + "/unlock/" + id, good), 200);
  const std::string second = create(http, "guarded", "ci", json::object(), good)["id"];
  CHECK_STATUS(http.del(api + "/lock/" + second, good), 200);
  CHECK(list(http)["total"] == 0);
}

// The line protocol's `.locks` is as public as the HTTP list: with an admin token it must
// not hand out the ids the HTTP list hides, or anyone could `unlock,id:` (no token needed
// on the line protocol) another client's detached lock and take it, while its holder,
// whom nobody tells, still believes it holds it.
TEST_CASE("http: with an admin token, the line protocol's .locks shows no lock ids either", "[http][auth][adversarial]") {
  TempDir dir;
  const auto token_file = dir.path() / "token";
  write_text(token_file, "s3cret\n");
  HttpServerProcess server({"--admin-token-file", token_file.string()});
  const HttpClient http(server.http_port());
  const std::string over_http = create(http, "deploy", "ci", json{{"ttl", 600}}, bearer("s3cret"))["id"];
  LineClient line(server.port());
  const auto detached = line.request("lock,name:window,ttl:600");
  REQUIRE(detached);
  REQUIRE(detached->rfind("ok,id:", 0) == 0);
  const std::string over_line = detached->substr(6);
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:held") == std::optional<std::string>("ok"));

  for (const std::string& request : {std::string(".locks"), std::string(".locks,name:deploy")}) {
    LineClient reader(server.port());
    const auto listing = reader.request(request);
    REQUIRE(listing);
    INFO(*listing);
    REQUIRE(listing->rfind("locks,", 0) == 0);
    CHECK(listing->find(over_http) == std::string::npos);
    CHECK(listing->find(over_line) == std::string::npos);
    CHECK(listing->find("\"id\"") == std::string::npos);
    CHECK(listing->find("\"kind\"") != std::string::npos);  // the rest is there
  }
  // Whoever has the id still has the capability.
  LineClient owner(server.port());
  CHECK(owner.request("unlock,id:" + over_line) == std::optional<std::string>("released"));
}

TEST_CASE("http: without an admin token nothing needs one and authRequired is false", "[http][auth]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply info = http.get(api + "/server");
  REQUIRE_STATUS(info, 200);
  CHECK(info.json()["authRequired"] == false);
  // A stray Authorization header does not hurt.
  const std::string id = create(http, "open", "ci", json::object(), bearer("anything"))["id"];
  CHECK_STATUS(http.get(api + "/unlock/" + id), 200);
}

TEST_CASE("http: a non-loopback --http needs --admin-token-file", "[http][auth]") {
  SECTION("without a token file the server refuses to start: exit 2 and a message") {
    TempDir dir;
    ChildProcess server = ChildProcess::start({binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port", "0",
                                               "--port-file", (dir.path() / "port").string(), "--http", "0.0.0.0:0"});
    const auto status = server.wait_for_exit(10s);
    REQUIRE(status);
    CHECK(status->exited(2));
    CHECK(contains(server.stderr_text(), "--admin-token-file"));
    CHECK(read_file(dir.path() / "port").empty());
  }
  SECTION("with a token file it starts, and answers on loopback") {
    TempDir dir;
    write_text(dir.path() / "token", "tok\n");
    const auto http_port_file = dir.path() / "http-port";
    ServerProcess server({"--http", "0.0.0.0:0", "--http-port-file", http_port_file.string(), "--admin-token-file",
                          (dir.path() / "token").string()});
    REQUIRE(wait_until([&] { return read_port_file(http_port_file).has_value(); }));
    const HttpClient http(*read_port_file(http_port_file));
    CHECK_STATUS(http.get("/healthz"), 200);
    CHECK(http.get(api + "/server").json()["authRequired"] == true);
    CHECK_STATUS(http.post(api + "/lock", json{{"service", "x"}, {"who", "y"}}), 401);
    CHECK_STATUS(http.post(api + "/lock", json{{"service", "x"}, {"who", "y"}}, bearer("tok")), 201);
  }
  SECTION("an empty token file is refused") {
    TempDir dir;
    write_text(dir.path() / "token", "\n");
    ChildProcess server = ChildProcess::start({binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port", "0",
                                               "--http", "127.0.0.1:0", "--admin-token-file",
                                               (dir.path() / "token").string()});
    const auto status = server.wait_for_exit(10s);
    REQUIRE(status);
    CHECK(status->exited(2));
    CHECK(contains(server.stderr_text(), "no token"));
  }
}


TEST_CASE("http: with an admin token, lock ids are listed only for requests that carry it", "[http][auth][ids]") {
  TempDir dir;
  write_text(dir.path() / "token", "tok\n");
  HttpServerProcess server({"--admin-token-file", (dir.path() / "token").string()});
  const HttpClient http(server.http_port());
  const std::string detached = create(http, "detached", "ci", json::object(), bearer("tok"))["id"];
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:connection,client-id:h") == "ok");

  const HttpReply anonymous = http.get(api + "/locks/list");
  REQUIRE_STATUS(anonymous, 200);
  const json records = anonymous.json();
  CHECK(records["total"] == 2);
  for (const auto& record : records["locks"]) {
    CHECK(!record.contains("id"));
    CHECK(record["service"].is_string());
  }
  CHECK(!contains(anonymous.body, detached));
  const HttpReply page = http.get("/");
  CHECK(!contains(page.body, detached));

  const HttpReply authorized = http.get(api + "/locks/list", bearer("tok"));
  REQUIRE_STATUS(authorized, 200);
  CHECK(authorized.json()["locks"][1]["id"] == detached);
  CHECK(is_uuid_v8(authorized.json()["locks"][0]["id"]));  // the connection's hold

  const HttpReply wrong = http.get(api + "/locks/list", bearer("guess"));
  CHECK_STATUS(wrong, 401);
  CHECK(!contains(wrong.body, detached));
  // Whoever has the id may read its record; creating over a held name needs the token.
  CHECK(http.get(api + "/lock/" + detached).json()["id"] == detached);
  const HttpReply conflict = http.post(api + "/lock", json{{"service", "detached"}, {"who", "x"}});
  CHECK_STATUS(conflict, 401);
  CHECK(!contains(conflict.body, detached));
}

// --- Other sites -------------------------------------------------------------------------

TEST_CASE("http: the request of issue 10 (a page of evil.example, text/plain) creates no lock", "[http][csrf]") {
  HttpServerProcess server;  // loopback, no token: the default
  const std::string port = std::to_string(server.http_port());
  const std::string body = R"({"service":"csrf","who":"evil"})";
  // As reported: Host and Origin of the other site (a DNS-rebound name): 421.
  const HttpReply rebound =
      raw_request(server.http_port(),
                  "POST /api/v1alpha1/lock HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\n"
                  "Content-Type: text/plain\r\n",
                  body);
  CHECK_STATUS(rebound, 421);
  // What the browser sends from evil.example to 127.0.0.1: our Host, its Origin: 403.
  const HttpClient http(server.http_port());
  std::string head = "POST /api/v1alpha1/lock HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n";
  for (const auto& [name, value] : browser_headers("http://evil.example")) head += name + ": " + value + "\r\n";
  const HttpReply cross_site = raw_request(server.http_port(), head + "Content-Type: text/plain;charset=UTF-8\r\n", body);
  CHECK_STATUS(cross_site, 403);
  CHECK(cross_site.json() == json{{"error", "cross-site request refused"}});
  // With a JSON type (a page cannot send that without a CORS preflight, never granted here)
  // or from another port of the same host: the Origin decides.
  CHECK_STATUS(http.post(api + "/lock", body, browser_headers("http://evil.example")), 403);
  CHECK_STATUS(http.post(api + "/lock", body, {{"Origin", "http://127.0.0.1:1"}}), 403);
  // A link or image to GET /unlock/{id}: no Origin, but Sec-Fetch-Site.
  CHECK_STATUS(http.get(api + "/unlock/" + std::string(unknown_id), {{"Sec-Fetch-Site", "cross-site"}}), 403);
  // No browser signal at all but not JSON: 415.
  const HttpReply plain = raw_request(
      server.http_port(), "POST /api/v1alpha1/lock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n", body);
  CHECK_STATUS(plain, 415);
  CHECK(list(http)["total"] == 0);

  // The status page's own request: same origin, JSON.
  const HttpReply own = http.post(api + "/lock", body,
                                  {{"Origin", "http://127.0.0.1:" + port}, {"Sec-Fetch-Site", "same-origin"},
                                   {"Sec-Fetch-Mode", "cors"}});
  CHECK_STATUS(own, 201);
  CHECK(list(http)["total"] == 1);
}

TEST_CASE("http: a Host that is not ours is 421 on every path - --http-allowed-host adds names", "[http][csrf]") {
  HttpServerProcess server;
  const auto get = [&](const std::string& path, const std::string& host) {
    HttpStream stream(server.http_port(), 5s);
    stream.send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    return stream.read_reply();
  };
  const std::string port = std::to_string(server.http_port());
  for (const std::string& path : std::vector<std::string>{"/", "/healthz", api + "/locks/list", api + "/stats", "/metrics"}) {
    INFO(path);
    CHECK_STATUS(get(path, "rebound.evil.example:" + port), 421);
    CHECK_STATUS(get(path, "127.0.0.1:" + port), 200);
    CHECK_STATUS(get(path, "localhost:" + port), 200);
    CHECK_STATUS(get(path, "[::1]:" + port), 200);
  }
  HttpServerProcess named({"--http-allowed-host", "locks.internal"});
  const auto named_get = [&](const std::string& host) {
    HttpStream stream(named.http_port(), 5s);
    stream.send("GET /healthz HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
    return stream.read_reply();
  };
  CHECK_STATUS(named_get("locks.internal:7655"), 200);
  CHECK_STATUS(named_get("evil.example"), 421);
  HttpServerProcess any({"--http-allowed-host", "*"});
  HttpStream stream(any.http_port(), 5s);
  stream.send("GET /healthz HTTP/1.1\r\nHost: whatever.example\r\n\r\n");
  CHECK_STATUS(stream.read_reply(), 200);
}

TEST_CASE("http: a non-loopback --http answers any Host, yet refuses other sites' writes", "[http][csrf]") {
  TempDir dir;
  write_text(dir.path() / "token", "tok\n");
  const auto http_port_file = dir.path() / "http-port";
  ServerProcess server({"--http", "0.0.0.0:0", "--http-port-file", http_port_file.string(), "--admin-token-file",
                        (dir.path() / "token").string()});
  REQUIRE(wait_until([&] { return read_port_file(http_port_file).has_value(); }));
  const std::uint16_t port = *read_port_file(http_port_file);
  HttpStream stream(port, 5s);
  stream.send("GET /healthz HTTP/1.1\r\nHost: tcpnetlock.example.com\r\n\r\n");
  CHECK_STATUS(stream.read_reply(), 200);
  const HttpClient http(port);
  const json body{{"service", "x"}, {"who", "y"}};
  CHECK_STATUS(http.post(api + "/lock", body, [] {
    Headers headers = bearer("tok");
    headers.emplace_back("Origin", "http://evil.example");
    return headers;
  }()), 403);
  CHECK_STATUS(http.post(api + "/lock", body, bearer("tok")), 201);
}

}  // namespace TNL_UNITY_ID
