// `unlock-name,name:X` (distlock's --unlock) in the RequestHandler, over a ScriptedLockBackend
// that answers when the test says: which holds it releases, how each release's outcome
// makes the answer, and that the answer waits for the last release. docs/PROTOCOL.md,
// "Unlock by name".
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "scripted_connection.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::HoldKind;
using tnl::ReleaseBy;
using tnl::ReleaseOutcome;
using Backend = tnl::test::ScriptedLockBackend;
using Fixture = tnl::test::ScriptedConnection;

namespace {

tnl::HoldRecord hold(std::size_t n, HoldKind kind) {
  tnl::HoldRecord record;
  record.id = Backend::make_id(n);
  record.kind = kind;
  return record;
}

/// A view of `name` with these holders (and one lock-delay, which is no holder).
tnl::LockView view_of(const std::string& name, std::vector<tnl::HoldRecord> holders) {
  tnl::NameRecord record;
  record.name = name;
  record.limit = 5;
  record.holders = std::move(holders);
  record.delays.push_back(hold(99, HoldKind::delay));
  tnl::LockView view;
  view.names = std::make_shared<const std::vector<tnl::NameRecord>>(1, record);
  return view;
}

tnl::LockView empty_view() {
  tnl::LockView view;
  view.names = std::make_shared<const std::vector<tnl::NameRecord>>();
  return view;
}

/// Sends `unlock-name,name:db` and answers its read with `view`.
void ask(Fixture& f, tnl::LockView view) {
  f.send("unlock-name,name:db\n");
  REQUIRE(f.run_until([&] { return f.backend.reads.size() == 1; }));
  CHECK(f.backend.reads[0].query.name == std::optional<std::string>("db"));
  CHECK(f.backend.reads[0].query.fresh);  // never a listing that lags the locks
  f.backend.answer_read(0, std::move(view));
}

}  // namespace

TEST_CASE(
    "unlock-name: every detached hold is released by id, the connection's is not, and the answer waits for "
    "the last release",
    "[unlock-name]") {
  Fixture f;
  ask(f, view_of("db", {hold(1, HoldKind::detached), hold(2, HoldKind::connection), hold(3, HoldKind::detached)}));
  REQUIRE(f.run_until([&] { return f.backend.releases.size() == 2; }));
  CHECK(f.backend.releases[0].id == Backend::make_id(1));
  CHECK(f.backend.releases[1].id == Backend::make_id(3));
  for (const auto& release : f.backend.releases) CHECK(release.by == ReleaseBy::unlock);
  f.backend.answer_release(1, ReleaseOutcome::released);
  CHECK_FALSE(f.read_line(std::chrono::milliseconds(50)));  // one release still on its way
  f.backend.answer_release(0, ReleaseOutcome::released);
  CHECK(f.read_line() == "released");
  CHECK(f.closed_by_server());
}

TEST_CASE("unlock-name: how the releases' outcomes make the answer", "[unlock-name]") {
  struct Case {
    ReleaseOutcome first, second;
    const char* answer;
  };
  const Case c = GENERATE(
      Case{ReleaseOutcome::released, ReleaseOutcome::unknown, "released"},
      Case{ReleaseOutcome::unknown, ReleaseOutcome::unknown, "err,lock is not held"},
      Case{ReleaseOutcome::released, ReleaseOutcome::not_saved, "err,server cannot persist the lock, try again later"},
      Case{ReleaseOutcome::unavailable, ReleaseOutcome::released, "err,backend unavailable"},
      Case{ReleaseOutcome::not_saved, ReleaseOutcome::unavailable,
           "err,server cannot persist the lock, try again later"});
  INFO(c.answer);
  Fixture f;
  ask(f, view_of("db", {hold(1, HoldKind::detached), hold(2, HoldKind::detached)}));
  REQUIRE(f.run_until([&] { return f.backend.releases.size() == 2; }));
  f.backend.answer_release(0, c.first);
  f.backend.answer_release(1, c.second);
  CHECK(f.read_line() == std::string(c.answer));
  CHECK(f.closed_by_server());
}

TEST_CASE("unlock-name: nothing detached to release", "[unlock-name]") {
  SECTION("only connections hold it") {
    Fixture f;
    ask(f, view_of("db", {hold(2, HoldKind::connection)}));
    CHECK(f.read_line() == "err,lock is held by a connection");
    CHECK(f.backend.releases.empty());
  }
  SECTION("nothing holds it (a lock-delay is no holder)") {
    Fixture f;
    ask(f, view_of("db", {}));
    CHECK(f.read_line() == "err,lock is not held");
    CHECK(f.backend.releases.empty());
  }
  SECTION("the name is not in use") {
    Fixture f;
    ask(f, empty_view());
    CHECK(f.read_line() == "err,lock is not held");
    CHECK(f.backend.releases.empty());
  }
  SECTION("the backend cannot read its locks") {
    Fixture f;
    tnl::LockView failed = empty_view();
    failed.ok = false;
    ask(f, failed);
    CHECK(f.read_line() == "err,backend unavailable");
    CHECK(f.backend.releases.empty());
  }
}

TEST_CASE("unlock-name: the admin token is checked before anything is read", "[unlock-name]") {
  tnl::ServerConfig config;
  config.admin_token = "s3cret";
  Fixture f(config);
  f.send("unlock-name,name:db,admin-token:s3cret-\n");
  CHECK(f.read_line() == "err,unlock by name needs the admin token");
  CHECK(f.closed_by_server());
  CHECK(f.backend.reads.empty());
  Fixture g(config);
  g.send("unlock-name,name:db,admin-token:s3cret\n");
  CHECK(g.run_until([&] { return g.backend.reads.size() == 1; }));
}

}  // namespace TNL_UNITY_ID
