#include <catch2/catch.hpp>

#include <optional>
#include <vector>

#include "lock_table.hpp"

using tnl::LockTable;
using Outcome = LockTable::Outcome;
using namespace std::chrono_literals;

namespace {

/// Records the outcome of one request.
struct Answer {
  std::optional<Outcome> outcome;
  int calls = 0;
  LockTable::Completion completion() {
    return [this](Outcome o) {
      outcome = o;
      ++calls;
    };
  }
};

const LockTable::TimePoint t0{};

LockTable::Request request(const std::string& name, LockTable::OwnerId owner,
                           std::optional<LockTable::TimePoint> deadline = std::nullopt) {
  return LockTable::Request{name, owner, "client-" + std::to_string(owner), deadline};
}

}  // namespace

TEST_CASE("a free name is granted at once, a held one is refused at once", "[lock_table]") {
  LockTable table;
  Answer first, second;
  table.acquire(request("a", 1), t0, first.completion());
  CHECK(first.outcome == Outcome::granted);
  table.acquire(request("a", 2), t0, second.completion());
  CHECK(second.outcome == Outcome::not_granted);
  CHECK(table.held_count() == 1);
  REQUIRE(table.holders("a").size() == 1);
  CHECK(table.holders("a")[0].owner == 1);
  CHECK(table.holders("a")[0].client_id == "client-1");
  CHECK(table.holders("a")[0].since == t0);
}

TEST_CASE("different names do not exclude each other", "[lock_table]") {
  LockTable table;
  Answer a, b;
  table.acquire(request("a", 1), t0, a.completion());
  table.acquire(request("b", 2), t0, b.completion());
  CHECK(a.outcome == Outcome::granted);
  CHECK(b.outcome == Outcome::granted);
  CHECK(table.held_count() == 2);
}

TEST_CASE("a released name is free for the very next request", "[lock_table]") {
  LockTable table;
  Answer first, second;
  table.acquire(request("a", 1), t0, first.completion());
  CHECK(table.release("a", 1, t0 + 1ms));
  CHECK(table.held_count() == 0);
  CHECK(table.holders("a").empty());
  table.acquire(request("a", 2), t0 + 1ms, second.completion());
  CHECK(second.outcome == Outcome::granted);
}

TEST_CASE("only the holder can release", "[lock_table]") {
  LockTable table;
  Answer first;
  table.acquire(request("a", 1), t0, first.completion());
  CHECK_FALSE(table.release("a", 2, t0));
  CHECK_FALSE(table.release("b", 1, t0));
  CHECK(table.held_count() == 1);
  CHECK(table.release("a", 1, t0));
  CHECK_FALSE(table.release("a", 1, t0));
}

TEST_CASE("every completion runs exactly once", "[lock_table]") {
  LockTable table;
  Answer granted, refused, queued;
  table.acquire(request("a", 1), t0, granted.completion());
  table.acquire(request("a", 2), t0, refused.completion());
  table.acquire(request("a", 3, t0 + 10s), t0, queued.completion());
  table.release("a", 1, t0 + 1s);
  table.expire(t0 + 20s);
  CHECK(granted.calls == 1);
  CHECK(refused.calls == 1);
  CHECK(queued.calls == 1);
}

TEST_CASE("a queued request completes later, first come first served", "[lock_table]") {
  LockTable table;
  Answer holder, second, third;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, t0 + 10s), t0 + 1s, second.completion());
  table.acquire(request("a", 3, t0 + 10s), t0 + 2s, third.completion());
  CHECK_FALSE(second.outcome);
  CHECK_FALSE(third.outcome);
  CHECK(table.waiters("a") == 2);
  CHECK(table.next_deadline() == t0 + 10s);

  table.release("a", 1, t0 + 3s);
  CHECK(second.outcome == Outcome::granted);
  CHECK_FALSE(third.outcome);
  CHECK(table.holders("a")[0].owner == 2);
  CHECK(table.holders("a")[0].since == t0 + 3s);
  CHECK(table.held_count() == 1);

  table.release("a", 2, t0 + 4s);
  CHECK(third.outcome == Outcome::granted);
  CHECK(table.waiting_count() == 0);
  CHECK_FALSE(table.next_deadline());
}

TEST_CASE("a newcomer never overtakes the queue", "[lock_table]") {
  LockTable table;
  Answer holder, waiter, newcomer;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, t0 + 10s), t0, waiter.completion());
  table.acquire(request("a", 3), t0, newcomer.completion());
  CHECK(newcomer.outcome == Outcome::not_granted);
  CHECK(table.waiters("a") == 1);
}

TEST_CASE("a wait times out at its deadline and not before", "[lock_table]") {
  LockTable table;
  Answer holder, waiter;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, t0 + 5s), t0, waiter.completion());
  table.expire(t0 + 4999ms);
  CHECK_FALSE(waiter.outcome);
  table.expire(t0 + 5s);
  CHECK(waiter.outcome == Outcome::timed_out);
  CHECK(table.waiters("a") == 0);
  // The holder is untouched, and its release grants nobody.
  CHECK(table.release("a", 1, t0 + 6s));
  CHECK(table.held_count() == 0);
}

TEST_CASE("a deadline already past is the same as not waiting", "[lock_table]") {
  LockTable table;
  Answer holder, waiter;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, t0), t0, waiter.completion());
  CHECK(waiter.outcome == Outcome::not_granted);
  CHECK(table.waiting_count() == 0);
}

TEST_CASE("a cancelled wait leaves the queue without completing", "[lock_table]") {
  LockTable table;
  Answer holder, gone, next;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, t0 + 10s), t0, gone.completion());
  table.acquire(request("a", 3, t0 + 10s), t0, next.completion());
  CHECK(table.cancel("a", 2));
  CHECK_FALSE(table.cancel("a", 2));
  table.release("a", 1, t0 + 1s);
  CHECK(gone.calls == 0);
  CHECK(next.outcome == Outcome::granted);
}

TEST_CASE("a completion may call back into the table", "[lock_table]") {
  LockTable table;
  Answer holder;
  std::optional<Outcome> waiter_outcome;
  table.acquire(request("a", 1), t0, holder.completion());
  // The waiter's connection turns out to be gone when it is granted, and lets go at once.
  table.acquire(request("a", 2, t0 + 10s), t0, [&](Outcome outcome) {
    waiter_outcome = outcome;
    table.release("a", 2, t0 + 1s);
  });
  table.release("a", 1, t0 + 1s);
  CHECK(waiter_outcome == Outcome::granted);
  CHECK(table.held_count() == 0);
  CHECK(table.holders("a").empty());
}

TEST_CASE("idle names leave no trace", "[lock_table]") {
  LockTable table;
  Answer a, b;
  table.acquire(request("a", 1), t0, a.completion());
  table.acquire(request("a", 2), t0, b.completion());
  table.release("a", 1, t0);
  CHECK(table.held_count() == 0);
  CHECK(table.waiting_count() == 0);
  CHECK(table.waiters("a") == 0);
}
