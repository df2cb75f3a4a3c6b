// DeferringLockBackend over a scripted backend: every call reaches the inner backend at
// once, every answer its caller only on a later turn of the loop, in the order the inner
// backend gave them; and every race of a cancel, a release or a lost() with an answer on its
// way ends as the interface promises (nothing leaked, no lost() after release(), none
// before the grant).
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "deferring_lock_backend.hpp"
#include "scoped_env.hpp"
#include "scripted_lock_backend.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::AcquireOutcome;
using tnl::AcquireRequest;
using tnl::AcquireResult;
using tnl::DeferringLockBackend;
using tnl::HoldKind;
using tnl::LockId;
using tnl::ReleaseBy;
using tnl::ReleaseOutcome;
using tnl::RenewOutcome;
using tnl::test::ScriptedLockBackend;
using namespace std::chrono_literals;

namespace {

/// What a caller was told: each acquire's answer, each lost().
struct Caller : tnl::HoldWatcher {
  std::vector<AcquireResult> answers;
  std::vector<std::pair<LockId, std::string>> losses;
  /// Everything in the order it came: "answer" or "lost".
  std::vector<std::string> events;

  DeferringLockBackend::AcquireDone done() {
    return [this](const AcquireResult& result) {
      answers.push_back(result);
      events.emplace_back("answer");
    };
  }
  void lost(const LockId& id, std::string_view reason) override {
    losses.emplace_back(id, std::string(reason));
    events.emplace_back("lost");
  }
};

/// The decorator over a scripted backend, with delays of zero (every step: the next turn)
/// unless a test asks for more.
struct Fixture {
  asio::io_context io;
  ScriptedLockBackend* inner = nullptr;
  std::unique_ptr<DeferringLockBackend> backend;
  std::shared_ptr<Caller> caller = std::make_shared<Caller>();

  explicit Fixture(DeferringLockBackend::Clock::duration max_delay = 0ms, std::uint64_t seed = 1) {
    auto scripted = std::make_unique<ScriptedLockBackend>();
    inner = scripted.get();
    backend = std::make_unique<DeferringLockBackend>(std::move(scripted), io, max_delay, seed);
  }

  /// One turn of the loop: one batch of the steps that are due.
  void turn() {
    io.restart();
    io.run_one();
  }
  /// Turns until nothing is queued.
  void drain() {
    for (int turns = 0; backend->queued() > 0; ++turns) {
      REQUIRE(turns < 100'000);
      turn();
    }
  }

  static AcquireRequest request(const std::string& name, HoldKind kind = HoldKind::connection) {
    AcquireRequest request;
    request.name = name;
    request.kind = kind;
    if (kind == HoldKind::detached) request.ttl = 60s;
    return request;
  }
  /// Asks for `name` with the caller as watcher (a connection's way).
  LockId acquire(const std::string& name) {
    return backend->acquire(request(name), caller->done(), std::weak_ptr<tnl::HoldWatcher>(caller));
  }
  /// Grants `name` and delivers it: returns its id.
  LockId held(const std::string& name) {
    const LockId id = acquire(name);
    inner->grant(id);
    drain();
    REQUIRE(caller->answers.back().outcome == AcquireOutcome::granted);
    REQUIRE(caller->answers.back().id == id);
    return id;
  }
};

}  // namespace

TEST_CASE("deferring backend: a call reaches the inner backend at once, its answer the caller on a later turn",
          "[deferring]") {
  Fixture f;
  const LockId id = f.acquire("a");
  REQUIRE(f.inner->acquires.size() == 1);
  CHECK(f.inner->acquires[0].id == id);  // the backend's id, as the interface says
  CHECK(f.inner->acquires[0].request.name == "a");
  CHECK_FALSE(f.inner->acquires[0].watcher.expired());  // a watcher of its own, relaying lost()
  CHECK(f.backend->queued() == 0);

  f.inner->grant(id, 7);
  CHECK(f.caller->answers.empty());  // not in the inner's completion
  CHECK(f.backend->queued() == 1);
  f.turn();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].outcome == AcquireOutcome::granted);
  CHECK(f.caller->answers[0].token == 7);
  CHECK(f.caller->answers[0].id == id);
  CHECK(f.backend->cancel(id) == false);  // delivered: the hold is the caller's
  CHECK(f.inner->cancels.empty());
}

