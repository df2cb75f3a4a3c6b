// What operators and Prometheus read over HTTP (docs/HTTP-API.md): the probes, server info,
// the status page and /metrics.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <utility>

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

// --- Probes, server info, status page, metrics ----------------------------------------

TEST_CASE("http: /healthz, /readyz and /api/v1alpha1/server", "[http][probes]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply health = http.get("/healthz");
  REQUIRE_STATUS(health, 200);
  CHECK(health.json() == json{{"status", "ok"}});
  const HttpReply ready = http.get("/readyz");
  REQUIRE_STATUS(ready, 200);
  CHECK(ready.json() == json{{"status", "ready"}});
  const HttpReply info = http.get(api + "/server");
  REQUIRE_STATUS(info, 200);
  const json body = info.json();
  CHECK(body["version"].is_string());
  CHECK(!body["version"].get<std::string>().empty());
  CHECK(body["authRequired"] == false);
  CHECK(is_rfc3339(body["startedAt"]));
  const HttpReply s = http.get(api + "/stats");
  REQUIRE_STATUS(s, 200);
  const json tcp_stats = stats(server.port());
  for (const auto& [key, value] : tcp_stats.items()) {
    INFO(key);
    CHECK(s.json().contains(key));
  }
}

TEST_CASE("http: / serves the self-contained status page", "[http][page]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply page = http.get("/");
  REQUIRE_STATUS(page, 200);
  CHECK(page.header("content-type").value_or("").rfind("text/html", 0) == 0);
  CHECK(contains(page.body, "<table"));
  const auto csp = page.header("content-security-policy");
  REQUIRE(csp);
  CHECK(contains(*csp, "default-src 'none'"));
  // No external assets: no absolute http(s) URL anywhere, and no protocol-relative src/href.
  const std::regex external{R"((https?:)?//[a-zA-Z0-9.-]+\.[a-zA-Z]{2,})"};
  std::smatch found;
  INFO("first external URL: " << (std::regex_search(page.body, found, external) ? found.str() : std::string("none")));
  CHECK(!contains(page.body, "http://"));
  CHECK(!contains(page.body, "https://"));
  CHECK(!std::regex_search(page.body, external));
}

