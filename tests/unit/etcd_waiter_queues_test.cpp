// WaiterQueues: which local waiter of a name is active, what it waits for (its predecessor
// for a mutex, any earlier key for a semaphore), and deletions that went by while a check
// was in flight.
#include <catch2/catch.hpp>

#include "etcd/waiter_queues.hpp"

using tnl::LockId;
using tnl::etcd::WaiterQueues;

namespace {
const LockId a{1, 1}, b{2, 2}, c{3, 3};
}

TEST_CASE("waiter queues: a mutex waiter looks again only when its predecessor goes", "[etcd][waiters]") {
  WaiterQueues queues;
  queues.sent("n", a, 1);
  CHECK_FALSE(queues.waiting("n", a, 20, 15, 20));
  CHECK(queues.active("n") == a);
  CHECK(queues.deleted("n", 10, 21).empty());  // before the predecessor: not in its way now
  CHECK(queues.deleted("n", 25, 22).empty());  // after its own
  CHECK(queues.deleted("m", 15, 23).empty());  // another name
  CHECK(queues.deleted("n", 15, 24) == std::vector<LockId>{a});
  queues.checking("n", a);
  CHECK(queues.deleted("n", 15, 24).empty());  // looking already
  CHECK(queues.remove("n", a) == std::nullopt);
  CHECK(queues.size() == 0);
  CHECK(queues.name_count() == 0);
}

TEST_CASE("waiter queues: a semaphore waiter looks again at any earlier deletion", "[etcd][waiters]") {
  WaiterQueues queues;
  queues.sent("s", a, 3);
  CHECK_FALSE(queues.waiting("s", a, 20, 15, 20));
  CHECK(queues.deleted("s", 10, 21) == std::vector<LockId>{a});
  CHECK(queues.deleted("s", 30, 22).empty());
}

TEST_CASE("waiter queues: only the earliest local waiter is active", "[etcd][waiters]") {
  WaiterQueues queues;
  queues.sent("n", a, 1);
  queues.sent("n", b, 1);
  queues.sent("n", c, 1);
  // Answers come out of order: b's first.
  CHECK_FALSE(queues.waiting("n", b, 30, 20, 30));
  CHECK(queues.active("n") == b);
  CHECK_FALSE(queues.waiting("n", a, 20, 10, 31));
  CHECK(queues.active("n") == a);
  CHECK_FALSE(queues.waiting("n", c, 40, 30, 41));
  CHECK(queues.deleted("n", 20, 42).empty());  // b's predecessor, but b is not active
  CHECK(queues.deleted("n", 10, 43) == std::vector<LockId>{a});
  // a is granted: b becomes active and looks at once.
  CHECK(queues.remove("n", a) == b);
  // c leaving changes nothing for b.
  CHECK(queues.remove("n", c) == std::nullopt);
  CHECK(queues.size() == 1);
  auto all = queues.all_active();
  REQUIRE(all.size() == 1);
  CHECK(all[0].second == b);
}

TEST_CASE("waiter queues: a deletion while the acquire was in flight", "[etcd][waiters]") {
  WaiterQueues queues;
  SECTION("after the answer's revision: look again at once") {
    queues.sent("n", a, 1);
    CHECK(queues.deleted("n", 10, 25).empty());
    CHECK(queues.waiting("n", a, 20, 10, 22));
  }
  SECTION("at or before the answer's revision: the answer saw it") {
    queues.sent("n", a, 1);
    CHECK(queues.deleted("n", 10, 20).empty());
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 20));
  }
  SECTION("while a re-check was in flight") {
    queues.sent("n", a, 1);
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 20));
    queues.checking("n", a);
    CHECK(queues.deleted("n", 12, 26).empty());  // not its predecessor, but its answer may name it
    CHECK(queues.waiting("n", a, 20, 12, 25));
    queues.checking("n", a);
    CHECK_FALSE(queues.waiting("n", a, 20, 11, 27));  // the memory was reset by checking()
  }
  SECTION("a later key's deletion is never in its way") {
    queues.sent("n", a, 1);
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 20));
    queues.checking("n", a);
    CHECK(queues.deleted("n", 21, 26).empty());
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 25));
  }
  SECTION("a waiter that is not the earliest does not look") {
    queues.sent("n", a, 1);
    queues.sent("n", b, 1);
    CHECK_FALSE(queues.waiting("n", a, 20, 10, 20));
    CHECK(queues.deleted("n", 10, 24) == std::vector<LockId>{a});
    CHECK_FALSE(queues.waiting("n", b, 22, 20, 22));
  }
}

TEST_CASE("waiter queues: removing what is not there changes nothing", "[etcd][waiters]") {
  WaiterQueues queues;
  CHECK(queues.remove("n", a) == std::nullopt);
  queues.sent("n", a, 1);
  CHECK(queues.remove("n", b) == std::nullopt);
  CHECK(queues.contains("n", a));
  CHECK_FALSE(queues.waiting("n", b, 1, 0, 1));
  queues.checking("x", a);
  CHECK(queues.size() == 1);
  // An in-flight acquire is never the active one (its revision is not known).
  CHECK_FALSE(queues.active("n"));
  CHECK(queues.all_active().empty());
}