TEST_CASE("deferring backend: no watcher given, none passed on, and a detached grant is not tracked once delivered",
          "[deferring]") {
  Fixture f;
  const LockId id = f.backend->acquire(Fixture::request("b", HoldKind::detached), f.caller->done());
  REQUIRE(f.inner->acquires.size() == 1);
  CHECK(f.inner->acquires[0].watcher.expired());
  f.inner->grant(id);
  f.drain();
  CHECK(f.caller->answers.size() == 1);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a cancel while the inner backend decides is the inner's cancel", "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  CHECK(f.backend->cancel(id));
  REQUIRE(f.inner->cancels.size() == 1);
  CHECK(f.inner->cancels[0] == id);
  CHECK(f.inner->acquires[0].state == ScriptedLockBackend::AcquireState::cancelled);
  f.drain();
  CHECK(f.caller->answers.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a cancel after the inner granted, before the grant was delivered, releases it",
          "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.inner->grant(id);
  REQUIRE(f.backend->queued() == 1);  // the grant, on its way
  CHECK(f.backend->cancel(id));
  CHECK(f.inner->cancels.empty());  // nothing to cancel there: it answered
  // The grant goes back to the inner backend, with consent ...
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == id);
  CHECK(f.inner->releases[0].by == ReleaseBy::holder);
  f.inner->answer_release(0, ReleaseOutcome::released);
  f.drain();
  CHECK(f.caller->answers.empty());  // ... and is never delivered
  CHECK(f.inner->held.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a cancel after a refusal, before it was delivered, releases nothing",
          "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.inner->complete(id, AcquireOutcome::timed_out);
  CHECK(f.backend->cancel(id));
  f.drain();
  CHECK(f.caller->answers.empty());
  CHECK(f.inner->releases.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a lost() for a grant cancelled before delivery is dropped", "[deferring][cancel][lost]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.inner->grant(id);
  f.inner->lose(id, "released by admin");  // queued after the grant
  CHECK(f.backend->cancel(id));
  f.drain();
  CHECK(f.caller->events.empty());
  REQUIRE(f.inner->releases.size() == 1);  // sent back; it finds nothing there: harmless
  f.inner->answer_release(0, ReleaseOutcome::unknown);
  f.drain();
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a refusal is delivered and ends the request", "[deferring]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.inner->complete(id, AcquireOutcome::not_granted);
  f.drain();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].outcome == AcquireOutcome::not_granted);
  CHECK(f.caller->answers[0].id == id);
  CHECK(f.backend->cancel(id) == false);
  CHECK(f.inner->cancels.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: release, renew and read reach the inner backend at once, their answers later",
          "[deferring][release]") {
  Fixture f;
  const LockId id = f.held("a");
  std::optional<ReleaseOutcome> released;
  std::optional<RenewOutcome> renewed;
  std::optional<tnl::LockView> seen;
  f.backend->release(id, ReleaseBy::holder, "me", [&](ReleaseOutcome o) { released = o; });
  f.backend->renew(id, 30s, [&](RenewOutcome o) { renewed = o; });
  tnl::LockQuery query;
  query.id = id;
  f.backend->read(query, [&](tnl::LockView view) { seen = std::move(view); });
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == id);
  CHECK(f.inner->releases[0].who == "me");
  REQUIRE(f.inner->renews.size() == 1);
  CHECK(f.inner->renews[0].ttl == std::optional<DeferringLockBackend::Clock::duration>(30s));
  REQUIRE(f.inner->reads.size() == 1);
  CHECK(f.inner->reads[0].query.id == std::optional<LockId>(id));

  f.inner->answer_release(0, ReleaseOutcome::released);
  f.inner->answer_renew(0, RenewOutcome::unknown);
  tnl::LockView view;
  view.version = 9;
  view.totals.waiters = 3;
  f.inner->answer_read(0, view);
  CHECK_FALSE(released);
  CHECK_FALSE(renewed);
  CHECK_FALSE(seen);
  f.drain();
  CHECK(released == ReleaseOutcome::released);
  CHECK(renewed == RenewOutcome::unknown);
  REQUIRE(seen);
  CHECK(seen->version == 9);
  CHECK(seen->totals.waiters == 3);
  CHECK(f.inner->held.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: update reaches the inner backend at once, its answer later", "[deferring][update]") {
  Fixture f;
  const LockId id = f.held("a");
  std::optional<tnl::UpdateOutcome> outcome;
  f.backend->update(id, tnl::HoldUpdate{std::string("who-2"), std::nullopt},
                    [&](tnl::UpdateOutcome o) { outcome = o; });
  REQUIRE(f.inner->updates.size() == 1);
  CHECK(f.inner->updates[0].id == id);
  CHECK(f.inner->updates[0].changes.client_id == std::optional<std::string>("who-2"));
  CHECK_FALSE(f.inner->updates[0].changes.reason);
  f.inner->answer_update(0, tnl::UpdateOutcome::updated);
  CHECK_FALSE(outcome);
  f.drain();
  CHECK(outcome == tnl::UpdateOutcome::updated);
  std::optional<ReleaseOutcome> released;
  f.backend->release(id, ReleaseBy::holder, "me", [&](ReleaseOutcome o) { released = o; });
  f.inner->answer_release(0, ReleaseOutcome::released);
  f.drain();
  CHECK(released == ReleaseOutcome::released);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: lost() reaches the holder's watcher after its grant", "[deferring][lost]") {
  Fixture f;
  const LockId id = f.acquire("a");
  // The inner grants and takes the hold away at once: the caller hears both, in that order.
  f.inner->grant(id);
  f.inner->lose(id, "released by admin");
  CHECK(f.caller->events.empty());
  f.drain();
  REQUIRE(f.caller->events == std::vector<std::string>{"answer", "lost"});
  CHECK(f.caller->losses[0].first == id);
  CHECK(f.caller->losses[0].second == "released by admin");
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: no lost() after the holder's release", "[deferring][lost][release]") {
  Fixture f;
  const LockId id = f.held("a");
  SECTION("the loss before the release call, delivered after it") {
    f.inner->lose(id, "released by admin");
    f.backend->release(id, ReleaseBy::holder, "me", {});
  }
  SECTION("the loss after the release call, before its answer") {
    f.backend->release(id, ReleaseBy::holder_gone, "me", {});
    f.inner->lose(id, "backend unavailable");
  }
  f.drain();
  CHECK(f.caller->losses.empty());
  REQUIRE(f.inner->releases.size() == 1);
  f.inner->answer_release(0, ReleaseOutcome::unknown);
  f.drain();
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a forced release tells the holder lost(), whichever comes first at the inner backend",
          "[deferring][lost][release]") {
  Fixture f;
  const LockId id = f.held("a");
  std::optional<ReleaseOutcome> outcome;
  f.backend->release(id, ReleaseBy::admin, "admin", [&](ReleaseOutcome o) { outcome = o; });
  REQUIRE(f.inner->releases.size() == 1);
  SECTION("lost, then the answer") {
    f.inner->lose(id, "released by admin");
    f.inner->answer_release(0, ReleaseOutcome::forced);
  }
  SECTION("the answer, then lost") {
    f.inner->answer_release(0, ReleaseOutcome::forced);
    f.inner->lose(id, "released by admin");
  }
  f.drain();
  CHECK(outcome == ReleaseOutcome::forced);
  REQUIRE(f.caller->losses.size() == 1);
  CHECK(f.caller->losses[0].first == id);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a revoked holder's lost() comes before the next holder's grant", "[deferring][lost]") {
  Fixture f(3ms, GENERATE(1, 2, 3, 4, 5));
  auto second = std::make_shared<Caller>();
  const LockId first_id = f.held("a");
  const LockId second_id =
      f.backend->acquire(Fixture::request("a"), second->done(), std::weak_ptr<tnl::HoldWatcher>(second));
  // The inner takes the first hold away and grants the waiter, in one go, as a forced release does.
  f.inner->lose(first_id, "released by admin");
  f.inner->grant(second_id);
  // Turn by turn: the second grant must not arrive while the first holder has not heard.
  while (f.backend->queued() > 0) {
    f.turn();
    if (!second->answers.empty()) CHECK(f.caller->losses.size() == 1);
  }
  REQUIRE(f.caller->losses.size() == 1);
  CHECK(f.caller->losses[0].first == first_id);
  REQUIRE(second->answers.size() == 1);
  CHECK(second->answers[0].id == second_id);
}

TEST_CASE("deferring backend: with random delays, answers keep the order the inner backend gave them", "[deferring]") {
  const auto seed = GENERATE(1, 7, 42, 1000);
  Fixture f(2ms, seed);
  constexpr std::size_t count = 50;
  std::vector<LockId> ids;
  for (std::size_t i = 0; i < count; ++i) ids.push_back(f.acquire("lock-" + std::to_string(i)));
  // Answered last first, with other answers between.
  std::vector<int> reads;
  for (std::size_t i = count; i-- > 0;) {
    f.inner->grant(ids[i]);
    f.backend->read({}, [&reads, i](tnl::LockView) { reads.push_back(static_cast<int>(i)); });
    f.inner->answer_read(f.inner->reads.size() - 1, {});
  }
  const auto start = DeferringLockBackend::Clock::now();
  f.drain();
  REQUIRE(f.caller->answers.size() == count);
  for (std::size_t i = 0; i < count; ++i) CHECK(f.caller->answers[i].id == ids[count - 1 - i]);
  REQUIRE(reads.size() == count);
  for (std::size_t i = 0; i < count; ++i) CHECK(reads[i] == static_cast<int>(count - 1 - i));
  // Delivered within about the longest delay (due times do not add up), loosely.
  CHECK(DeferringLockBackend::Clock::now() - start < 1s);
}

TEST_CASE("deferring backend: an answer queued while answers are delivered waits for a later turn", "[deferring]") {
  Fixture f;
  const LockId id = f.acquire("a");
  std::optional<ReleaseOutcome> released;
  bool released_in_the_same_turn = false;
  // The caller releases as soon as it hears of the grant, and the inner answers at once.
  f.backend->acquire(Fixture::request("b"), [&](const AcquireResult& result) {
    f.backend->release(result.id, ReleaseBy::holder, "me", [&](ReleaseOutcome o) { released = o; });
    f.inner->answer_release(0, ReleaseOutcome::released);
    released_in_the_same_turn = released.has_value();
  });
  f.inner->grant(f.inner->acquires[1].id);
  f.turn();
  REQUIRE(f.inner->releases.size() == 1);
  CHECK_FALSE(released_in_the_same_turn);
  CHECK_FALSE(released);
  f.turn();
  CHECK(released == ReleaseOutcome::released);
  CHECK(f.backend->cancel(id));  // (the other request, still waiting)
}

TEST_CASE("deferring backend: available() and shut_down() go straight to the inner backend", "[deferring]") {
  Fixture f;
  CHECK(f.backend->available());
  f.inner->is_available = false;
  CHECK_FALSE(f.backend->available());
  f.backend->shut_down();
  CHECK(f.inner->shut_downs == 1);
  // A request made afterwards still reaches the inner backend, which answers it.
  const LockId id = f.acquire("a");
  f.inner->complete(id, AcquireOutcome::unavailable);
  f.drain();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].outcome == AcquireOutcome::unavailable);
}

