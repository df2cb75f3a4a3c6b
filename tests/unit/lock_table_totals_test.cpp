// What LockTable keeps for the totals a backend reports (LockTotals: `.stats`, /metrics):
// the oldest hold of each kind, which holds are fenced, the start grace left. The
// formatting of those totals is tested in metrics_text_test.cpp, from views.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "lock_table.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockTable;
using Kind = LockTable::Kind;
using namespace std::chrono_literals;

namespace {

tnl::LockId id_of(LockTable::OwnerId owner) { return tnl::LockId{0x1d00'0000'0000'8000ULL, (0x2ULL << 62) | owner}; }

LockTable::Request request(const std::string& name, LockTable::OwnerId owner, std::size_t limit = 1,
                           Kind kind = Kind::connection, bool fencing = false) {
  LockTable::Request r;
  r.name = name;
  r.owner = owner;
  r.client_id = "c" + std::to_string(owner);
  r.limit = limit;
  r.id = id_of(owner);
  r.kind = kind;
  r.shows_token = fencing;
  return r;
}

/// Takes `name` for `owner` at `now`; fails the test unless granted.
void take(LockTable& table, LockTable::Request r, LockTable::TimePoint now) {
  std::optional<LockTable::Outcome> outcome;
  table.acquire(std::move(r), now, [&](LockTable::Outcome o, LockTable::Token) { outcome = o; });
  REQUIRE(outcome == LockTable::Outcome::granted);
}

}  // namespace

TEST_CASE("the oldest hold of each kind is known without a scan until it is freed", "[metrics]") {
  LockTable table;
  const auto t0 = LockTable::Clock::now();
  CHECK_FALSE(table.oldest_hold_since(Kind::connection));
  CHECK_FALSE(table.oldest_hold_since(Kind::detached));
  take(table, request("a", 1), t0);
  take(table, request("s", 2, 2), t0 + 1s);
  take(table, request("s", 3, 2), t0 + 2s);
  take(table, request("d", 4, 1, Kind::detached), t0 + 3s);
  CHECK(table.oldest_hold_since(Kind::connection) == t0);
  CHECK(table.oldest_hold_since(Kind::detached) == t0 + 3s);
  CHECK_FALSE(table.oldest_hold_since(Kind::delay));

  // Freeing a younger hold changes nothing; freeing the oldest finds the next one.
  REQUIRE(table.release("s", 3, t0 + 4s));
  CHECK(table.oldest_hold_since(Kind::connection) == t0);
  REQUIRE(table.release("a", 1, t0 + 5s, 10s));  // leaves a lock-delay: not a hold
  CHECK(table.holder_count(Kind::delay) == 1);
  CHECK(table.oldest_hold_since(Kind::connection) == t0 + 1s);
  REQUIRE(table.release("s", 2, t0 + 6s));
  CHECK_FALSE(table.oldest_hold_since(Kind::connection));
  CHECK(table.oldest_hold_since(Kind::detached) == t0 + 3s);

  // A restored hold older than every other becomes the oldest.
  LockTable::Holder saved{tnl::LockId{1, 2}, 9, Kind::detached, "old", "", "", t0 - 100s, 1, std::nullopt};
  REQUIRE(table.restore("r", 1, saved));
  CHECK(table.oldest_hold_since(Kind::detached) == t0 - 100s);
}

TEST_CASE("a hold is fenced when its holder can know its token: fencing:1 or detached", "[metrics]") {
  LockTable table;
  const auto t0 = LockTable::Clock::now();
  take(table, request("plain", 1), t0);
  take(table, request("fenced", 2, 1, Kind::connection, true), t0);
  take(table, request("detached", 3, 1, Kind::detached), t0);
  LockTable::Holder saved{tnl::LockId{1, 2}, 9, Kind::detached, "old", "", "", t0, 1, std::nullopt};
  REQUIRE(table.restore("restored", 1, saved));
  CHECK_FALSE(table.holders("plain").at(0).fenced);
  CHECK(table.holders("fenced").at(0).fenced);
  CHECK(table.holders("detached").at(0).fenced);
  CHECK(table.holders("restored").at(0).fenced);
}

TEST_CASE("the start grace left is counted down, and 0 once it has ended", "[metrics][grace]") {
  LockTable idle;
  CHECK(idle.grants_held_seconds(LockTable::Clock::now()) == 0.0);
  LockTable starting;
  starting.hold_grants_until(LockTable::Clock::now() + 30s);
  const double left = starting.grants_held_seconds(LockTable::Clock::now());
  CHECK(left > 25);
  CHECK(left <= 30);
  LockTable over;  // a grace that has ended shows 0, before expire() has even run
  over.hold_grants_until(LockTable::Clock::now() - 1s);
  CHECK(over.grants_held_seconds(LockTable::Clock::now()) == 0.0);
}

}  // namespace TNL_UNITY_ID
