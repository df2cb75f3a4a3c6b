// The lock table under faults (issue 10): handoffs through very long queues whose grants
// are undone, shutdown, and finding holds by id without a scan.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lock_table.hpp"
#include "lock_table_test_support.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockId;
using tnl::LockTable;
using tnl::test::Answer;
using tnl::test::t0;
using Outcome = LockTable::Outcome;
using namespace std::chrono_literals;

namespace {

/// A connection hold's id for `owner`, as LocalLockBackend makes it (version 8, naming the owner: a slot).
LockId connection_id(LockTable::OwnerId owner, std::uint64_t random = 0x1d00'0000'0000'0000ULL) {
  return LockId{(random & ~0xf000ULL) | 0x8000ULL, (0x2ULL << 62) | owner};
}
/// A detached hold's id (random version 4 in real life; readable here).
LockId detached_id(LockTable::OwnerId owner) { return LockId{0xde00'0000'0000'4000ULL, (0x2ULL << 62) | owner}; }

LockTable::Request connection_request(const std::string& name, LockTable::OwnerId owner,
                                      std::optional<LockTable::TimePoint> deadline = std::nullopt) {
  LockTable::Request r;
  r.name = name;
  r.owner = owner;
  r.client_id = "c";
  r.peer = "p";
  r.deadline = deadline;
  r.id = connection_id(owner);
  r.kind = LockTable::Kind::connection;
  return r;
}

LockTable::Request detached_request(const std::string& name, LockTable::OwnerId owner,
                                    std::optional<LockTable::TimePoint> deadline = std::nullopt) {
  LockTable::Request r;
  r.name = name;
  r.owner = owner;
  r.client_id = "d";
  r.peer = "p";
  r.deadline = deadline;
  r.id = detached_id(owner);
  r.kind = LockTable::Kind::detached;
  r.ttl = 60s;
  return r;
}

/// Counts a request's completions and keeps the last outcome.
}  // namespace

TEST_CASE("a handoff through 100,000 waiters whose grants are each undone stays flat on the stack",
          "[lock_table][faults]") {
  // Issue 10, finding 1: every waiter's grant is undone by its own completion (as when it
  // cannot be saved), which hands the lock to the next waiter. Run nested, that was a few
  // stack frames per waiter, and the server died of a stack overflow at 6,000 of them.
  constexpr std::size_t count = 100'000;
  LockTable table;
  Answer holder;
  table.acquire(detached_request("z", 1), t0, holder.completion());
  REQUIRE(holder.outcome == Outcome::granted);

  std::vector<int> calls(count, 0);
  std::vector<Outcome> outcomes(count, Outcome::not_granted);
  int depth = 0;
  int deepest = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const LockTable::OwnerId owner = i + 2;
    table.acquire(detached_request("z", owner, LockTable::TimePoint::max()), t0,
                  [&, i, owner](Outcome outcome, LockTable::Token) {
                    ++depth;
                    deepest = std::max(deepest, depth);
                    ++calls[i];
                    outcomes[i] = outcome;
                    // All but the last give the lock straight back.
                    if (outcome == Outcome::granted && i + 1 < count) table.release(detached_id(owner), t0 + 1s);
                    --depth;
                  });
  }
  REQUIRE(table.waiting_count() == count);

  table.release(detached_id(1), t0 + 1s);
  CHECK(deepest == 1);  // no completion ever ran inside another
  std::size_t once = 0;
  std::size_t granted = 0;
  for (std::size_t i = 0; i < count; ++i) {
    once += calls[i] == 1;
    granted += outcomes[i] == Outcome::granted;
  }
  CHECK(once == count);
  CHECK(granted == count);
  // Consistent: the last waiter holds, nobody waits, the indexes agree.
  CHECK(table.waiting_count() == 0);
  REQUIRE(table.holders("z").size() == 1);
  CHECK(table.holders("z")[0].owner == count + 1);
  CHECK(table.holder_count(LockTable::Kind::detached) == 1);
  CHECK(table.find(detached_id(count + 1)));
  CHECK_FALSE(table.find(detached_id(2)));
  CHECK(table.next_deadline() == t0 + 1s + 60s);  // only the last holder's lease
}

TEST_CASE("a grant is answered before acquire returns, unless acquire is called from a completion",
          "[lock_table][faults]") {
  LockTable table;
  Answer first;
  table.acquire(connection_request("a", 1), t0, first.completion());
  CHECK(first.outcome == Outcome::granted);  // at once: HTTP relies on it

  // From inside a completion, a request's answer comes after that completion returns.
  Answer waiter, nested;
  bool nested_answered_inside = true;
  table.acquire(connection_request("a", 2, t0 + 10s), t0, [&](Outcome outcome, LockTable::Token) {
    waiter.outcome = outcome;
    table.acquire(connection_request("b", 3), t0, nested.completion());
    nested_answered_inside = nested.outcome.has_value();
  });
  table.release("a", 1, t0 + 1s);
  CHECK(waiter.outcome == Outcome::granted);
  CHECK_FALSE(nested_answered_inside);
  CHECK(nested.outcome == Outcome::granted);
  CHECK(nested.calls == 1);
}

TEST_CASE("after shut_down nothing is granted: waiters are withdrawn, releases hand nothing on",
          "[lock_table][faults][shutdown]") {
  LockTable table;
  std::vector<Answer> holders(3), waiters(6);
  for (LockTable::OwnerId i = 0; i < 3; ++i) {
    table.acquire(connection_request("n" + std::to_string(i), i + 1), t0, holders[i].completion());
  }
  for (LockTable::OwnerId i = 0; i < 6; ++i) {
    // Two waiters per name, of both kinds, one waiting forever.
    auto request = i % 2 ? detached_request("n" + std::to_string(i / 2), 10 + i, t0 + 60s)
                         : connection_request("n" + std::to_string(i / 2), 10 + i, LockTable::TimePoint::max());
    table.acquire(std::move(request), t0, waiters[i].completion());
  }
  REQUIRE(table.waiting_count() == 6);
  const auto before = table.version();

  // A waiter's completion that releases another name as it is told: still nothing granted.
  table.shut_down();
  CHECK(table.is_shut_down());
  CHECK(table.version() != before);
  for (const auto& waiter : waiters) {
    CHECK(waiter.calls == 1);
    CHECK(waiter.outcome == Outcome::unavailable);
  }
  CHECK(table.waiting_count() == 0);
  CHECK_FALSE(table.next_deadline());

  // Holders keep their locks until their connections close; then nobody gets them.
  CHECK(table.release("n0", 1, t0 + 1s));
  CHECK(table.holders("n0").empty());
  Answer late;
  table.acquire(connection_request("n0", 99), t0 + 2s, late.completion());
  CHECK(late.outcome == Outcome::unavailable);
  CHECK(table.holders("n0").empty());
  for (const auto& waiter : waiters) CHECK(waiter.calls == 1);
  CHECK(table.held_count() == 2);
}

TEST_CASE("a release inside a shut-down waiter's completion hands nothing on", "[lock_table][faults][shutdown]") {
  LockTable table;
  Answer a, b, waiter_b;
  table.acquire(connection_request("a", 1), t0, a.completion());
  table.acquire(connection_request("b", 2), t0, b.completion());
  table.acquire(connection_request("b", 3, t0 + 60s), t0, waiter_b.completion());
  // The first waiter told releases "b"'s holder as a side effect (a connection closing).
  Answer waiter_a;
  table.acquire(connection_request("a", 4, t0 + 60s), t0, [&](Outcome outcome, LockTable::Token) {
    waiter_a.outcome = outcome;
    table.release("b", 2, t0);
  });
  table.shut_down();
  CHECK(waiter_a.outcome == Outcome::unavailable);
  CHECK(waiter_b.outcome == Outcome::unavailable);
  CHECK(waiter_b.calls == 1);
  CHECK(table.holders("b").empty());
}

TEST_CASE("holds are found by id through the id index or the owner, never by a scan", "[lock_table][ids]") {
  LockTable table;
  std::map<LockTable::OwnerId, std::string> names;
  int lookups = 0;
  table.on_owner_name([&](LockTable::OwnerId owner) -> const std::string* {
    ++lookups;
    const auto it = names.find(owner);
    return it == names.end() ? nullptr : &it->second;
  });
  // Many holds of both kinds, and a semaphore.
  for (LockTable::OwnerId owner = 1; owner <= 1000; ++owner) {
    const std::string name = "n" + std::to_string(owner);
    table.acquire(owner % 2 ? connection_request(name, owner) : detached_request(name, owner), t0, [](auto, auto) {});
    if (owner % 2) names[owner] = name;
  }
  for (LockTable::OwnerId owner = 2001; owner <= 2003; ++owner) {
    auto request = connection_request("sem", owner);
    request.limit = 3;
    table.acquire(std::move(request), t0, [](auto, auto) {});
    names[owner] = "sem";
  }

  SECTION("a detached id: the index, no owner lookup") {
    const auto found = table.find(detached_id(500));
    REQUIRE(found);
    CHECK(found->name == "n500");
    CHECK(lookups == 0);
  }
  SECTION("an unknown random id: neither found nor looked up by owner") {
    CHECK_FALSE(table.find(LockId{0x0123'4567'89ab'4def, 0x8123'4567'89ab'cdef}));
    CHECK_FALSE(table.release(LockId{0x0123'4567'89ab'4def, 0x8123'4567'89ab'cdef}, t0));
    CHECK(lookups == 0);
    CHECK(table.holder_count(LockTable::Kind::connection) + table.holder_count(LockTable::Kind::detached) == 1003);
  }
  SECTION("a connection id: one owner lookup, then that name's holders") {
    const auto found = table.find(connection_id(2002));
    REQUIRE(found);
    CHECK(found->name == "sem");
    CHECK(found->holder.owner == 2002);
    CHECK(lookups == 1);
  }
  SECTION("a connection id with the right owner but other random bits is unknown") {
    CHECK_FALSE(table.find(connection_id(501, 0x7777'0000'0000'0000ULL)));
    CHECK(lookups == 1);
    CHECK_FALSE(table.release(connection_id(501, 0x7777'0000'0000'0000ULL), t0));
    CHECK(table.holders("n501").size() == 1);
  }
  SECTION("a connection id of an owner that holds nothing, or another name, is unknown") {
    CHECK_FALSE(table.find(connection_id(999'999)));
    names[3] = "n5";  // owner 3's connection now names another lock
    CHECK_FALSE(table.find(connection_id(3)));
    CHECK(lookups == 2);
  }
  SECTION("a connection hold released by id hands on, as by owner") {
    Answer waiter;
    table.acquire(connection_request("n7", 3000, t0 + 10s), t0, waiter.completion());
    const auto freed = table.release(connection_id(7), t0 + 1s);
    REQUIRE(freed);
    CHECK(freed->name == "n7");
    CHECK(waiter.outcome == Outcome::granted);
  }
}

TEST_CASE("every change of holders, waiters or leases moves the version, reads do not", "[lock_table][version]") {
  LockTable table;
  auto version = table.version();
  const auto changed = [&] {
    const bool moved = table.version() != version;
    version = table.version();
    return moved;
  };
  table.acquire(detached_request("a", 1), t0, [](auto, auto) {});
  CHECK(changed());
  table.acquire(connection_request("a", 2, t0 + 10s), t0, [](auto, auto) {});
  CHECK(changed());
  table.acquire(connection_request("a", 3), t0, [](auto, auto) {});  // refused: no change
  CHECK_FALSE(changed());
  CHECK(table.find(detached_id(1)));
  (void)table.snapshot();
  CHECK_FALSE(changed());
  CHECK(table.renew(detached_id(1), t0 + 100s));
  CHECK(changed());
  CHECK(table.cancel("a", 2));
  CHECK(changed());
  CHECK(table.release(detached_id(1), t0));
  CHECK(changed());
  LockTable::Holder saved{detached_id(9), 9, LockTable::Kind::detached, "", "", "", t0, 5, t0 + 1s};
  CHECK(table.restore("r", 1, saved));
  CHECK(changed());
  CHECK(table.expire(t0 + 1s).size() == 1);
  CHECK(changed());
}

TEST_CASE("restoring 100,000 saved holds is linear and leaves every one held", "[lock_table][restore]") {
  constexpr std::uint64_t count = 100'000;
  LockTable table;
  for (std::uint64_t i = 1; i <= count; ++i) {
    LockTable::Holder holder{detached_id(i), i, LockTable::Kind::detached, "", "", "", t0, i,
                             t0 + std::chrono::seconds(i)};
    REQUIRE(table.restore("n" + std::to_string(i), 1, std::move(holder)));
  }
  // One more of the same id, or on a full name, does not fit.
  CHECK_FALSE(table.restore("other", 1, {detached_id(5), 5, LockTable::Kind::detached, "", "", "", t0, 5, {}}));
  CHECK_FALSE(table.restore("n5", 1, {detached_id(count + 1), 1, LockTable::Kind::detached, "", "", "", t0, 5, {}}));
  CHECK(table.held_count() == count);
  CHECK(table.holder_count(LockTable::Kind::detached) == count);
  CHECK(table.find(detached_id(count))->name == "n" + std::to_string(count));
  CHECK(table.next_deadline() == t0 + 1s);
}

}  // namespace TNL_UNITY_ID