TEST_CASE("deferring backend: destroyed with steps queued and its timer armed, it does no harm", "[deferring]") {
  asio::io_context io;
  int answers = 0;
  {
    auto scripted = std::make_unique<ScriptedLockBackend>();
    ScriptedLockBackend* inner = scripted.get();
    DeferringLockBackend backend(std::move(scripted), io, 0ms, 1);
    backend.acquire(Fixture::request("a"), [&](const AcquireResult&) { ++answers; });
    inner->grant(inner->acquires[0].id);
    backend.read({}, [&](tnl::LockView) { ++answers; });
    inner->answer_read(0, {});
    // The timer's handler is queued now, or soon: it must not touch the backend.
  }
  io.restart();
  io.run();
  CHECK(answers == 0);
}

TEST_CASE("defer_for_tests: unset or empty leaves the backend, MAX_MS[:SEED] wraps it, anything else is refused",
          "[deferring][options]") {
  asio::io_context io;
  const std::string variable = "TCPNETLOCK_TEST_DEFER_BACKEND";
  SECTION("unset or empty") {
    const auto value = GENERATE(std::optional<std::string>(), std::optional<std::string>(""));
    tnl::test::ScopedEnv env(tnl::test::Env{{variable, value}});
    auto backend = std::make_unique<ScriptedLockBackend>();
    auto* raw = backend.get();
    CHECK(tnl::defer_for_tests(std::move(backend), io).get() == raw);
  }
  SECTION("valid") {
    const auto value = GENERATE(as<std::string>{}, "0", "2", "60000", "3:42", "0:18446744073709551615");
    tnl::test::ScopedEnv env(tnl::test::Env{{variable, value}});
    auto wrapped = tnl::defer_for_tests(std::make_unique<ScriptedLockBackend>(), io);
    CHECK(dynamic_cast<DeferringLockBackend*>(wrapped.get()) != nullptr);
  }
  SECTION("invalid") {
    const auto value = GENERATE(as<std::string>{}, "x", "-1", "+1", " 2", "2 ", "1.5", "2:", ":5", "2:x", "2:3:4",
                                "60001", "99999999999999999999", "2:-1", "2:18446744073709551616");
    tnl::test::ScopedEnv env(tnl::test::Env{{variable, value}});
    INFO(value);
    CHECK_THROWS_AS(tnl::defer_for_tests(std::make_unique<ScriptedLockBackend>(), io), std::invalid_argument);
  }
}

