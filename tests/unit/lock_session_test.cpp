// LockSession on a real Connection over loopback, against a backend that answers only when
// the test says (ScriptedLockBackend): what the connection's lock does when completions
// come later, when the connection ends while it waits or holds, and when the backend takes
// a hold away.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "scripted_connection.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::AcquireOutcome;
using tnl::ReleaseBy;
using tnl::ReleaseOutcome;
using State = tnl::LockSession::State;
using namespace std::chrono_literals;

using Fixture = tnl::test::ScriptedConnection;

TEST_CASE("a session waits until the grant comes, then holds, and the end of its connection releases with consent",
          "[lock_session]") {
  Fixture f;
  f.send("lock,name:a,wait:inf\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  const auto id = f.backend.acquires[0].id;
  CHECK(f.backend.acquires[0].request.name == "a");
  CHECK_FALSE(f.backend.acquires[0].watcher.expired());  // the connection's session
  CHECK(f.session().state() == State::waiting);
  CHECK_FALSE(f.read_line(50ms));  // nothing answered before the grant

  f.backend.grant(id);
  CHECK(f.read_line() == "ok");
  CHECK(f.session().state() == State::holding);
  CHECK(f.session().id() == id);

  f.client.close();
  REQUIRE(f.run_until([&] { return f.backend.releases.size() == 1; }));
  CHECK(f.backend.releases[0].id == id);
  CHECK(f.backend.releases[0].by == ReleaseBy::holder);
  CHECK(f.session().state() == State::none);
  f.backend.answer_release(0, ReleaseOutcome::released);
  CHECK(f.backend.held.empty());
}

TEST_CASE("a session whose connection ends while it waits cancels its request", "[lock_session]") {
  Fixture f;
  f.send("lock,name:a,wait:inf\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  f.client.close();
  REQUIRE(f.run_until([&] { return f.backend.cancels.size() == 1; }));
  CHECK(f.backend.cancels[0] == f.backend.acquires[0].id);
  CHECK(f.backend.pending_acquires() == 0);  // cancelled: its completion never runs
  CHECK(f.backend.releases.empty());
  CHECK(f.session().state() == State::none);
}

TEST_CASE("`released` is answered only once the release has completed", "[lock_session]") {
  Fixture f;
  f.send("lock,name:a\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  f.backend.grant(f.backend.acquires[0].id);
  REQUIRE(f.read_line() == "ok");
  f.send("release\n");
  REQUIRE(f.run_until([&] { return f.backend.releases.size() == 1; }));
  CHECK(f.backend.releases[0].by == ReleaseBy::holder);
  CHECK(f.session().state() == State::none);
  CHECK_FALSE(f.read_line(50ms));  // not before the backend says it is free
  f.backend.answer_release(0, ReleaseOutcome::released);
  CHECK(f.read_line() == "released");
  CHECK(f.closed_by_server());
  CHECK(f.backend.releases.size() == 1);  // the connection's end releases nothing more
}

TEST_CASE("lost() sends `lost,REASON` and closes, and the session does not release the hold again", "[lock_session]") {
  Fixture f;
  f.send("lock,name:a\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  const auto id = f.backend.acquires[0].id;
  f.backend.grant(id);
  REQUIRE(f.read_line() == "ok");
  // A loss for another id (an earlier hold) is not this one's.
  f.connection->lost(tnl::test::ScriptedLockBackend::make_id(99), "released by admin");
  CHECK(f.session().state() == State::holding);
  CHECK(f.backend.lose(id, "released by admin"));
  CHECK(f.read_line() == "lost,released by admin");
  CHECK(f.closed_by_server());
  CHECK(f.session().state() == State::none);
  CHECK(f.backend.releases.empty());
}

TEST_CASE("a holder timeout queues `lost` first, then releases without consent", "[lock_session]") {
  tnl::ServerConfig config;
  config.holder_timeout = 50ms;
  Fixture f(config);
  f.send("lock,name:a\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  const auto id = f.backend.acquires[0].id;
  f.backend.grant(id);
  REQUIRE(f.read_line() == "ok");
  REQUIRE(f.run_until([&] { return f.backend.releases.size() == 1; }));
  CHECK(f.backend.releases[0].id == id);
  CHECK(f.backend.releases[0].by == ReleaseBy::holder_gone);
  CHECK(f.read_line() == "lost,holder timeout");
  CHECK(f.stats.reaped_holder_count == 1);
}

TEST_CASE("a detached grant leaves the session holding nothing", "[lock_session]") {
  Fixture f;
  f.send("lock,name:d,ttl:60\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  CHECK(f.backend.acquires[0].watcher.expired());  // nobody to tell: it outlives the connection
  f.backend.grant(f.backend.acquires[0].id);
  const auto line = f.read_line();
  REQUIRE(line);
  CHECK(line->rfind("ok,id:", 0) == 0);
  CHECK(f.session().state() == State::none);
  CHECK(f.closed_by_server());
  CHECK(f.backend.releases.empty());
}

TEST_CASE("lines that follow a request the backend has not answered wait for its answer", "[lock_session]") {
  Fixture f;
  f.send(".stats\nping\n");
  REQUIRE(f.run_until([&] { return f.backend.reads.size() == 1; }));
  CHECK_FALSE(f.read_line(50ms));  // `ping` is not answered before `.stats`
  f.backend.answer_read(0, tnl::LockView{});
  const auto line = f.read_line();
  REQUIRE(line);
  CHECK(line->rfind("stats,", 0) == 0);
  CHECK(f.closed_by_server());  // `.stats` closes: `ping` is never answered
  CHECK(f.received.find("pong") == std::string::npos);
}

TEST_CASE("lines after a lock request that does not wait are answered after its grant, in order", "[lock_session]") {
  Fixture f;
  f.send("lock,name:a\n.keepalive\nrelease\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  CHECK_FALSE(f.read_line(50ms));  // `.keepalive` waits for the lock's answer
  f.backend.grant(f.backend.acquires[0].id);
  CHECK(f.read_line() == "ok");
  CHECK(f.read_line() == "alive");
  REQUIRE(f.run_until([&] { return f.backend.releases.size() == 1; }));
  f.backend.answer_release(0, ReleaseOutcome::released);
  CHECK(f.read_line() == "released");
  CHECK(f.closed_by_server());
}

TEST_CASE("a waiter's keepalives are answered while its grant has not come", "[lock_session]") {
  Fixture f;
  f.send("lock,name:a,wait:inf\n.keepalive\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  CHECK(f.read_line() == "alive");
  f.backend.grant(f.backend.acquires[0].id);
  CHECK(f.read_line() == "ok");
}

}  // namespace TNL_UNITY_ID
