#include <catch2/catch.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "lock_view_json.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace std::chrono_literals;
using tnl::HoldKind;
using tnl::HoldRecord;
using tnl::NameRecord;

namespace {

using WallTime = std::chrono::system_clock::time_point;

/// A holder (or waiter, or delay) record; `since` on the wall clock.
HoldRecord hold(std::uint64_t owner, HoldKind kind, WallTime since, std::string client_id = "", std::string peer = "",
                std::string reason = "") {
  HoldRecord record;
  record.id = tnl::LockId{0, owner};
  record.kind = kind;
  record.client_id = std::move(client_id);
  record.peer = std::move(peer);
  record.reason = std::move(reason);
  record.since = since;
  record.token = owner;
  record.fenced = kind != HoldKind::connection;
  return record;
}

/// A view of `names` read at `as_of`.
tnl::LockView view_of(std::vector<NameRecord> names, WallTime as_of = std::chrono::system_clock::now()) {
  tnl::LockView view;
  view.as_of = as_of;
  view.names = std::make_shared<const std::vector<NameRecord>>(std::move(names));
  return view;
}

}  // namespace

TEST_CASE(".locks JSON lists names, holders and waiters", "[locks-json]") {
  const auto wall_now = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50) + 90s;
  NameRecord db{"db", 1, {hold(1, HoldKind::connection, wall_now - 90s, "ci-7", "127.0.0.1:5000", "migrate")}, {}, {}};
  auto waiter = hold(2, HoldKind::connection, wall_now - 90s, "", "[::1]:6000");
  waiter.token = 0;
  db.waiters.push_back(waiter);
  const auto json = nlohmann::json::parse(tnl::locks_to_json(view_of({db}, wall_now)));
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
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  auto detached = hold(1, HoldKind::detached, wall_now - 10s, "ci");
  detached.id = tnl::LockId::parse("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21").value();
  detached.expires = wall_now + 50s;
  const auto json = nlohmann::json::parse(tnl::locks_to_json(view_of({NameRecord{"db", 1, {detached}, {}, {}}}, wall_now)));
  const auto& holder = json.at("locks")[0].at("holders")[0];
  CHECK(holder.at("id") == "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");
  CHECK(holder.at("kind") == "detached");
  CHECK(holder.at("expires") == tnl::format_rfc3339(wall_now + 50s));
}

TEST_CASE(".locks JSON times are exact for holders within one second and across seconds", "[locks-json]") {
  // The date and time of day are formatted once per second and reused: each holder must
  // still get its own milliseconds, and a new second its own text.
  const std::vector<std::chrono::milliseconds> taken{0ms, 7ms, 999ms, 1000ms, 1001ms, 61'000ms, 61'050ms};
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;  // 2023-11-14T22:13:20Z
  const auto start = wall_now - 100s;
  std::vector<NameRecord> names;
  for (std::size_t i = 0; i < taken.size(); ++i) {
    auto holder = hold(i + 1, HoldKind::detached, start + taken[i]);
    holder.expires = start + taken[i] + 3600s;
    names.push_back(NameRecord{"n" + std::to_string(i), 1, {holder}, {}, {}});
  }
  const auto json = nlohmann::json::parse(tnl::locks_to_json(view_of(names, wall_now)));
  REQUIRE(json.at("locks").size() == taken.size());
  for (std::size_t i = 0; i < taken.size(); ++i) {
    const auto& holder = json.at("locks")[i].at("holders")[0];
    const auto since = start + taken[i];
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
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  auto detached = hold(1, HoldKind::detached, wall_now - 2s, "ci-1", "", "v2");
  detached.id = tnl::LockId::parse("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21").value();
  auto waiter = hold(2, HoldKind::connection, wall_now - 1s, "ci-2", "10.0.0.7:4");
  waiter.token = 0;
  const NameRecord deploy{"deploy", 1, {detached}, {}, {waiter}};
  const auto record = tnl::lock_record(deploy, deploy.holders.at(0), wall_now);
  std::vector<std::string> keys;
  for (const auto& item : record.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"id", "service", "who", "createdAt", "kind", "token", "fenced", "reason", "peer",
                                         "expiresAt", "heldSeconds", "limit", "waiters"});
  CHECK(record.at("id") == "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");
  CHECK(record.at("service") == "deploy");
  CHECK(record.at("createdAt") == tnl::format_rfc3339(wall_now - 2s));
  CHECK(record.at("heldSeconds").get<double>() == Approx(2.0));
  CHECK(record.at("expiresAt").is_null());
  REQUIRE(record.at("waiters").size() == 1);
  CHECK(record.at("waiters")[0].at("who") == "ci-2");
  CHECK(record.at("waiters")[0].at("waitingSince") == tnl::format_rfc3339(wall_now - 1s));
  CHECK_FALSE(tnl::lock_record(deploy, deploy.holders.at(0), wall_now, false).contains("id"));
}

