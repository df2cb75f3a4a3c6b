// The HTTP admin API's listing end to end (docs/HTTP-API.md): GET /locks/list, its fields,
// filter and paging.
#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "http_port.hpp"
#include "server_http_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

TEST_CASE("http: GET /locks/list answers locks, total, page and perPage", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json empty = list(http, "?per_page=10&page=1");
  CHECK(empty == json{{"locks", json::array()}, {"total", 0}, {"page", 1}, {"perPage", 10}});

  const json a = create(http, "svc-a", "alice");
  const json b = create(http, "svc-b", "bob");
  const json page = list(http, "?per_page=10&page=1");
  CHECK(page["total"] == 2);
  CHECK(page["page"] == 1);
  CHECK(page["perPage"] == 10);
  REQUIRE(page["locks"].size() == 2);
  CHECK(page["locks"][0]["id"] == a["id"]);
  CHECK(page["locks"][0]["service"] == "svc-a");
  CHECK(page["locks"][1]["id"] == b["id"]);
  CHECK(page["locks"][1]["who"] == "bob");

  // Defaults: page 1, 100 per page.
  const json defaults = list(http);
  CHECK(defaults["page"] == 1);
  CHECK(defaults["perPage"] == 100);
  CHECK(defaults["total"] == 2);
  // service= keeps one name.
  const json only = list(http, "?service=svc-b");
  CHECK(only["total"] == 1);
  REQUIRE(only["locks"].size() == 1);
  CHECK(only["locks"][0]["id"] == b["id"]);
  CHECK(list(http, "?service=nobody")["total"] == 0);
}

TEST_CASE("http: list pages through 25 locks in service order, without duplicates", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  std::set<std::string> created;
  for (int i = 0; i < 25; ++i) {
    const int n = (i * 7) % 25;  // created out of order
    const std::string name = std::string("page-") + (n < 10 ? "0" : "") + std::to_string(n);
    created.insert(create(http, name, "w" + std::to_string(n))["id"].get<std::string>());
  }
  REQUIRE(created.size() == 25);
  std::vector<std::string> services;
  std::set<std::string> seen;
  const std::size_t sizes[] = {10, 10, 5};
  for (int p = 1; p <= 3; ++p) {
    const json page = list(http, "?per_page=10&page=" + std::to_string(p));
    INFO("page " << p);
    CHECK(page["total"] == 25);
    CHECK(page["page"] == p);
    CHECK(page["perPage"] == 10);
    REQUIRE(page["locks"].size() == sizes[p - 1]);
    for (const auto& record : page["locks"]) {
      CHECK(seen.insert(record["id"].get<std::string>()).second);
      services.push_back(record["service"].get<std::string>());
    }
  }
  CHECK(seen == created);
  CHECK(std::is_sorted(services.begin(), services.end()));
  CHECK(services.front() == "page-00");
  CHECK(services.back() == "page-24");
  const json past = list(http, "?per_page=10&page=4");
  CHECK(past["locks"] == json::array());
  CHECK(past["total"] == 25);
  CHECK(past["page"] == 4);
}

TEST_CASE("http: list refuses bad paging with 400", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string query : {"?per_page=0", "?per_page=1001", "?per_page=-1", "?per_page=ten", "?page=0",
                                  "?page=x", "?page=1.5", "?service=bad%20name"}) {
    INFO(query);
    const HttpReply reply = http.get(api + "/locks/list" + query);
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http, "?per_page=1000")["perPage"] == 1000);
}

}  // namespace TNL_UNITY_ID