TEST_CASE("http: /metrics is Prometheus text with every documented family", "[http][metrics]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply reply = http.get("/metrics");
  REQUIRE_STATUS(reply, 200);
  CHECK(reply.header("content-type").value_or("").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = reply.body;
  const std::pair<const char*, const char*> families[] = {
      {"tcpnetlock_connections", "gauge"},
      {"tcpnetlock_locks_held", "gauge"},
      {"tcpnetlock_holds", "gauge"},
      {"tcpnetlock_waiters", "gauge"},
      {"tcpnetlock_requests_total", "counter"},
      {"tcpnetlock_grants_total", "counter"},
      {"tcpnetlock_denials_total", "counter"},
      {"tcpnetlock_waits_total", "counter"},
      {"tcpnetlock_wait_timeouts_total", "counter"},
      {"tcpnetlock_reaped_holders_total", "counter"},
      {"tcpnetlock_forced_releases_total", "counter"},
      {"tcpnetlock_expired_locks_total", "counter"},
      {"tcpnetlock_refused_connections_total", "counter"},
      {"tcpnetlock_wait_seconds", "histogram"},
      {"tcpnetlock_hold_seconds", "histogram"},
      {"process_open_fds", "gauge"},
      {"process_max_fds", "gauge"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_start_time_seconds", "gauge"},
  };
  for (const auto& [name, type] : families) {
    INFO(name);
    CHECK(contains(text, std::string("# TYPE ") + name + " " + type + "\n"));
  }
  CHECK(sample(text, "tcpnetlock_connections"));
  CHECK(sample(text, "tcpnetlock_holds{kind=\"connection\"}") == 0.0);
  CHECK(sample(text, "tcpnetlock_holds{kind=\"detached\"}") == 0.0);
  for (const std::string histogram : {"tcpnetlock_wait_seconds", "tcpnetlock_hold_seconds"}) {
    INFO(histogram);
    CHECK(contains(text, histogram + "_bucket{le=\""));
    CHECK(sample(text, histogram + "_bucket{le=\"+Inf\"}") == 0.0);
    CHECK(sample(text, histogram + "_sum") == 0.0);
    CHECK(sample(text, histogram + "_count") == 0.0);
  }
  CHECK(sample(text, "process_open_fds").value_or(0) > 0);
  CHECK(sample(text, "process_resident_memory_bytes").value_or(0) > 0);
  CHECK(sample(text, "process_start_time_seconds").value_or(0) > 1.6e9);
}

TEST_CASE("http: metrics move with grants, releases, waits and detached locks", "[http][metrics]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const double grants = metric(http, "tcpnetlock_grants_total");
  const double holds = metric(http, "tcpnetlock_hold_seconds_count");
  const double requests = metric(http, "tcpnetlock_requests_total");

  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:m") == "ok");
  CHECK(metric(http, "tcpnetlock_grants_total") == grants + 1);
  CHECK(metric(http, "tcpnetlock_wait_seconds_count") == 1);
  CHECK(metric(http, "tcpnetlock_requests_total") == requests + 1);
  CHECK(metric(http, "tcpnetlock_holds{kind=\"connection\"}") == 1);
  CHECK(metric(http, "tcpnetlock_connections") == 1);
  CHECK(metric(http, "tcpnetlock_hold_seconds_count") == holds);

  LineClient waiter(server.port());
  waiter.send_line("lock,name:m,wait:30");
  REQUIRE(wait_until([&] { return waiters_of(http, "m") == 1; }));
  CHECK(metric(http, "tcpnetlock_waiters") == 1);
  CHECK(metric(http, "tcpnetlock_waits_total") == 1);

  CHECK(holder.request("release") == "released");
  CHECK(waiter.read_line(5s) == "ok");
  CHECK(metric(http, "tcpnetlock_hold_seconds_count") == holds + 1);
  CHECK(metric(http, "tcpnetlock_grants_total") == grants + 2);
  CHECK(metric(http, "tcpnetlock_waiters") == 0);
  waiter.close();

  LineClient busy(server.port());
  REQUIRE(busy.request("lock,name:busy") == "ok");
  LineClient timed_out(server.port());
  CHECK(timed_out.request("lock,name:busy,wait:0.1") == "not-granted");
  CHECK(metric(http, "tcpnetlock_wait_timeouts_total") == 1);
  CHECK(metric(http, "tcpnetlock_denials_total") == 1);

  const std::string id = create(http, "md", "ci")["id"];
  CHECK(metric(http, "tcpnetlock_holds{kind=\"detached\"}") == 1);
  REQUIRE_STATUS(http.get(api + "/unlock/" + id), 200);
  CHECK(metric(http, "tcpnetlock_holds{kind=\"detached\"}") == 0);
  CHECK(metric(http, "tcpnetlock_hold_seconds_count") >= holds + 2);
  // Cumulative buckets ending with +Inf == _count.
  const std::string text = metrics_text(http);
  for (const std::string histogram : {"tcpnetlock_wait_seconds", "tcpnetlock_hold_seconds"}) {
    INFO(histogram);
    std::istringstream lines(text);
    std::string line;
    double previous = 0;
    int buckets = 0;
    while (std::getline(lines, line)) {
      if (line.rfind(histogram + "_bucket{", 0) != 0) continue;
      const double value = std::stod(line.substr(line.rfind(' ') + 1));
      CHECK(value >= previous);
      previous = value;
      ++buckets;
    }
    CHECK(buckets > 2);
    CHECK(sample(text, histogram + "_bucket{le=\"+Inf\"}") == sample(text, histogram + "_count"));
  }
}

TEST_CASE("http: tcpnetlock_locks_held counts holders, as docs/HTTP-API.md says", "[http][metrics]") {
  // docs/HTTP-API.md, Metrics: a semaphore counts each holder; `.stats` lock_count counts names.
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient first(server.port());
  REQUIRE(first.request("lock,name:sem,limit:2") == "ok");
  LineClient second(server.port());
  REQUIRE(second.request("lock,name:sem,limit:2") == "ok");
  CHECK(stats(server.port())["lock_count"] == 1);
  CHECK(metric(http, "tcpnetlock_holds{kind=\"connection\"}") == 2);
}

}  // namespace TNL_UNITY_ID
