// LockTable (issue 10): lock-delays after a release without the holder's consent, and
// grants refused while the token a client would see is not durable.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lock_table.hpp"
#include "lock_table_test_support.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockTable;
using tnl::test::Answer;
using tnl::test::id_of;
using tnl::test::t0;
using Outcome = LockTable::Outcome;
using Kind = LockTable::Kind;
using namespace std::chrono_literals;

namespace {

constexpr auto forever = LockTable::TimePoint::max();

LockTable::Request request(const std::string& name, LockTable::OwnerId owner,
                           std::optional<LockTable::TimePoint> deadline = std::nullopt, std::size_t limit = 1) {
  LockTable::Request r;
  r.name = name;
  r.owner = owner;
  r.client_id = "client-" + std::to_string(owner);
  r.peer = "peer-" + std::to_string(owner);
  r.limit = limit;
  r.deadline = deadline;
  r.id = id_of(owner);
  r.kind = Kind::connection;
  return r;
}

LockTable::Request fenced(const std::string& name, LockTable::OwnerId owner,
                          std::optional<LockTable::TimePoint> deadline = std::nullopt) {
  auto r = request(name, owner, deadline);
  r.shows_token = true;
  return r;
}

LockTable::Request detached(const std::string& name, LockTable::OwnerId owner,
                            std::optional<LockTable::TimePoint> deadline = std::nullopt) {
  auto r = request(name, owner, deadline);
  r.kind = Kind::detached;
  r.ttl = 60s;
  return r;
}

}  // namespace

TEST_CASE("a release without consent leaves a lock-delay: the first waiter gets the name exactly when it ends",
          "[lock_table][lock_delay]") {
  LockTable table;
  Answer holder, first, second, newcomer;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, forever), t0, first.completion());
  table.acquire(request("a", 3, forever), t0, second.completion());

  const auto freed = table.release("a", 1, t0 + 1s, 5s);
  REQUIRE(freed);
  CHECK(freed->owner == 1);
  CHECK_FALSE(first.outcome);
  CHECK(table.holders("a").empty());
  REQUIRE(table.delays("a").size() == 1);
  const auto& delay = table.delays("a")[0];
  CHECK(delay.kind == Kind::delay);
  CHECK(delay.owner == 0);
  CHECK(delay.client_id == "client-1");  // whose loss the name rests after
  CHECK(delay.since == t0 + 1s);
  CHECK(delay.expires == t0 + 6s);
  CHECK(delay.token == holder.token);
  CHECK(table.next_deadline() == t0 + 6s);
  CHECK(table.held_count() == 0);
  CHECK(table.holder_count(Kind::delay) == 1);

  // Meanwhile nobody gets it: the queue keeps its order, a newcomer is refused.
  table.acquire(request("a", 4), t0 + 2s, newcomer.completion());
  CHECK(newcomer.outcome == Outcome::not_granted);
  CHECK(table.expire(t0 + 6s - 1ns).empty());
  CHECK_FALSE(first.outcome);
  CHECK(table.waiters("a") == 2);

  CHECK(table.expire(t0 + 6s).empty());  // a delay is no hold: nothing "expired"
  CHECK(first.outcome == Outcome::granted);
  CHECK(first.token > holder.token);
  CHECK_FALSE(second.outcome);
  CHECK(table.delays("a").empty());
  CHECK(table.holder_count(Kind::delay) == 0);
  CHECK(table.holders("a").at(0).owner == 2);
  CHECK(table.holders("a").at(0).since == t0 + 6s);
}

TEST_CASE("a release with consent, or a zero delay, hands the name on at once", "[lock_table][lock_delay]") {
  LockTable table;
  Answer holder, waiter;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, forever), t0, waiter.completion());
  table.release("a", 1, t0 + 1s, LockTable::Clock::duration::zero());
  CHECK(waiter.outcome == Outcome::granted);
  CHECK(table.delays("a").empty());
  CHECK_FALSE(table.next_deadline());
}

TEST_CASE("a delay with nobody waiting keeps the name in use, then leaves no trace", "[lock_table][lock_delay]") {
  LockTable table;
  Answer holder, during, mismatch, after;
  table.acquire(request("a", 1), t0, holder.completion());
  const auto version = table.version();
  table.release("a", 1, t0, 2s);
  CHECK(table.version() != version);
  table.acquire(request("a", 2), t0 + 1s, during.completion());
  CHECK(during.outcome == Outcome::not_granted);
  table.acquire(request("a", 3, std::nullopt, 2), t0 + 1s, mismatch.completion());
  CHECK(mismatch.outcome == Outcome::limit_mismatch);  // still in use, with its limit
  const auto states = table.snapshot();
  REQUIRE(states.size() == 1);
  CHECK(states[0].holders.empty());
  CHECK(states[0].delays.size() == 1);
  const auto before_end = table.version();
  table.expire(t0 + 2s);
  CHECK(table.version() != before_end);
  CHECK(table.snapshot().empty());
  table.acquire(request("a", 4), t0 + 2s, after.completion());
  CHECK(after.outcome == Outcome::granted);
}

