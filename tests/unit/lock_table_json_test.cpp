#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "lock_table_json.hpp"

using namespace std::chrono_literals;

TEST_CASE(".locks JSON lists names, holders and waiters", "[locks-json]") {
  tnl::LockTable table;
  const tnl::LockTable::TimePoint t0{};
  table.acquire({"db", 1, "ci-7", "127.0.0.1:5000", "migrate", 1, std::nullopt, {0, 1}, tnl::LockTable::Kind::connection, std::nullopt}, t0, [](auto, auto) {});
  table.acquire({"db", 2, "", "[::1]:6000", "", 1, t0 + 60s, {0, 2}, tnl::LockTable::Kind::connection, std::nullopt}, t0, [](auto, auto) {});

  const auto wall_now = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50) + 90s;
  const auto json = nlohmann::json::parse(tnl::locks_to_json(table, std::nullopt, {t0 + 90s, wall_now}));
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
  CHECK(holder.at("kind") == "connection");
  CHECK(holder.at("expires").is_null());
}

TEST_CASE(".locks JSON shows a detached lock's id and expiry", "[locks-json]") {
  tnl::LockTable table;
  const tnl::LockTable::TimePoint t0{};
  const auto id = tnl::LockId::parse("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21").value();
  table.acquire({"db", 1, "ci", "", "", 1, std::nullopt, id, tnl::LockTable::Kind::detached, 60s}, t0,
                [](auto, auto) {});
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  const auto json = nlohmann::json::parse(tnl::locks_to_json(table, std::nullopt, {t0 + 10s, wall_now}));
  const auto& holder = json.at("locks")[0].at("holders")[0];
  CHECK(holder.at("id") == "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");
  CHECK(holder.at("kind") == "detached");
  CHECK(holder.at("expires") == tnl::format_rfc3339(wall_now + 50s));
}

TEST_CASE(".locks JSON times are exact for holders within one second and across seconds", "[locks-json]") {
  // The date and time of day are formatted once per second and reused: each holder must
  // still get its own milliseconds, and a new second its own text.
  tnl::LockTable table;
  const tnl::LockTable::TimePoint t0{};
  const std::vector<std::chrono::milliseconds> taken{0ms, 7ms, 999ms, 1000ms, 1001ms, 61'000ms, 61'050ms};
  for (std::size_t i = 0; i < taken.size(); ++i) {
    table.acquire({"n" + std::to_string(i), i + 1, "", "", "", 1, std::nullopt, {0, i + 1},
                   tnl::LockTable::Kind::detached, 3600s},
                  t0 + taken[i], [](auto, auto) {});
  }
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;  // 2023-11-14T22:13:20Z
  const tnl::LockTable::TimePoint steady_now = t0 + 100s;
  const auto json = nlohmann::json::parse(tnl::locks_to_json(table, std::nullopt, {steady_now, wall_now}));
  REQUIRE(json.at("locks").size() == taken.size());
  for (std::size_t i = 0; i < taken.size(); ++i) {
    const auto& holder = json.at("locks")[i].at("holders")[0];
    const auto since = wall_now - (steady_now - (t0 + taken[i]));
    INFO(i);
    CHECK(holder.at("since") == tnl::format_rfc3339(since));
    CHECK(holder.at("expires") == tnl::format_rfc3339(since + 3600s));
  }
  CHECK(json.at("locks")[0].at("holders")[0].at("since") == "2023-11-14T22:11:40.000Z");
  CHECK(json.at("locks")[2].at("holders")[0].at("since") == "2023-11-14T22:11:40.999Z");
  CHECK(json.at("locks")[3].at("holders")[0].at("since") == "2023-11-14T22:11:41.000Z");
  CHECK(json.at("locks")[6].at("holders")[0].at("since") == "2023-11-14T22:12:41.050Z");
}

TEST_CASE("an HTTP lock record has Tracker's fields first, then ours", "[locks-json]") {
  tnl::LockTable table;
  const tnl::LockTable::TimePoint t0{};
  const auto id = tnl::LockId::parse("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21").value();
  table.acquire({"deploy", 1, "ci-1", "", "v2", 1, std::nullopt, id, tnl::LockTable::Kind::detached, std::nullopt}, t0,
                [](auto, auto) {});
  table.acquire({"deploy", 2, "ci-2", "10.0.0.7:4", "", 1, t0 + 60s, {0, 2}, tnl::LockTable::Kind::connection, std::nullopt}, t0 + 1s, [](auto, auto) {});
  const auto state = table.snapshot("deploy").at(0);
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  const auto record = tnl::lock_record(state.name, state.limit, state.holders.at(0), state.waiters, {t0 + 2s, wall_now});
  std::vector<std::string> keys;
  for (const auto& item : record.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"id", "service", "who", "createdAt", "kind", "token", "fenced", "reason", "peer",
                                         "expiresAt", "heldSeconds", "limit", "waiters"});
  CHECK(record.at("service") == "deploy");
  CHECK(record.at("createdAt") == tnl::format_rfc3339(wall_now - 2s));
  CHECK(record.at("expiresAt").is_null());
  REQUIRE(record.at("waiters").size() == 1);
  CHECK(record.at("waiters")[0].at("who") == "ci-2");
  CHECK(record.at("waiters")[0].at("waitingSince") == tnl::format_rfc3339(wall_now - 1s));
}