TEST_CASE("RFC 3339 timestamps are UTC with milliseconds", "[locks-json]") {
  const auto time = std::chrono::system_clock::time_point{} + 1'700'000'000'123ms;
  CHECK(tnl::format_rfc3339(time) == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("a reason that is not UTF-8 still gives valid JSON", "[locks-json]") {
  const auto now = std::chrono::system_clock::now();
  const NameRecord x{"x", 1, {hold(1, HoldKind::connection, now, "", "", "caf\xe9")}, {}, {}};
  const auto text = tnl::locks_to_json(view_of({x}, now));
  CHECK_NOTHROW(nlohmann::json::parse(text));
  CHECK_NOTHROW(nlohmann::json::parse(tnl::dump_json(tnl::lock_record(x, x.holders.at(0), now))));
}

TEST_CASE("quotes, backslashes and control bytes in a holder's text are escaped", "[locks-json]") {
  const auto now = std::chrono::system_clock::now();
  const std::string who = "a \"quoted\" \\ who\t";
  const NameRecord x{"x", 1, {hold(1, HoldKind::connection, now, who, "[::1]:5", "r\"")}, {}, {}};
  const NameRecord y{"y", 1, {hold(2, HoldKind::connection, now)}, {}, {}};
  const auto all = nlohmann::json::parse(tnl::locks_to_json(view_of({x, y}, now)));
  REQUIRE(all.at("locks").size() == 2);
  CHECK(all.at("locks")[0].at("holders")[0].at("client_id") == who);
  CHECK(all.at("locks")[0].at("holders")[0].at("reason") == "r\"");
  // A view of one name (LockQuery::name) lists that name; of a name not in use, nothing.
  const auto only_y = nlohmann::json::parse(tnl::locks_to_json(view_of({y}, now), "locks,").substr(6));
  REQUIRE(only_y.at("locks").size() == 1);
  CHECK(only_y.at("locks")[0].at("name") == "y");
  CHECK(nlohmann::json::parse(tnl::locks_to_json(view_of({}, now))) == nlohmann::json::parse(R"({"locks":[]})"));
  // A view of the totals only (no listing) lists nothing either.
  CHECK(tnl::locks_to_json(tnl::LockView{}, "locks,", true, "\n") == "locks,{\"locks\":[]}\n");
}

TEST_CASE(".locks JSON lists a lock-delay after the holders, as a holder of kind delay", "[locks-json][lock_delay]") {
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  const auto t0 = wall_now - 12s;
  // ci-1 and ci-2 held a semaphore of 2 from t0; ci-1's hold was taken away at t0 + 10s,
  // leaving 15 s of lock-delay; ci-3 waits.
  auto delay = hold(1, HoldKind::delay, t0 + 10s, "ci-1", "10.0.0.1:1", "build");
  delay.expires = t0 + 25s;
  auto waiter = hold(3, HoldKind::connection, t0, "ci-3", "10.0.0.3:3");
  waiter.token = 0;
  const NameRecord sem{"sem", 2, {hold(2, HoldKind::connection, t0, "ci-2", "10.0.0.2:2")}, {delay}, {waiter}};
  const auto json = nlohmann::json::parse(tnl::locks_to_json(view_of({sem}, wall_now)));
  const auto& lock = json.at("locks").at(0);
  CHECK(lock.at("waiters") == 1);
  const auto& holders = lock.at("holders");
  REQUIRE(holders.size() == 2);
  CHECK(holders[0].at("kind") == "connection");
  CHECK(holders[0].at("client_id") == "ci-2");
  const auto& listed = holders[1];
  CHECK(listed.at("kind") == "delay");
  CHECK(listed.at("client_id") == "ci-1");
  CHECK(listed.at("peer") == "10.0.0.1:1");
  CHECK(listed.at("reason") == "build");
  CHECK(listed.at("token") == 1);                                   // the revoked holder's token
  CHECK(listed.at("since") == tnl::format_rfc3339(wall_now - 2s));  // when the delay began
  CHECK(listed.at("held_seconds").get<double>() == Approx(2.0));
  CHECK(listed.at("expires") == tnl::format_rfc3339(wall_now + 13s));  // when it ends

  const auto record = tnl::lock_record(sem, sem.delays.at(0), wall_now);
  CHECK(record.at("kind") == "delay");
  CHECK(record.at("expiresAt") == tnl::format_rfc3339(wall_now + 13s));
}

TEST_CASE("a token the backend does not call durable is null in .locks and the HTTP record", "[locks-json][fencing]") {
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  auto durable = hold(1, HoldKind::connection, wall_now);
  auto not_durable = hold(2, HoldKind::connection, wall_now);
  not_durable.token_durable = false;
  const NameRecord n1{"n1", 1, {durable}, {}, {}};
  const NameRecord n2{"n2", 1, {not_durable}, {}, {}};
  for (const bool show_ids : {true, false}) {
    const auto json = nlohmann::json::parse(tnl::locks_to_json(view_of({n1, n2}, wall_now), {}, show_ids));
    CHECK(json.at("locks").at(0).at("holders").at(0).at("token") == 1);
    CHECK(json.at("locks").at(1).at("holders").at(0).at("token").is_null());
  }
  CHECK(tnl::lock_record(n2, n2.holders.at(0), wall_now).at("token").is_null());
  CHECK(tnl::lock_record(n1, n1.holders.at(0), wall_now).at("token") == 1);
}

TEST_CASE(".locks JSON is byte for byte what it was", "[locks-json]") {
  // The wire format: field order, number formats, null tokens and expiries, no spaces.
  const auto wall_now = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;
  auto holder = hold(1, HoldKind::connection, wall_now - 1500ms, "c", "127.0.0.1:9", "r");
  holder.id = tnl::LockId::parse("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21").value();
  holder.token = 7;
  auto detached = hold(2, HoldKind::detached, wall_now - 2s, "d");
  detached.id = tnl::LockId::parse("1f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21").value();
  detached.token_durable = false;
  detached.expires = wall_now + 58s;
  const NameRecord a{"a", 2, {holder, detached}, {}, {}};
  CHECK(tnl::locks_to_json(view_of({a}, wall_now), "locks,", true, "\n") ==
        "locks,{\"locks\":[{\"name\":\"a\",\"limit\":2,\"holders\":["
        "{\"id\":\"0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21\",\"kind\":\"connection\",\"client_id\":\"c\","
        "\"peer\":\"127.0.0.1:9\",\"since\":\"2023-11-14T22:13:18.500Z\",\"held_seconds\":1.5,\"token\":7,"
        "\"fenced\":false,\"reason\":\"r\",\"expires\":null},"
        "{\"id\":\"1f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21\",\"kind\":\"detached\",\"client_id\":\"d\","
        "\"peer\":\"\",\"since\":\"2023-11-14T22:13:18.000Z\",\"held_seconds\":2,\"token\":null,"
        "\"fenced\":true,\"reason\":\"\",\"expires\":\"2023-11-14T22:14:18.000Z\"}"
        "],\"waiters\":0}]}\n");
}

}  // namespace TNL_UNITY_ID
