// WaiterQueues: which local waiter of a name is active, what it waits for (its predecessor
// for a mutex, any earlier key for a semaphore), and deletions that went by while a check
// was in flight.
#include <catch2/catch.hpp>

#include "etcd/waiter_queues.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

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

// The watch carries no previous values: a DELETE names only the key. Its create revision
// comes from the PUT seen while the name had requests; a key never seen put was created
// before the first of them, so before every waiter's own key.
TEST_CASE("waiter queues: deletions known by key only (no prev_kv)", "[etcd][waiters]") {
  WaiterQueues queues;
  SECTION("a mutex waiter looks only when its predecessor's key goes") {
    queues.sent("n", a, 1);
    queues.put("n", "/p/n/a", 20);  // its own key, seen put
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 20, "/p/n/pred"));
    CHECK(queues.deleted_key("n", "/p/n/older", 21).empty());  // earlier, not the predecessor
    CHECK(queues.deleted_key("m", "/p/m/pred", 22).empty());   // another name
    queues.put("n", "/p/n/later", 23);
    CHECK(queues.deleted_key("n", "/p/n/later", 24).empty());  // created after its own
    CHECK(queues.deleted_key("n", "/p/n/pred", 25) == std::vector<LockId>{a});
  }
  SECTION("a semaphore waiter: a key seen created after its own is not in its way") {
    queues.sent("s", a, 3);
    queues.put("s", "/p/s/a", 20);
    CHECK_FALSE(queues.waiting("s", a, 20, 0, 20));
    queues.put("s", "/p/s/later", 30);
    CHECK(queues.deleted_key("s", "/p/s/later", 31).empty());
    // Never seen put: created before any request on the name was sent, so before its own.
    CHECK(queues.deleted_key("s", "/p/s/early", 32) == std::vector<LockId>{a});
    // A key seen put before its own (another replica's, created while its acquire was on its way).
    queues.put("s", "/p/s/before", 19);
    CHECK(queues.deleted_key("s", "/p/s/before", 33) == std::vector<LockId>{a});
  }
  SECTION("a deletion of an unknown key while the acquire is in flight: looks again at once") {
    queues.sent("n", a, 1);
    CHECK(queues.deleted_key("n", "/p/n/pred", 25).empty());
    CHECK(queues.waiting("n", a, 20, 15, 22, "/p/n/pred"));
  }
  SECTION("a later key's deletion while a re-check is in flight does not make it look again") {
    queues.sent("n", a, 1);
    queues.put("n", "/p/n/a", 20);
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 20, "/p/n/pred"));
    queues.checking("n", a);
    queues.put("n", "/p/n/later", 21);
    CHECK(queues.deleted_key("n", "/p/n/later", 25).empty());
    CHECK_FALSE(queues.waiting("n", a, 20, 15, 22, "/p/n/pred"));
  }
  SECTION("remembered only while the name has requests, and forgotten with it") {
    queues.put("n", "/p/n/x", 5);  // no request on n: not remembered
    CHECK(queues.remembered() == 0);
    queues.sent("n", a, 1);
    queues.put("n", "/p/n/a", 20);
    queues.put("n", "/p/n/x", 21);
    CHECK(queues.remembered() == 2);
    CHECK(queues.deleted_key("n", "/p/n/x", 22).empty());  // forgotten once deleted
    CHECK(queues.remembered() == 1);
    CHECK(queues.remove("n", a) == std::nullopt);
    CHECK(queues.remembered() == 0);
  }
}

TEST_CASE("waiter queues: a mutex waiter goes by its predecessor's key, not a remembered revision",
          "[etcd][waiters]") {
  WaiterQueues queues;
  queues.sent("n", a, 1);
  queues.put("n", "/p/n/pred", 10);  // remembered, then made again at 20 while the watch missed it
  queues.put("n", "/p/n/a", 25);
  CHECK_FALSE(queues.waiting("n", a, 25, 20, 25, "/p/n/pred"));
  CHECK(queues.deleted_key("n", "/p/n/pred", 40) == std::vector<LockId>{a});
  queues.checking("n", a);
  queues.forget_created();
  CHECK(queues.remembered() == 0);
}

TEST_CASE("waiter queues: a check in flight while the watch missed events (compaction) looks again at its answer",
          "[etcd][waiters]") {
  WaiterQueues queues;
  queues.sent("n", a, 1);
  queues.sent("n", b, 1);  // its acquire still on its way
  CHECK_FALSE(queues.waiting("n", a, 20, 15, 20, "n/k15"));
  queues.checking("n", a);  // a re-check on its way, read at 21
  // The watch resumes past a compaction: the deletion of n/k15 at 22 may have gone by unseen,
  // and neither request is in all_active() (both in flight).
  queues.forget_created();
  CHECK(queues.all_active().empty());
  CHECK(queues.waiting("n", a, 20, 15, 21, "n/k15"));  // its answer predates what was missed
  CHECK_FALSE(queues.waiting("n", b, 30, 20, 23, "n/k20"));  // not the earliest: a's turn first
  CHECK(queues.remove("n", a) == b);  // and b looks when a goes
}

}  // namespace TNL_UNITY_ID
