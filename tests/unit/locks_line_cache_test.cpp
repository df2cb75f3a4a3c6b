#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "locks_line_cache.hpp"

using tnl::LockTable;
using tnl::LocksLineCache;
using namespace std::chrono_literals;

namespace {

const LockTable::TimePoint t0{};
const auto wall = std::chrono::system_clock::time_point{} + 1'700'000'000'000ms;

LockTable::Request request(const std::string& name, LockTable::OwnerId owner, LockTable::Kind kind) {
  return {name, owner, "c", "127.0.0.1:1", "", 1, std::nullopt, tnl::LockId{0x4000, 0x8000000000000000ULL | owner},
          kind, kind == LockTable::Kind::detached ? std::optional(60s) : std::nullopt};
}

nlohmann::json parse(const std::string& line) {
  REQUIRE(line.rfind("locks,", 0) == 0);
  REQUIRE(line.back() == '\n');
  return nlohmann::json::parse(line.substr(6, line.size() - 7));
}

}  // namespace

TEST_CASE(".locks lines are shared until the table changes", "[locks-cache]") {
  LockTable table;
  LocksLineCache cache;
  table.acquire(request("a", 1, LockTable::Kind::connection), t0, [](auto, auto) {});
  const auto first = cache.line(table, std::nullopt, true, {t0 + 1s, wall});
  const auto again = cache.line(table, std::nullopt, true, {t0 + 1500ms, wall});
  CHECK(first == again);  // the same line, not a copy
  CHECK(parse(*first)["locks"].size() == 1);

  table.acquire(request("b", 2, LockTable::Kind::detached), t0 + 1500ms, [](auto, auto) {});
  const auto changed = cache.line(table, std::nullopt, true, {t0 + 1600ms, wall});
  CHECK(changed != first);
  CHECK(parse(*changed)["locks"].size() == 2);
  CHECK(parse(*first)["locks"].size() == 1);  // a reader still writing the old line keeps it whole
  CHECK(cache.line(table, std::nullopt, true, {t0 + 1700ms, wall}) == changed);

  table.release("a", 1, t0 + 2s);
  CHECK(parse(*cache.line(table, std::nullopt, true, {t0 + 2s, wall}))["locks"].size() == 1);
}

TEST_CASE(".locks lines are rebuilt once held_seconds would be a second stale", "[locks-cache]") {
  LockTable table;
  LocksLineCache cache;
  table.acquire(request("a", 1, LockTable::Kind::connection), t0, [](auto, auto) {});
  const auto first = cache.line(table, std::nullopt, true, {t0 + 10s, wall});
  CHECK(parse(*first)["locks"][0]["holders"][0]["held_seconds"] == 10.0);
  CHECK(cache.line(table, std::nullopt, true, {t0 + 10s + 999ms, wall}) == first);
  const auto later = cache.line(table, std::nullopt, true, {t0 + 11s, wall});
  CHECK(later != first);
  CHECK(parse(*later)["locks"][0]["holders"][0]["held_seconds"] == 11.0);
}

TEST_CASE(".locks lines without ids leave every holder's id out", "[locks-cache]") {
  LockTable table;
  LocksLineCache cache;
  table.acquire(request("a", 1, LockTable::Kind::connection), t0, [](auto, auto) {});
  table.acquire(request("d", 2, LockTable::Kind::detached), t0, [](auto, auto) {});
  const auto with = cache.line(table, std::nullopt, true, {t0, wall});
  const auto without = cache.line(table, std::nullopt, false, {t0, wall});
  CHECK(with != without);
  const auto shown = parse(*with)["locks"];
  CHECK(shown[1]["holders"][0]["id"] == tnl::LockId{0x4000, 0x8000000000000002ULL}.str());
  const auto hidden = parse(*without);
  for (const auto& lock : hidden["locks"]) {
    for (const auto& holder : lock["holders"]) {
      CHECK_FALSE(holder.contains("id"));
      CHECK(holder.contains("token"));
      CHECK(holder.contains("client_id"));
    }
  }
  CHECK(without->find(tnl::LockId{0x4000, 0x8000000000000002ULL}.str()) == std::string::npos);
  CHECK(without->find(tnl::LockId{0x4000, 0x8000000000000001ULL}.str()) == std::string::npos);
  // Both variants are cached side by side.
  CHECK(cache.line(table, std::nullopt, false, {t0, wall}) == without);
  CHECK(cache.line(table, std::nullopt, true, {t0, wall}) == with);
}

TEST_CASE(".locks,name: lines are built for the one name, with or without ids", "[locks-cache]") {
  LockTable table;
  LocksLineCache cache;
  table.acquire(request("a", 1, LockTable::Kind::connection), t0, [](auto, auto) {});
  table.acquire(request("b", 2, LockTable::Kind::detached), t0, [](auto, auto) {});
  const auto only_b = parse(*cache.line(table, std::string("b"), false, {t0, wall}))["locks"];
  REQUIRE(only_b.size() == 1);
  CHECK(only_b[0]["name"] == "b");
  CHECK_FALSE(only_b[0]["holders"][0].contains("id"));
  CHECK(parse(*cache.line(table, std::string("nobody"), true, {t0, wall}))["locks"].empty());
}

