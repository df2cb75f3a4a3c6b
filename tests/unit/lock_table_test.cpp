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
using namespace std::chrono_literals;

namespace {

/// The OwnerName lookup the server gives the table, from a map the test fills in; counts
/// its calls.
struct OwnerNames {
  std::map<LockTable::OwnerId, std::string> names;
  int calls = 0;
  LockTable::OwnerName lookup() {
    return [this](LockTable::OwnerId owner) -> const std::string* {
      ++calls;
      const auto it = names.find(owner);
      return it == names.end() ? nullptr : &it->second;
    };
  }
};

LockTable::Request request(const std::string& name, LockTable::OwnerId owner,
                           std::optional<LockTable::TimePoint> deadline = std::nullopt, std::size_t limit = 1) {
  LockTable::Request r;
  r.name = name;
  r.owner = owner;
  r.client_id = "client-" + std::to_string(owner);
  r.peer = "peer-" + std::to_string(owner);
  r.reason = "reason-" + std::to_string(owner);
  r.limit = limit;
  r.deadline = deadline;
  r.id = id_of(owner);
  r.kind = LockTable::Kind::connection;
  return r;
}

/// A detached request with a lease of `ttl` (nullopt: none).
LockTable::Request detached(const std::string& name, LockTable::OwnerId owner,
                            std::optional<LockTable::Clock::duration> ttl,
                            std::optional<LockTable::TimePoint> deadline = std::nullopt) {
  auto r = request(name, owner, deadline);
  r.kind = LockTable::Kind::detached;
  r.ttl = ttl;
  return r;
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
  table.acquire(request("a", 2, t0 + 10s), t0, [&](Outcome outcome, LockTable::Token) {
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

TEST_CASE("tokens rise strictly in grant order, across names and handoffs", "[lock_table][fencing]") {
  LockTable table;
  Answer a1, b1, a2, a3;
  table.acquire(request("a", 1), t0, a1.completion());
  table.acquire(request("b", 2), t0, b1.completion());
  table.acquire(request("a", 3, t0 + 10s), t0, a2.completion());
  table.acquire(request("a", 4, t0 + 10s), t0, a3.completion());
  CHECK(a2.token == 0);  // not granted yet
  table.release("a", 1, t0 + 1s);
  table.release("a", 3, t0 + 2s);
  CHECK(a1.token > 0);
  CHECK(b1.token > a1.token);
  CHECK(a2.token > b1.token);
  CHECK(a3.token > a2.token);
  CHECK(table.holders("a")[0].token == a3.token);
}

TEST_CASE("refused and timed-out requests get no token", "[lock_table][fencing]") {
  LockTable table;
  Answer holder, refused, timed_out;
  table.acquire(request("a", 1), t0, holder.completion());
  table.acquire(request("a", 2), t0, refused.completion());
  table.acquire(request("a", 3, t0 + 1s), t0, timed_out.completion());
  table.expire(t0 + 1s);
  CHECK(refused.token == 0);
  CHECK(timed_out.token == 0);
}

TEST_CASE("the token source is injected", "[lock_table][fencing]") {
  LockTable::Token next = 1000;
  LockTable table([&] { return next += 10; });
  Answer a;
  table.acquire(request("a", 1), t0, a.completion());
  CHECK(a.token == 1010);
}

TEST_CASE("a semaphore grants up to its limit, then queues in order", "[lock_table][semaphore]") {
  LockTable table;
  Answer h1, h2, h3, w1, w2;
  table.acquire(request("s", 1, std::nullopt, 3), t0, h1.completion());
  table.acquire(request("s", 2, std::nullopt, 3), t0, h2.completion());
  table.acquire(request("s", 3, std::nullopt, 3), t0, h3.completion());
  table.acquire(request("s", 4, t0 + 10s, 3), t0, w1.completion());
  table.acquire(request("s", 5, t0 + 10s, 3), t0, w2.completion());
  CHECK(h3.outcome == Outcome::granted);
  CHECK_FALSE(w1.outcome);
  CHECK(table.holders("s").size() == 3);
  CHECK(table.held_count() == 1);  // one name
  CHECK(table.waiters("s") == 2);

  table.release("s", 2, t0 + 1s);
  CHECK(w1.outcome == Outcome::granted);
  CHECK_FALSE(w2.outcome);
  table.release("s", 1, t0 + 2s);
  CHECK(w2.outcome == Outcome::granted);
  CHECK(table.holders("s").size() == 3);
}

TEST_CASE("a semaphore without waiting refuses the request over the limit", "[lock_table][semaphore]") {
  LockTable table;
  Answer h1, h2, refused;
  table.acquire(request("s", 1, std::nullopt, 2), t0, h1.completion());
  table.acquire(request("s", 2, std::nullopt, 2), t0, h2.completion());
  table.acquire(request("s", 3, std::nullopt, 2), t0, refused.completion());
  CHECK(h2.outcome == Outcome::granted);
  CHECK(refused.outcome == Outcome::not_granted);
}

TEST_CASE("a different limit while the name is in use is a mismatch", "[lock_table][semaphore]") {
  LockTable table;
  Answer holder, waiter, mismatched, mismatched_waiting;
  table.acquire(request("s", 1, std::nullopt, 2), t0, holder.completion());
  table.acquire(request("s", 2, std::nullopt, 1), t0, mismatched.completion());
  CHECK(mismatched.outcome == Outcome::limit_mismatch);
  table.acquire(request("s", 3, t0 + 10s, 5), t0, mismatched_waiting.completion());
  CHECK(mismatched_waiting.outcome == Outcome::limit_mismatch);
  CHECK(table.waiting_count() == 0);

  // Once the name is idle, a new limit may take over.
  table.release("s", 1, t0);
  table.acquire(request("s", 4, std::nullopt, 1), t0, waiter.completion());
  CHECK(waiter.outcome == Outcome::granted);
}

TEST_CASE("a limit held only by waiters still counts", "[lock_table][semaphore]") {
  LockTable table;
  Answer h1, h2, w, mismatched;
  table.acquire(request("s", 1, std::nullopt, 2), t0, h1.completion());
  table.acquire(request("s", 2, std::nullopt, 2), t0, h2.completion());
  table.acquire(request("s", 3, t0 + 10s, 2), t0, w.completion());
  table.acquire(request("s", 4, t0 + 10s, 3), t0, mismatched.completion());
  CHECK(mismatched.outcome == Outcome::limit_mismatch);
}

TEST_CASE("snapshot shows holders with their details and the number of waiters", "[lock_table]") {
  LockTable table;
  Answer a, b, w;
  table.acquire(request("b", 2), t0 + 1s, b.completion());
  table.acquire(request("a", 1), t0, a.completion());
  table.acquire(request("a", 3, t0 + 10s), t0, w.completion());
  const auto all = table.snapshot();
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "a");
  CHECK(all[0].limit == 1);
  REQUIRE(all[0].waiters.size() == 1);
  CHECK(all[0].waiters[0].client_id == "client-3");
  CHECK(all[0].waiters[0].since == t0);
  REQUIRE(all[0].holders.size() == 1);
  CHECK(all[0].holders[0].client_id == "client-1");
  CHECK(all[0].holders[0].peer == "peer-1");
  CHECK(all[0].holders[0].reason == "reason-1");
  CHECK(all[0].holders[0].token == a.token);
  CHECK(all[1].name == "b");
  CHECK(all[1].holders[0].since == t0 + 1s);

  const auto only_b = table.snapshot(std::string{"b"});
  REQUIRE(only_b.size() == 1);
  CHECK(only_b[0].name == "b");
  CHECK(table.snapshot(std::string{"nobody"}).empty());
}

TEST_CASE("many waiters with interleaved deadlines time out in deadline order", "[lock_table]") {
  LockTable table;
  Answer holder;
  std::vector<Answer> waiters(10);
  table.acquire(request("a", 100), t0, holder.completion());
  for (int i = 0; i < 10; ++i) {
    // Deadlines 10s, 1s, 9s, 2s, ...: queue order and deadline order differ.
    const auto seconds = (i % 2 == 0) ? 10 - i / 2 : 1 + i / 2;
    table.acquire(request("a", static_cast<LockTable::OwnerId>(i + 1000), t0 + std::chrono::seconds(seconds)), t0,
                  waiters[static_cast<std::size_t>(i)].completion());
  }
  CHECK(table.waiting_count() == 10);
  table.expire(t0 + 5s);
  int timed_out = 0;
  for (const auto& w : waiters) timed_out += w.outcome == Outcome::timed_out;
  CHECK(timed_out == 5);
  CHECK(table.next_deadline() == t0 + 6s);
  // The first waiter in queue order that is still waiting gets the lock.
  table.release("a", 100, t0 + 5s);
  CHECK(waiters[0].outcome == Outcome::granted);
}

TEST_CASE("a detached hold is found and released by id, and hands the lock on", "[lock_table][detached]") {
  LockTable table;
  OwnerNames owners;
  owners.names = {{2, "a"}};
  table.on_owner_name(owners.lookup());
  Answer d, w;
  table.acquire(detached("a", 1, std::nullopt), t0, d.completion());
  REQUIRE(d.outcome == Outcome::granted);
  CHECK(table.holder_count(LockTable::Kind::detached) == 1);
  CHECK(table.holder_count(LockTable::Kind::connection) == 0);
  const auto found = table.find(id_of(1));
  REQUIRE(found);
  CHECK(found->name == "a");
  CHECK(found->holder.kind == LockTable::Kind::detached);
  CHECK_FALSE(found->holder.expires);
  CHECK_FALSE(table.find(id_of(2)));

  // A connection queues behind the detached hold: one FIFO queue for both kinds.
  table.acquire(request("a", 2, t0 + 10s), t0, w.completion());
  CHECK_FALSE(w.outcome);
  const auto freed = table.release(id_of(1), t0 + 1s);
  REQUIRE(freed);
  CHECK(freed->name == "a");
  CHECK(freed->holder.token == d.token);
  CHECK(w.outcome == Outcome::granted);
  CHECK(table.holder_count(LockTable::Kind::detached) == 0);
  CHECK(table.holder_count(LockTable::Kind::connection) == 1);
  CHECK_FALSE(table.release(id_of(1), t0 + 1s));
  CHECK(table.find(id_of(2))->holder.kind == LockTable::Kind::connection);
}

TEST_CASE("a connection hold is found and released by id too, without an id index", "[lock_table][detached]") {
  // Only detached holds are indexed by id; a connection hold is found through its owner's
  // name (for an admin's forced release), among the other holders of a semaphore.
  LockTable table;
  OwnerNames owners;
  owners.names = {{1, "a"}, {2, "s"}, {3, "s"}, {5, "s"}};
  table.on_owner_name(owners.lookup());
  std::vector<Answer> answers(5);
  table.acquire(request("a", 1), t0, answers[0].completion());
  table.acquire(request("s", 2, std::nullopt, 2), t0, answers[1].completion());
  table.acquire(request("s", 3, std::nullopt, 2), t0, answers[2].completion());
  table.acquire(detached("d", 4, std::nullopt), t0, answers[3].completion());
  table.acquire(request("s", 5, t0 + 10s, 2), t0, answers[4].completion());
  CHECK_FALSE(answers[4].outcome);

  const auto found = table.find(id_of(3));
  REQUIRE(found);
  CHECK(found->name == "s");
  CHECK(found->holder.owner == 3);
  CHECK(found->holder.kind == LockTable::Kind::connection);
  CHECK_FALSE(table.find(id_of(5)));  // a waiter is not a hold
  CHECK_FALSE(table.renew(id_of(3), t0 + 100s));

  const auto freed = table.release(id_of(3), t0 + 1s);
  REQUIRE(freed);
  CHECK(freed->holder.token == answers[2].token);
  CHECK(answers[4].outcome == Outcome::granted);
  CHECK_FALSE(table.find(id_of(3)));
  CHECK(table.find(id_of(5))->name == "s");
  CHECK(table.find(id_of(4))->holder.kind == LockTable::Kind::detached);
}

TEST_CASE("a detached lease ends at its TTL and frees the name for the next waiter", "[lock_table][detached]") {
  LockTable table;
  Answer d, w;
  table.acquire(detached("a", 1, 30s), t0, d.completion());
  CHECK(table.find(id_of(1))->holder.expires == t0 + 30s);
  CHECK(table.next_deadline() == t0 + 30s);
  table.acquire(request("a", 2, t0 + 60s), t0 + 1s, w.completion());
  CHECK(table.next_deadline() == t0 + 30s);

  CHECK(table.expire(t0 + 29s).empty());
  const auto expired = table.expire(t0 + 30s);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].name == "a");
  CHECK(expired[0].holder.id == id_of(1));
  CHECK(w.outcome == Outcome::granted);
  CHECK(table.holders("a")[0].owner == 2);
  CHECK_FALSE(table.next_deadline());
}

TEST_CASE("a detached request that waits starts its lease at the grant", "[lock_table][detached]") {
  LockTable table;
  Answer c, d;
  table.acquire(request("a", 1), t0, c.completion());
  table.acquire(detached("a", 2, 10s, t0 + 60s), t0, d.completion());
  CHECK_FALSE(d.outcome);
  table.release("a", 1, t0 + 5s);
  REQUIRE(d.outcome == Outcome::granted);
  CHECK(table.find(id_of(2))->holder.expires == t0 + 15s);
}

TEST_CASE("renewing moves a lease, and only a detached hold's", "[lock_table][detached]") {
  LockTable table;
  Answer d, c;
  table.acquire(detached("a", 1, 10s), t0, d.completion());
  table.acquire(request("b", 2), t0, c.completion());
  CHECK(table.renew(id_of(1), t0 + 100s));
  CHECK(table.next_deadline() == t0 + 100s);
  CHECK(table.expire(t0 + 10s).empty());
  CHECK_FALSE(table.renew(id_of(2), t0 + 100s));
  CHECK_FALSE(table.renew(id_of(3), t0 + 100s));
  CHECK(table.renew(id_of(1), std::nullopt));
  CHECK_FALSE(table.next_deadline());
  CHECK(table.expire(t0 + 1000s).empty());
  CHECK(table.find(id_of(1)));
}

TEST_CASE("updating changes a detached hold's who and reason, and nothing else", "[lock_table][detached]") {
  LockTable table;
  Answer d, c;
  table.acquire(detached("a", 1, 10s), t0, d.completion());
  table.acquire(request("b", 2), t0, c.completion());
  const auto before = table.find(id_of(1));
  REQUIRE(before);
  const auto version = table.version();
  CHECK(table.update(id_of(1), std::string("new-who"), std::nullopt));
  CHECK(table.version() > version);  // a listing cached on the version is stale now
  auto after = table.find(id_of(1));
  REQUIRE(after);
  CHECK(after->holder.client_id == "new-who");
  CHECK(after->holder.reason == "reason-1");  // not given: unchanged
  CHECK(table.update(id_of(1), std::nullopt, std::string("event-7")));
  after = table.find(id_of(1));
  CHECK(after->holder.client_id == "new-who");
  CHECK(after->holder.reason == "event-7");
  // Same name, id, token, grant time and lease: the hold did not move.
  CHECK(after->name == "a");
  CHECK(after->holder.token == before->holder.token);
  CHECK(after->holder.since == before->holder.since);
  CHECK(after->holder.expires == t0 + 10s);
  CHECK(table.next_deadline() == t0 + 10s);
  // A connection hold, or an id nobody holds: nothing changes.
  CHECK_FALSE(table.update(id_of(2), std::string("x"), std::string("y")));
  CHECK(table.holders("b")[0].client_id == "client-2");
  CHECK_FALSE(table.update(id_of(3), std::string("x"), std::nullopt));
}

TEST_CASE("updating a released or expired hold makes nothing again", "[lock_table][detached]") {
  LockTable table;
  Answer d, e;
  table.acquire(detached("a", 1, 10s), t0, d.completion());
  REQUIRE(table.release(id_of(1), t0 + 1s));
  CHECK_FALSE(table.update(id_of(1), std::string("late"), std::nullopt));
  CHECK_FALSE(table.find(id_of(1)));
  CHECK(table.holders("a").empty());
  table.acquire(detached("b", 2, 10s), t0, e.completion());
  CHECK(table.expire(t0 + 10s).size() == 1);
  CHECK_FALSE(table.update(id_of(2), std::string("late"), std::nullopt));
  CHECK(table.holders("b").empty());
}

TEST_CASE("restored holds keep their token and block newcomers", "[lock_table][detached]") {
  LockTable table;
  LockTable::Holder saved{id_of(7), 7, LockTable::Kind::detached, "ci", "", "deploy", t0, 123456, t0 + 50s};
  CHECK(table.restore("a", 1, saved));
  CHECK_FALSE(table.restore("a", 1, saved));  // full, and the id is taken
  CHECK_FALSE(table.restore("b", 1, saved));  // the id is taken
  Answer refused;
  table.acquire(request("a", 1), t0, refused.completion());
  CHECK(refused.outcome == Outcome::not_granted);
  CHECK(table.holders("a")[0].token == 123456);
  CHECK(table.next_deadline() == t0 + 50s);
  CHECK(table.expire(t0 + 50s).size() == 1);
  CHECK(table.held_count() == 0);
}

TEST_CASE("a lease and a wait ending together: the wait times out first", "[lock_table][detached]") {
  LockTable table;
  Answer d, w;
  table.acquire(detached("a", 1, 10s), t0, d.completion());
  table.acquire(request("a", 2, t0 + 10s), t0, w.completion());
  CHECK(table.expire(t0 + 10s).size() == 1);
  CHECK(w.outcome == Outcome::timed_out);
  CHECK(table.held_count() == 0);
}

}  // namespace TNL_UNITY_ID
