// The line protocol when the backend cannot serve (etcd out of reach): a read it could not
// make (LockView::ok false) and an `unavailable` outcome are `err,backend unavailable`, never
// an empty listing, made-up totals or `shutting-down`; once the server is going away they
// are `shutting-down`. Driven with a ScriptedLockBackend on a real connection.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "protocol_answers.hpp"
#include "scripted_connection.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::AcquireOutcome;
using tnl::ReleaseOutcome;
using tnl::RenewOutcome;
using Fixture = tnl::test::ScriptedConnection;
using namespace std::chrono_literals;

namespace {

/// A view the backend could not read.
tnl::LockView failed_read() {
  tnl::LockView view;
  view.ok = false;
  return view;
}

}  // namespace

TEST_CASE("line protocol: `.locks` and `.stats` the backend cannot read are `err,backend unavailable`",
          "[backend_unavailable]") {
  const std::string request = GENERATE(".locks\n", ".locks,name:a\n", ".stats\n");
  INFO(request);
  Fixture f;
  f.send(request);
  REQUIRE(f.run_until([&] { return f.backend.reads.size() == 1; }));
  f.backend.answer_read(0, failed_read());
  CHECK(f.read_line() == "err,backend unavailable");
  CHECK(f.closed_by_server());
}

TEST_CASE("line protocol: a lock the backend cannot serve is `err,backend unavailable` (while shutting "
          "down, `shutting-down`)",
          "[backend_unavailable]") {
  const bool shutting_down = GENERATE(false, true);
  const std::string request = GENERATE("lock,name:a\n", "lock,name:a,wait:5\n", "lock,name:a,ttl:60\n");
  INFO(request << (shutting_down ? " (shutting down)" : ""));
  Fixture f;
  f.send(request);
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  if (shutting_down) f.handler.shutting_down();
  f.backend.complete(f.backend.acquires[0].id, AcquireOutcome::unavailable);
  CHECK(f.read_line() == (shutting_down ? "shutting-down" : "err,backend unavailable"));
  CHECK(f.closed_by_server());
  CHECK(f.backend.held.empty());
  CHECK(f.backend.releases.empty());  // nothing was held: nothing to release
}

TEST_CASE("line protocol: `unlock` and `renew` the backend cannot serve are `err,backend unavailable`",
          "[backend_unavailable]") {
  const auto id = tnl::test::ScriptedLockBackend::make_id(7).str();
  SECTION("unlock") {
    Fixture f;
    f.send("unlock,id:" + id + "\n");
    REQUIRE(f.run_until([&] { return f.backend.releases.size() == 1; }));
    f.backend.answer_release(0, ReleaseOutcome::unavailable);
    CHECK(f.read_line() == "err,backend unavailable");
    CHECK(f.closed_by_server());
  }
  SECTION("renew") {
    Fixture f;
    f.send("renew,id:" + id + ",ttl:30\n");
    REQUIRE(f.run_until([&] { return f.backend.renews.size() == 1; }));
    f.backend.answer_renew(0, RenewOutcome::unavailable);
    CHECK(f.read_line() == "err,backend unavailable");
    CHECK(f.closed_by_server());
  }
  SECTION("while shutting down, both are `shutting-down`") {
    Fixture f;
    f.handler.shutting_down();
    f.send("unlock,id:" + id + "\n");
    REQUIRE(f.run_until([&] { return f.backend.releases.size() == 1; }));
    f.backend.answer_release(0, ReleaseOutcome::unavailable);
    CHECK(f.read_line() == "shutting-down");
  }
}

TEST_CASE("line protocol: a holder whose backend gives up on its hold gets `lost,backend unavailable`",
          "[backend_unavailable]") {
  Fixture f;
  f.send("lock,name:a\n");
  REQUIRE(f.run_until([&] { return f.backend.acquires.size() == 1; }));
  const auto id = f.backend.acquires[0].id;
  f.backend.grant(id);
  REQUIRE(f.read_line() == "ok");
  CHECK(f.backend.lose(id, tnl::lost_reason::backend_unavailable));
  CHECK(f.read_line() == "lost,backend unavailable");
  CHECK(f.closed_by_server());
  CHECK(f.backend.releases.empty());  // the hold is gone: not released again
}

TEST_CASE("line protocol: the error line and the lost reason name the backend alike", "[backend_unavailable]") {
  CHECK(tnl::answer::backend_unavailable == "err,backend unavailable");
  CHECK(tnl::format_lost(tnl::lost_reason::backend_unavailable) == "lost,backend unavailable");
}

}  // namespace TNL_UNITY_ID