TEST_CASE("a waiter whose deadline is the delay's end has given up", "[lock_table][lock_delay]") {
  LockTable table;
  Answer holder, waiter;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2, t0 + 3s), t0, waiter.completion());
  table.release("a", 1, t0, 3s);
  table.expire(t0 + 3s);
  CHECK(waiter.outcome == Outcome::timed_out);
  CHECK(table.snapshot().empty());
}

TEST_CASE("in a semaphore the delay keeps only the revoked holder's slot", "[lock_table][lock_delay][semaphore]") {
  LockTable table;
  Answer a, b, c, d, e;
  table.acquire(request("s", 1, std::nullopt, 2), t0, a.completion());
  table.acquire(request("s", 2, std::nullopt, 2), t0, b.completion());
  table.acquire(request("s", 3, forever, 2), t0, c.completion());
  table.acquire(request("s", 4, forever, 2), t0, d.completion());

  table.release("s", 1, t0 + 1s, 10s);  // a's slot rests
  CHECK_FALSE(c.outcome);
  table.release("s", 2, t0 + 2s);  // b lets go: its slot is free at once, for the first waiter
  CHECK(c.outcome == Outcome::granted);
  CHECK_FALSE(d.outcome);
  table.acquire(request("s", 5, std::nullopt, 2), t0 + 3s, e.completion());
  CHECK(e.outcome == Outcome::not_granted);  // one holder and one delay: full
  CHECK(table.held_count() == 1);

  table.expire(t0 + 11s);
  CHECK(d.outcome == Outcome::granted);
  CHECK(table.holders("s").size() == 2);
  CHECK(table.delays("s").empty());
}

TEST_CASE("several delays on one name end in order of their ends", "[lock_table][lock_delay][semaphore]") {
  LockTable table;
  std::vector<Answer> holders(3), waiters(3);
  for (LockTable::OwnerId i = 0; i < 3; ++i) table.acquire(request("s", i + 1, std::nullopt, 3), t0, holders[i].completion());
  for (LockTable::OwnerId i = 0; i < 3; ++i) table.acquire(request("s", 10 + i, forever, 3), t0, waiters[i].completion());
  table.release("s", 1, t0, 9s);  // ends at 9 s
  table.release("s", 2, t0 + 1s, 2s);  // ends at 3 s
  table.release("s", 3, t0 + 2s, 5s);  // ends at 7 s
  REQUIRE(table.delays("s").size() == 3);
  CHECK(table.delays("s")[0].expires == t0 + 3s);
  CHECK(table.delays("s")[2].expires == t0 + 9s);
  CHECK(table.next_deadline() == t0 + 3s);
  table.expire(t0 + 3s);
  CHECK(waiters[0].outcome == Outcome::granted);
  CHECK_FALSE(waiters[1].outcome);
  CHECK(table.next_deadline() == t0 + 7s);
  table.expire(t0 + 8s);
  CHECK(waiters[1].outcome == Outcome::granted);
  CHECK_FALSE(waiters[2].outcome);
  table.expire(t0 + 9s);
  CHECK(waiters[2].outcome == Outcome::granted);
  CHECK(table.delays("s").empty());
}

TEST_CASE("a delay is no hold: no id finds it, no release frees it", "[lock_table][lock_delay][ids]") {
  LockTable table;
  std::map<LockTable::OwnerId, std::string> names{{1, "a"}};
  table.on_owner_name([&](LockTable::OwnerId owner) -> const std::string* {
    const auto it = names.find(owner);
    return it == names.end() ? nullptr : &it->second;
  });
  Answer holder;
  table.acquire(request("a", 1), t0, holder.completion());
  table.release("a", 1, t0, 5s);
  CHECK_FALSE(table.find(id_of(1)));
  CHECK_FALSE(table.release(id_of(1), t0));
  CHECK_FALSE(table.release("a", 1, t0));
  CHECK_FALSE(table.release("a", 0, t0));  // a delay's owner is nobody
  CHECK(table.delays("a").size() == 1);
}

