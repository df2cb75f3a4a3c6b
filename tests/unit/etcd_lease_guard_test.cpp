// LeaseGuard: the one promise of a replica over etcd. Valid until the SEND time of the last
// acknowledged keepalive + TTL - margin; never revived once expired; gone on TTL <= 0.
#include <catch2/catch.hpp>

#include <chrono>

#include "etcd/lease_guard.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::etcd::LeaseGuard;
using State = LeaseGuard::State;
using namespace std::chrono_literals;

namespace {
const LeaseGuard::TimePoint t0 = LeaseGuard::TimePoint{} + 1000s;
}

TEST_CASE("lease guard: margin is max(1 s, TTL/5)", "[etcd][lease_guard]") {
  CHECK(LeaseGuard::margin(2s) == 1s);
  CHECK(LeaseGuard::margin(5s) == 1s);
  CHECK(LeaseGuard::margin(10s) == 2s);
  CHECK(LeaseGuard::margin(60s) == 12s);
}

TEST_CASE("lease guard: no lease is never valid", "[etcd][lease_guard]") {
  LeaseGuard guard;
  CHECK(guard.state() == State::none);
  CHECK_FALSE(guard.valid(t0));
  CHECK_FALSE(guard.valid_until());
  CHECK_FALSE(guard.last_ack_sent());
  CHECK(guard.check(t0) == State::none);
}

TEST_CASE("lease guard: the grant counts from when it was asked for", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 10);
  CHECK(guard.state() == State::valid);
  CHECK(*guard.valid_until() == t0 + 8s);
  CHECK(guard.valid(t0 + 7999ms));
  CHECK_FALSE(guard.valid(t0 + 8s));  // at valid_until: no longer
  CHECK(guard.check(t0 + 8s) == State::expired);
}

TEST_CASE("lease guard: an ack extends from its SEND time, not its arrival", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 10);
  // Sent at t0+2 s, answered 5 s later: valid until t0+2+10-2, not t0+7+8.
  CHECK(guard.acknowledged(7, t0 + 2s, 10, t0 + 7s) == State::valid);
  CHECK(*guard.valid_until() == t0 + 10s);
  CHECK(*guard.last_ack_sent() == t0 + 2s);
  CHECK_FALSE(guard.valid(t0 + 10s));
}

TEST_CASE("lease guard: acks out of order never shorten it", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 10);
  guard.acknowledged(7, t0 + 3s, 10, t0 + 3500ms);
  // The answer to an older keepalive comes after the newer one's.
  guard.acknowledged(7, t0 + 1s, 10, t0 + 4s);
  CHECK(*guard.valid_until() == t0 + 11s);
  CHECK(*guard.last_ack_sent() == t0 + 3s);
}

TEST_CASE("lease guard: TTL <= 0 in an ack: gone at once, and for good", "[etcd][lease_guard]") {
  for (const std::int64_t ttl : {0, -1}) {
    LeaseGuard guard;
    guard.start(7, t0, 10);
    CHECK(guard.acknowledged(7, t0 + 1s, ttl, t0 + 1100ms) == State::gone);
    CHECK_FALSE(guard.valid(t0 + 1200ms));
    // A later positive answer (to a keepalive sent before) does not bring it back.
    CHECK(guard.acknowledged(7, t0 + 1050ms, 10, t0 + 1300ms) == State::gone);
    CHECK_FALSE(guard.valid(t0 + 1400ms));
  }
}

TEST_CASE("lease guard: a grant with TTL <= margin is never valid", "[etcd][lease_guard]") {
  for (const std::int64_t ttl : {-5, 0, 1}) {
    LeaseGuard guard;
    guard.start(7, t0, ttl);
    CHECK(guard.state() == State::expired);
    CHECK_FALSE(guard.valid(t0));
  }
  LeaseGuard two;
  two.start(7, t0, 2);  // the smallest TTL allowed: one second of validity
  CHECK(two.valid(t0 + 999ms));
  CHECK_FALSE(two.valid(t0 + 1s));
}

TEST_CASE("lease guard: a process resumed far past valid_until acts on it first", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 4);  // valid until t0+3 s
  // SIGSTOP at t0+1 s, resumed at t0+60 s. The first thing handed over is the answer to a
  // keepalive sent just before the stop: it must not revive the guard.
  CHECK(guard.acknowledged(7, t0 + 900ms, 4, t0 + 60s) == State::expired);
  CHECK_FALSE(guard.valid(t0 + 60s));
  // Nor one sent after the resume (the lease may be alive again in etcd, but holds were
  // granted elsewhere meanwhile): only a new lease makes it valid.
  CHECK(guard.acknowledged(7, t0 + 60s, 4, t0 + 60100ms) == State::expired);
  CHECK_FALSE(guard.valid(t0 + 60100ms));
  guard.start(8, t0 + 61s, 4);
  CHECK(guard.valid(t0 + 61500ms));
}

TEST_CASE("lease guard: valid() is computed from the clock even without check()", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 10);
  // No timer ran (the process was stopped): valid() alone already says no.
  CHECK_FALSE(guard.valid(t0 + 100s));
  CHECK(guard.state() == State::valid);
  CHECK(guard.check(t0 + 100s) == State::expired);
}

TEST_CASE("lease guard: an ack for another lease is ignored", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 10);
  guard.start(8, t0 + 5s, 10);
  CHECK(guard.acknowledged(7, t0 + 6s, 0, t0 + 6100ms) == State::valid);  // the old lease's end
  CHECK(guard.acknowledged(7, t0 + 6s, 60, t0 + 6100ms) == State::valid);
  CHECK(*guard.valid_until() == t0 + 13s);
  CHECK(guard.lease() == 8);
}

TEST_CASE("lease guard: given up, then reset", "[etcd][lease_guard]") {
  LeaseGuard guard;
  guard.start(7, t0, 10);
  guard.give_up();
  CHECK(guard.state() == State::gone);
  CHECK_FALSE(guard.valid(t0));
  CHECK(guard.acknowledged(7, t0 + 1s, 10, t0 + 1s) == State::gone);
  guard.reset();
  CHECK(guard.state() == State::none);
  guard.give_up();
  CHECK(guard.state() == State::none);
}

TEST_CASE("lease guard: the earliest end is the latest acknowledged send + TTL, kept when given up",
          "[etcd][lease_guard]") {
  LeaseGuard guard;
  CHECK_FALSE(guard.earliest_end().has_value());
  guard.start(7, t0, 10);
  CHECK(guard.earliest_end() == t0 + 10s);
  CHECK(guard.valid_until() == t0 + 8s);  // the margin before it
  CHECK(guard.acknowledged(7, t0 + 3s, 10, t0 + 4s) == State::valid);
  CHECK(guard.earliest_end() == t0 + 13s);
  CHECK(guard.acknowledged(7, t0 + 2s, 10, t0 + 5s) == State::valid);  // an older answer
  CHECK(guard.earliest_end() == t0 + 13s);
  guard.give_up();  // what the backend revokes no sooner than
  CHECK(guard.earliest_end() == t0 + 13s);
}

}  // namespace TNL_UNITY_ID