TEST_CASE(".locks,name: lines of a name in use are shared too, until the table changes", "[locks-cache]") {
  LockTable table;
  LocksLineCache cache;
  for (LockTable::OwnerId owner = 1; owner <= 3; ++owner) {
    auto semaphore = request("s", owner, LockTable::Kind::connection);
    semaphore.limit = 3;
    table.acquire(semaphore, t0, [](auto, auto) {});
  }
  const auto first = cache.line(table, std::string("s"), true, {t0, wall});
  CHECK(cache.line(table, std::string("s"), true, {t0 + 10ms, wall}) == first);  // one copy for every reader
  CHECK(cache.line(table, std::string("s"), false, {t0 + 10ms, wall}) != first);
  CHECK(parse(*first)["locks"][0]["holders"].size() == 3);
  // A name nobody uses is answered, but not kept: a reader asking for many such names
  // cannot make the cache grow.
  const auto nobody = cache.line(table, std::string("nobody"), true, {t0, wall});
  CHECK(cache.line(table, std::string("nobody"), true, {t0, wall}) != nobody);
  CHECK(*cache.line(table, std::string("nobody"), true, {t0, wall}) == *nobody);

  table.release("s", 1, t0 + 20ms);
  const auto changed = cache.line(table, std::string("s"), true, {t0 + 20ms, wall});
  CHECK(changed != first);
  CHECK(parse(*changed)["locks"][0]["holders"].size() == 2);
}

TEST_CASE(".locks lines: while readers keep older lines unread past the budget, changes wait for max_age",
          "[locks-cache]") {
  // 300 readers that never read, each asking after a change, used to pin 300 versions of
  // the listing (160 MB for 2,000 locks) until the write timeout cut them.
  LockTable table;
  // Any older line a reader keeps is over this budget; no pacing (a build slowed down by a
  // busy machine must not make a change wait here).
  LocksLineCache cache(1, std::chrono::hours(1));
  table.acquire(request("a", 1, LockTable::Kind::connection), t0, [](auto, auto) {});
  auto first = cache.line(table, std::nullopt, true, {t0, wall});
  table.acquire(request("b", 2, LockTable::Kind::connection), t0 + 10ms, [](auto, auto) {});
  // Nothing older is kept by a reader yet: fresh.
  auto second = cache.line(table, std::nullopt, true, {t0 + 10ms, wall});
  CHECK(second != first);
  CHECK(parse(*second)["locks"].size() == 2);
  CHECK(cache.alive_bytes() == first->size() + second->size());
  // `first` is an older line a reader has not taken: the current one is reused...
  table.acquire(request("c", 3, LockTable::Kind::connection), t0 + 20ms, [](auto, auto) {});
  CHECK(cache.line(table, std::nullopt, true, {t0 + 20ms, wall}) == second);
  CHECK(cache.line(table, std::nullopt, true, {t0 + 10ms + 999ms, wall}) == second);
  // ... until it is max_age old.
  auto third = cache.line(table, std::nullopt, true, {t0 + 10ms + 1s, wall});
  CHECK(parse(*third)["locks"].size() == 3);
  // Once the readers let go of the older lines, changes are acted on at once again.
  first.reset();
  second.reset();
  CHECK(cache.alive_bytes() == third->size());
  table.release("c", 3, t0 + 1100ms);
  CHECK(parse(*cache.line(table, std::nullopt, true, {t0 + 1100ms, wall}))["locks"].size() == 2);
}

TEST_CASE(".locks lines that take long to build are rebuilt at most every ten build times", "[locks-cache]") {
  // A reader asking after each change of a large table used to cost a full build each:
  // listing 19,000 locks takes tens of milliseconds, and the event loop did little else.
  LockTable table;
  LocksLineCache cache;
  constexpr LockTable::OwnerId count = 5'000;  // a build of well over a millisecond
  for (LockTable::OwnerId owner = 1; owner <= count; ++owner) {
    table.acquire(request("lock-" + std::to_string(owner), owner, LockTable::Kind::connection), t0,
                  [](auto, auto) {});
  }
  const auto first = cache.line(table, std::nullopt, true, {t0 + 1s, wall});
  table.release("lock-1", 1, t0 + 1s);
  CHECK(cache.line(table, std::nullopt, true, {t0 + 1s + 1ms, wall}) == first);
  const auto later = cache.line(table, std::nullopt, true, {t0 + 2s, wall});
  CHECK(later != first);
  CHECK(parse(*later)["locks"].size() == count - 1);
}