TEST_CASE("shut_down ends every delay and grants nothing after it", "[lock_table][lock_delay][shutdown]") {
  LockTable table;
  Answer a, b, waiter;
  table.acquire(request("a", 1), t0, a.completion());
  table.acquire(request("b", 2), t0, b.completion());
  table.acquire(request("a", 3, forever), t0, waiter.completion());
  table.release("a", 1, t0, 5s);
  table.shut_down();
  CHECK(waiter.outcome == Outcome::unavailable);
  CHECK(table.delays("a").empty());
  CHECK(table.holder_count(Kind::delay) == 0);
  CHECK_FALSE(table.next_deadline());
  // A release after it leaves no delay (nothing is granted anyway), and none ends later.
  table.release("b", 2, t0 + 1s, 5s);
  CHECK(table.delays("b").empty());
  CHECK(table.expire(t0 + 10s).empty());
  CHECK(table.snapshot().empty());
  CHECK(waiter.calls == 1);
}

namespace {

/// A token source whose tokens are durable only up to `durable_up_to` (a fencing mark on
/// disk that could not be moved up).
struct PartlyDurable {
  LockTable::Token last = 100;
  LockTable::Token durable_up_to = 0;
  std::vector<LockTable::Token> raised;
  LockTable::TokenSource source() {
    return {[this] { return ++last; }, [this](LockTable::Token token) { return token <= durable_up_to; },
            [this](LockTable::Token token) {
              raised.push_back(token);
              last = std::max(last, token);
            }};
  }
};

}  // namespace

TEST_CASE("a grant whose token the client sees is refused while the token is not durable, others are granted",
          "[lock_table][fencing][faults]") {
  PartlyDurable tokens;
  LockTable table(tokens.source());
  Answer with_fencing, held_detached, plain;
  table.acquire(fenced("f", 1), t0, with_fencing.completion());
  CHECK(with_fencing.outcome == Outcome::failed);
  CHECK(with_fencing.token == 0);
  table.acquire(detached("d", 2), t0, held_detached.completion());
  CHECK(held_detached.outcome == Outcome::failed);
  CHECK(table.snapshot().empty());  // nothing held, no name left behind
  CHECK(table.held_count() == 0);

  table.acquire(request("p", 3), t0, plain.completion());  // its token is never shown to it
  CHECK(plain.outcome == Outcome::granted);
  CHECK_FALSE(table.token_durable(plain.token));  // so `.locks` shows it as null

  tokens.durable_up_to = 1'000;  // the mark could be written again
  Answer later;
  table.acquire(fenced("f", 4), t0, later.completion());
  CHECK(later.outcome == Outcome::granted);
  CHECK(later.token > plain.token);
  CHECK(table.token_durable(plain.token));
}

TEST_CASE("a waiter whose token would not be durable is refused in the handoff, and the next one is served",
          "[lock_table][fencing][faults]") {
  PartlyDurable tokens;
  LockTable table(tokens.source());
  Answer holder, fencing_waiter, detached_waiter, plain_waiter, last;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(fenced("a", 2, forever), t0, fencing_waiter.completion());
  table.acquire(detached("a", 3, forever), t0, detached_waiter.completion());
  table.acquire(request("a", 4, forever), t0, plain_waiter.completion());
  table.acquire(fenced("a", 5, forever), t0, last.completion());
  table.release("a", 1, t0 + 1s);
  CHECK(fencing_waiter.outcome == Outcome::failed);
  CHECK(detached_waiter.outcome == Outcome::failed);
  CHECK(plain_waiter.outcome == Outcome::granted);
  CHECK_FALSE(last.outcome);  // still queued, in order
  CHECK(table.waiters("a") == 1);
  CHECK(table.holders("a").at(0).owner == 4);
}