TEST_CASE("RFC 3339 timestamps are UTC with milliseconds", "[locks-json]") {
  const auto time = std::chrono::system_clock::time_point{} + 1'700'000'000'123ms;
  CHECK(tnl::format_rfc3339(time) == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("a reason that is not UTF-8 still gives valid JSON", "[locks-json]") {
  tnl::LockTable table;
  table.acquire({"x", 1, "", "", "caf\xe9", 1, std::nullopt, {0, 1}, tnl::LockTable::Kind::connection, std::nullopt}, {}, [](auto, auto) {});
  const auto text = tnl::locks_to_json(table, std::nullopt, tnl::ClockReadings{});
  CHECK_NOTHROW(nlohmann::json::parse(text));
}

TEST_CASE("quotes, backslashes and control bytes in a holder's text are escaped", "[locks-json]") {
  tnl::LockTable table;
  const std::string who = "a \"quoted\" \\ who\t";
  table.acquire({"x", 1, who, "[::1]:5", "r\"", 1, std::nullopt, {0, 1}, tnl::LockTable::Kind::connection, std::nullopt},
                {}, [](auto, auto) {});
  table.acquire({"y", 2, "", "", "", 1, std::nullopt, {0, 2}, tnl::LockTable::Kind::connection, std::nullopt}, {},
                [](auto, auto) {});
  const auto all = nlohmann::json::parse(tnl::locks_to_json(table, std::nullopt, tnl::ClockReadings{}));
  REQUIRE(all.at("locks").size() == 2);
  CHECK(all.at("locks")[0].at("holders")[0].at("client_id") == who);
  CHECK(all.at("locks")[0].at("holders")[0].at("reason") == "r\"");
  const auto only_y = nlohmann::json::parse(tnl::locks_to_json(table, std::string("y"), tnl::ClockReadings{}, "locks,").substr(6));
  REQUIRE(only_y.at("locks").size() == 1);
  CHECK(only_y.at("locks")[0].at("name") == "y");
  CHECK(nlohmann::json::parse(tnl::locks_to_json(table, std::string("z"), tnl::ClockReadings{})) ==
        nlohmann::json::parse(R"({"locks":[]})"));
}

TEST_CASE(".locks JSON lists a lock-delay after the holders, as a holder of kind delay", "[locks-json][lock_delay]") {
  tnl::LockTable table;
  const tnl::LockTable::TimePoint t0{};
  table.acquire({"sem", 1, "ci-1", "10.0.0.1:1", "build", 2, std::nullopt, {0, 1}, tnl::LockTable::Kind::connection,
                 std::nullopt},
                t0, [](auto, auto) {});
  table.acquire({"sem", 2, "ci-2", "10.0.0.2:2", "", 2, std::nullopt, {0, 2}, tnl::LockTable::Kind::connection,
                 std::nullopt},
                t0, [](auto, auto) {});
  table.acquire({"sem", 3, "ci-3", "10.0.0.3:3", "", 2, t0 + 60s, {0, 3}, tnl::LockTable::Kind::connection,
                 std::nullopt},
                t0, [](auto, auto) {});
  const auto revoked_token = table.holders("sem").at(0).token;
  table.release("sem", 1, t0 + 10s, 15s);  // taken from ci-1: 15 s of lock-delay
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  const tnl::ClockReadings clocks{t0 + 12s, wall_now};
  const auto json = nlohmann::json::parse(tnl::locks_to_json(table, std::nullopt, clocks));
  const auto& lock = json.at("locks").at(0);
  CHECK(lock.at("waiters") == 1);
  const auto& holders = lock.at("holders");
  REQUIRE(holders.size() == 2);
  CHECK(holders[0].at("kind") == "connection");
  CHECK(holders[0].at("client_id") == "ci-2");
  const auto& delay = holders[1];
  CHECK(delay.at("kind") == "delay");
  CHECK(delay.at("client_id") == "ci-1");
  CHECK(delay.at("peer") == "10.0.0.1:1");
  CHECK(delay.at("reason") == "build");
  CHECK(delay.at("token") == revoked_token);
  CHECK(delay.at("since") == tnl::format_rfc3339(wall_now - 2s));  // when the delay began
  CHECK(delay.at("held_seconds").get<double>() == Approx(2.0));
  CHECK(delay.at("expires") == tnl::format_rfc3339(wall_now + 13s));  // when it ends

  const auto record = tnl::lock_record("sem", 2, table.delays("sem").at(0), {}, clocks);
  CHECK(record.at("kind") == "delay");
  CHECK(record.at("expiresAt") == tnl::format_rfc3339(wall_now + 13s));
}

TEST_CASE("a token the table does not call durable is null in .locks and the HTTP record", "[locks-json][fencing]") {
  tnl::LockTable::Token last = 0;
  tnl::LockTable table(tnl::LockTable::TokenSource{[&] { return ++last; },
                                                   [](tnl::LockTable::Token token) { return token <= 1; }, {}});
  const tnl::LockTable::TimePoint t0{};
  for (std::uint64_t owner : {1, 2}) {
    table.acquire({"n" + std::to_string(owner), owner, "", "", "", 1, std::nullopt, {0, owner},
                   tnl::LockTable::Kind::connection, std::nullopt},
                  t0, [](auto, auto) {});
  }
  const tnl::ClockReadings clocks{t0, std::chrono::system_clock::time_point{} + 1'700'000'000'000ms};
  for (const bool show_ids : {true, false}) {
    const auto json = nlohmann::json::parse(tnl::locks_to_json(table, std::nullopt, clocks, {}, show_ids));
    CHECK(json.at("locks").at(0).at("holders").at(0).at("token") == 1);
    CHECK(json.at("locks").at(1).at("holders").at(0).at("token").is_null());
  }
  const auto& holder = table.holders("n2").at(0);
  CHECK(tnl::lock_record("n2", 1, holder, {}, clocks, true, table.token_durable(holder.token)).at("token").is_null());
  CHECK(tnl::lock_record("n2", 1, holder, {}, clocks).at("token") == 2);
}
