// What every HTTP request passes before the API: its Host (DNS rebinding) and its target
// (percent-decoding), and how answers go on the wire (HEAD, Connection).
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "connection_manager.hpp"
#include "http_allowed_hosts.hpp"
#include "http_request_gate.hpp"
#include "http_response_text.hpp"
#include "http_url.hpp"
#include "local_lock_backend.hpp"
#include "lock_store.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using nlohmann::json;
using tnl::HttpAllowedHosts;

TEST_CASE("HTTP hosts: IP literals and localhost, with any port, by default", "[http_gate][hosts]") {
  const HttpAllowedHosts hosts;
  for (const char* host : {"127.0.0.1", "127.0.0.1:7655", "localhost", "LOCALHOST:80", "localhost.", "[::1]",
                           "[::1]:7655", "10.1.2.3:7655", "[fe80::1]:1"}) {
    INFO(host);
    CHECK(hosts.allows(host));
  }
  for (const char* host : {"evil.example", "evil.example:7655", "localhost.evil.example", "127.0.0.1.nip.io:7655",
                           "", ":7655", "[::1", "[::1]x", "[nonsense]:1", "127.0.0.1:port", "127.0.0.1:123456",
                           "a b", "a@b", "localhost:7655:1"}) {
    INFO(host);
    CHECK(!hosts.allows(host));
  }
}

TEST_CASE("HTTP hosts: listed names, and * for any", "[http_gate][hosts]") {
  const HttpAllowedHosts listed({"Locks.Example.COM", "tcpnetlock."});
  CHECK(listed.allows("locks.example.com"));
  CHECK(listed.allows("locks.example.com:7655"));
  CHECK(listed.allows("LOCKS.example.com."));
  CHECK(listed.allows("tcpnetlock"));
  CHECK(listed.allows("127.0.0.1:7655"));
  CHECK(!listed.allows("example.com"));
  CHECK(!listed.any());
  const HttpAllowedHosts any({"*"});
  CHECK(any.any());
  CHECK(any.allows("whatever.example:1"));
  CHECK(!any.allows("bad host"));  // still a Host, though
}

TEST_CASE("HTTP targets: percent-decoding of path and query", "[http_gate][url]") {
  const auto target = tnl::parse_target("/api/v1alpha1/lock/%2D%41b?service=pct%2Dname&per%5Fpage=5&flag&a=b+c;x=1");
  REQUIRE(target);
  CHECK(target->path == "/api/v1alpha1/lock/-Ab");
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(target->query == Pairs{{"service", "pct-name"}, {"per_page", "5"}, {"flag", ""}, {"a", "b c"}, {"x", "1"}});
  CHECK(tnl::parse_target("/a+b")->path == "/a+b");  // '+' is a space only in queries
  CHECK(tnl::parse_target("/x#fragment")->path == "/x");
  CHECK(tnl::parse_target("/ok?next=%2Fa%2Fb")->query.front().second == "/a/b");  // a '/' in a query value is fine
  // An encoded '/' would be routed as a separator, while a proxy in front sees one segment
  // (a path rule there for /api/v1alpha1/lock/* would not see /api/v1alpha1/lock%2F{id}).
  for (const char* bad : {"/%zz", "/%", "/%4", "/ok?a=%g1", "*", "http://evil.example/", "", "/api/v1alpha1/lock%2f" "x",
                          "/api%2Fv1alpha1/stats"}) {
    INFO(bad);
    CHECK(!tnl::parse_target(bad));
  }
}

namespace {

/// The API over an empty table, behind a gate.
struct GateFixture {
  explicit GateFixture(std::vector<std::string> hosts = {})
      : store(std::filesystem::path{}), backend(io, store, stats), connections(io),
        api(backend, stats, connections, {}, "<html></html>"), gate(api, HttpAllowedHosts(hosts)) {}

  /// The answer to GET `target` (the local backend answers before handle() returns).
  tnl::HttpResponse get(const std::string& target, std::optional<std::string> host, unsigned minor = 1) {
    tnl::HttpMessage message;
    message.method = "GET";
    message.target = target;
    message.version_minor = minor;
    if (host) message.headers.emplace_back("host", *host);
    std::optional<tnl::HttpResponse> answer;
    int calls = 0;
    gate.handle(std::move(message), "127.0.0.1:1", [&](tnl::HttpResponse response) {
      ++calls;
      answer = std::move(response);
    });
    REQUIRE(calls == 1);
    return *answer;
  }

  asio::io_context io;
  tnl::LockStore store;
  tnl::ServerStats stats;
  tnl::LocalLockBackend backend;
  tnl::ConnectionManager connections;
  tnl::HttpApi api;
  tnl::HttpRequestGate gate;
};

}  // namespace

TEST_CASE("HTTP gate: a Host that is not ours is 421, a missing one 400 (HTTP/1.1)", "[http_gate]") {
  GateFixture f;
  CHECK(f.get("/healthz", "127.0.0.1:7655").status == 200);
  CHECK(f.get("/healthz", "localhost:7655").status == 200);
  const auto misdirected = f.get("/api/v1alpha1/locks/list", "evil.example:7655");
  CHECK(misdirected.status == 421);
  CHECK(json::parse(misdirected.body).at("error") == "misdirected request: Host is not a name of this server");
  CHECK(f.get("/healthz", std::nullopt).status == 400);
  CHECK(f.get("/healthz", std::nullopt, 0).status == 200);  // HTTP/1.0 had no Host
  CHECK(f.get("/%zz", "localhost").status == 400);
  CHECK(f.get("/%68ealthz", "localhost").status == 200);

  GateFixture named({"locks.example.com"});
  CHECK(named.get("/healthz", "locks.example.com").status == 200);
  CHECK(named.get("/healthz", "evil.example").status == 421);
}

TEST_CASE("HTTP wire: HEAD has the GET's headers and Content-Length but no body", "[http_gate][wire]") {
  const tnl::HttpResponse response{200, "application/json", R"({"status":"ok"})", {{"X-Extra", "1"}}};
  const std::string get = tnl::http_response_text(response, {false, true, 1});
  CHECK(get ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Extra: 1\r\nContent-Length: 15\r\n\r\n"
        R"({"status":"ok"})");
  const std::string head = tnl::http_response_text(response, {true, true, 1});
  CHECK(head == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Extra: 1\r\nContent-Length: 15\r\n\r\n");
  CHECK(tnl::http_response_text(response, {true, false, 1}).find("Connection: close\r\n") != std::string::npos);
  CHECK(tnl::http_response_text(response, {false, true, 0}).find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(tnl::http_reason_phrase(421) == "Misdirected Request");
  CHECK(tnl::http_reason_phrase(415) == "Unsupported Media Type");
  CHECK(tnl::http_reason_phrase(799) == "Unknown");
}

}  // namespace TNL_UNITY_ID