TEST_CASE("deferring backend: many holds and requests in every stage leave nothing behind", "[deferring]") {
  Fixture f(1ms, 99);
  std::vector<LockId> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(f.acquire("a" + std::to_string(i)));
  // A third cancelled while the inner decides; the rest granted, half of those cancelled on
  // their way, some of the delivered ones taken away.
  for (int i = 0; i < 10; ++i) CHECK(f.backend->cancel(ids[i]));
  for (int i = 10; i < 30; ++i) f.inner->grant(ids[i]);
  for (int i = 10; i < 20; ++i) CHECK(f.backend->cancel(ids[i]));
  f.drain();
  REQUIRE(f.caller->answers.size() == 10);
  for (int i = 20; i < 25; ++i) f.inner->lose(ids[i], "backend unavailable");
  for (int i = 25; i < 30; ++i) f.backend->release(ids[i], ReleaseBy::holder, "me", {});
  REQUIRE(f.inner->releases.size() == 15);  // 10 cancelled grants sent back, 5 released
  for (std::size_t i = 0; i < f.inner->releases.size(); ++i) f.inner->answer_release(i, ReleaseOutcome::released);
  f.drain();
  CHECK(f.caller->losses.size() == 5);
  CHECK(f.inner->held.empty());
  CHECK(f.backend->tracked() == 0);
}

}  // namespace TNL_UNITY_ID