TEST_CASE("restored holds raise the tokens above theirs", "[lock_table][fencing][restore]") {
  SECTION("the table's own counter") {
    LockTable table;
    LockTable::Holder saved{id_of(7), 7, Kind::detached, "ci", "", "", t0, 5'000, std::nullopt};
    REQUIRE(table.restore("r", 1, saved));
    table.raise_tokens_above(4'000);  // lower: no effect
    Answer answer;
    table.acquire(request("a", 1), t0, answer.completion());
    CHECK(answer.token == 5'001);
    table.raise_tokens_above(9'000);
    table.acquire(request("b", 2), t0, answer.completion());
    CHECK(answer.token == 9'001);
  }
  SECTION("a token source") {
    PartlyDurable tokens;
    tokens.durable_up_to = 1'000'000;
    LockTable table(tokens.source());
    LockTable::Holder saved{id_of(7), 7, Kind::detached, "ci", "", "", t0, 5'000, std::nullopt};
    REQUIRE(table.restore("r", 1, saved));
    CHECK(tokens.raised == std::vector<LockTable::Token>{5'000});
    Answer answer;
    table.acquire(fenced("a", 1), t0, answer.completion());
    CHECK(answer.token == 5'001);
  }
}

TEST_CASE("held grants: nothing is granted before the time, waiters are served in order at it",
          "[lock_table][lock_delay][grace]") {
  LockTable table;
  // A detached lock restored before the grace began stays held through it.
  LockTable::Holder restored{id_of(9), 9, Kind::detached, "restored", "", "", t0, 7, t0 + 60s};
  REQUIRE(table.restore("kept", 1, restored));
  table.hold_grants_until(t0 + 5s);
  CHECK(table.grants_held_until(t0) == t0 + 5s);
  CHECK(table.grants_held_until(t0 + 4s) == t0 + 5s);
  CHECK_FALSE(table.grants_held_until(t0 + 5s));
  CHECK(table.next_deadline() == t0 + 5s);

  Answer now_only, first, second, other_name, semaphore, short_wait;
  table.acquire(request("a", 1), t0 + 1s, now_only.completion());
  CHECK(now_only.outcome == Outcome::not_granted);
  table.acquire(request("a", 2, forever), t0 + 1s, first.completion());
  table.acquire(request("a", 3, forever), t0 + 2s, second.completion());
  table.acquire(request("b", 4, forever), t0 + 2s, other_name.completion());
  table.acquire(request("s", 5, forever, 3), t0 + 2s, semaphore.completion());
  table.acquire(request("c", 6, t0 + 5s), t0 + 2s, short_wait.completion());
  CHECK_FALSE(first.outcome);
  CHECK_FALSE(other_name.outcome);
  CHECK_FALSE(semaphore.outcome);  // even a semaphore with every slot free
  CHECK(table.waiting_count() == 5);
  CHECK(table.held_count() == 1);
  CHECK(table.holders("kept").at(0).token == 7);
  CHECK(table.next_deadline() == t0 + 5s);

  CHECK(table.expire(t0 + 5s - 1ns).empty());
  CHECK_FALSE(first.outcome);
  CHECK(table.expire(t0 + 5s).empty());
  CHECK(first.outcome == Outcome::granted);
  CHECK_FALSE(second.outcome);  // FIFO: it waits for the first
  CHECK(other_name.outcome == Outcome::granted);
  CHECK(semaphore.outcome == Outcome::granted);
  CHECK(short_wait.outcome == Outcome::timed_out);  // its deadline was the very end: given up
  CHECK(first.token > 7);  // later tokens are above the restored one
  CHECK_FALSE(table.grants_held_until(t0 + 5s));
  CHECK(table.next_deadline() == t0 + 60s);  // the restored lease is what comes next

  // After it, everything is as without it.
  Answer after;
  table.acquire(request("d", 7), t0 + 6s, after.completion());
  CHECK(after.outcome == Outcome::granted);
  table.release("a", 2, t0 + 6s);
  CHECK(second.outcome == Outcome::granted);
}

TEST_CASE("held grants: a hold freed meanwhile is handed on only when they resume", "[lock_table][lock_delay][grace]") {
  LockTable table;
  LockTable::Holder restored{id_of(9), 9, Kind::detached, "restored", "", "", t0, 7, t0 + 60s};
  REQUIRE(table.restore("kept", 1, restored));
  table.hold_grants_until(t0 + 5s);
  Answer waiter;
  table.acquire(request("kept", 1, forever), t0 + 1s, waiter.completion());
  REQUIRE(table.release(id_of(9), t0 + 2s));  // unlocked by id during the grace
  CHECK_FALSE(waiter.outcome);
  CHECK(table.holders("kept").empty());
  CHECK(table.waiters("kept") == 1);
  table.expire(t0 + 5s);
  CHECK(waiter.outcome == Outcome::granted);
  CHECK(waiter.calls == 1);
}

TEST_CASE("held grants: a later time only extends them, shut_down ends them without a grant",
          "[lock_table][lock_delay][grace][shutdown]") {
  LockTable table;
  table.hold_grants_until(t0 + 5s);
  table.hold_grants_until(t0 + 3s);  // never shortened
  CHECK(table.grants_held_until(t0 + 4s) == t0 + 5s);
  Answer waiter;
  table.acquire(request("a", 1, forever), t0, waiter.completion());
  table.shut_down();
  CHECK(waiter.outcome == Outcome::unavailable);
  CHECK_FALSE(table.next_deadline());
  table.expire(t0 + 5s);
  CHECK(waiter.calls == 1);
  Answer late;
  table.acquire(request("a", 2), t0 + 6s, late.completion());
  CHECK(late.outcome == Outcome::unavailable);
}

}  // namespace TNL_UNITY_ID
