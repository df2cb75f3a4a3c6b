#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "lock_table_json.hpp"

using namespace std::chrono_literals;

TEST_CASE(".locks JSON lists names, holders and waiters", "[locks-json]") {
  tnl::LockTable table;
  const tnl::LockTable::TimePoint t0{};
  table.acquire({"db", 1, "ci-7", "127.0.0.1:5000", "migrate", 1, std::nullopt}, t0, [](auto, auto) {});
  table.acquire({"db", 2, "", "[::1]:6000", "", 1, t0 + 60s}, t0, [](auto, auto) {});

  const auto wall_now = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50) + 90s;
  const auto json = nlohmann::json::parse(tnl::locks_to_json(table.snapshot(), t0 + 90s, wall_now));
  REQUIRE(json.at("locks").size() == 1);
  const auto& lock = json.at("locks")[0];
  CHECK(lock.at("name") == "db");
  CHECK(lock.at("limit") == 1);
  CHECK(lock.at("waiters") == 1);
  REQUIRE(lock.at("holders").size() == 1);
  const auto& holder = lock.at("holders")[0];
  CHECK(holder.at("client_id") == "ci-7");
  CHECK(holder.at("peer") == "127.0.0.1:5000");
  CHECK(holder.at("reason") == "migrate");
  CHECK(holder.at("held_seconds").get<double>() == Approx(90.0));
  CHECK(holder.at("token").get<std::uint64_t>() > 0);
  CHECK(holder.at("since") == tnl::format_rfc3339(wall_now - 90s));
}

TEST_CASE("RFC 3339 timestamps are UTC with milliseconds", "[locks-json]") {
  const auto time = std::chrono::system_clock::time_point{} + 1'700'000'000'123ms;
  CHECK(tnl::format_rfc3339(time) == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("a reason that is not UTF-8 still gives valid JSON", "[locks-json]") {
  tnl::LockTable table;
  table.acquire({"x", 1, "", "", "caf\xe9", 1, std::nullopt}, {}, [](auto, auto) {});
  const auto text = tnl::locks_to_json(table.snapshot(), {}, std::chrono::system_clock::now());
  CHECK_NOTHROW(nlohmann::json::parse(text));
}
