// DeferringLockBackend over a scripted backend: every call reaches the inner backend, and
// every answer its caller, only on a later turn of the loop, in the order made; the caller
// sees only its own ids; and every race of a cancel, a release or a lost() with an answer
// on its way ends as the interface promises (nothing leaked, no lost() after release()).
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
  /// The id the inner backend gave the n-th request (from 1).
  static LockId inner_id(std::size_t n) { return ScriptedLockBackend::make_id(n); }
  /// Grants `name` and delivers it: returns the caller's id.
  LockId held(const std::string& name) {
    const LockId id = acquire(name);
    drain();
    inner->grant(inner->acquires.back().id);
    drain();
    REQUIRE(caller->answers.back().outcome == AcquireOutcome::granted);
    REQUIRE(caller->answers.back().id == id);
    return id;
  }
};

/// A listing's record of the hold `id`.
tnl::HoldRecord record_of(const LockId& id) {
  tnl::HoldRecord record;
  record.id = id;
  return record;
}

}  // namespace

TEST_CASE("deferring backend: a request reaches the inner backend, and its answer the caller, each on a later turn",
          "[deferring]") {
  Fixture f;
  const LockId id = f.acquire("a");
  CHECK(f.inner->acquires.empty());  // not in the call
  CHECK(f.backend->queued() == 1);
  f.turn();
  REQUIRE(f.inner->acquires.size() == 1);
  CHECK(f.inner->acquires[0].request.name == "a");
  CHECK_FALSE(f.inner->acquires[0].watcher.expired());  // a watcher of its own, relaying lost()

  f.inner->grant(f.inner->acquires[0].id, 7);
  CHECK(f.caller->answers.empty());  // not in the inner's completion
  f.turn();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].outcome == AcquireOutcome::granted);
  CHECK(f.caller->answers[0].token == 7);
  // The caller sees the id acquire() returned, never the inner's.
  CHECK(f.caller->answers[0].id == id);
  CHECK(id != f.inner->acquires[0].id);
  CHECK(f.backend->cancel(id) == false);  // delivered: the hold is the caller's
}

TEST_CASE("deferring backend: ids look like the local backend's (version 8 for a connection, random 4 for detached)",
          "[deferring]") {
  Fixture f;
  const LockId connection = f.acquire("a");
  const LockId detached = f.backend->acquire(Fixture::request("b", HoldKind::detached), f.caller->done());
  CHECK(connection.names_owner());
  CHECK(detached.is_random());
  f.turn();
  REQUIRE(f.inner->acquires.size() == 2);
  CHECK(f.inner->acquires[1].watcher.expired());  // none given, none passed on
}

TEST_CASE("deferring backend: a cancel before the request was handed on ends it there", "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  CHECK(f.backend->cancel(id));
  f.drain();
  CHECK(f.inner->acquires.empty());
  CHECK(f.caller->answers.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a cancel while the inner backend decides is the inner's cancel", "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  REQUIRE(f.inner->acquires.size() == 1);
  CHECK(f.backend->cancel(id));
  REQUIRE(f.inner->cancels.size() == 1);
  CHECK(f.inner->cancels[0] == Fixture::inner_id(1));
  CHECK(f.inner->acquires[0].state == ScriptedLockBackend::AcquireState::cancelled);
  f.drain();
  CHECK(f.caller->answers.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a cancel after the inner granted, before the grant was delivered, releases it",
          "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  f.inner->grant(Fixture::inner_id(1));
  REQUIRE(f.backend->queued() == 1);  // the grant, on its way
  CHECK(f.backend->cancel(id));
  CHECK(f.inner->cancels.empty());  // nothing to cancel there: it answered
  f.drain();
  CHECK(f.caller->answers.empty());  // the grant is never delivered
  // ... and goes back to the inner backend, with consent.
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == Fixture::inner_id(1));
  CHECK(f.inner->releases[0].by == ReleaseBy::holder);
  f.inner->answer_release(0, ReleaseOutcome::released);
  f.drain();
  CHECK(f.inner->held.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a cancel after a refusal, before it was delivered, releases nothing",
          "[deferring][cancel]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  f.inner->complete(Fixture::inner_id(1), AcquireOutcome::timed_out);
  CHECK(f.backend->cancel(id));
  f.drain();
  CHECK(f.caller->answers.empty());
  CHECK(f.inner->releases.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a lost() for a grant cancelled before delivery is dropped", "[deferring][cancel][lost]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  f.inner->grant(Fixture::inner_id(1));
  SECTION("lost before the cancel") {
    f.inner->lose(Fixture::inner_id(1), "released by admin");
    CHECK(f.backend->cancel(id));
  }
  SECTION("lost after the cancel, before its release reached the inner backend") {
    CHECK(f.backend->cancel(id));
    f.inner->lose(Fixture::inner_id(1), "released by admin");
  }
  f.drain();
  CHECK(f.caller->events.empty());
  // The release it sent back finds nothing: harmless.
  REQUIRE(f.inner->releases.size() == 1);
  f.inner->answer_release(0, ReleaseOutcome::unknown);
  f.drain();
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a refusal is delivered with the caller's id and ends the request", "[deferring]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  f.inner->complete(Fixture::inner_id(1), AcquireOutcome::not_granted);
  f.drain();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].outcome == AcquireOutcome::not_granted);
  CHECK(f.caller->answers[0].id == id);
  CHECK(f.backend->cancel(id) == false);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: release is handed on with the inner id and answered later", "[deferring][release]") {
  Fixture f;
  const LockId id = f.held("a");
  std::optional<ReleaseOutcome> outcome;
  f.backend->release(id, ReleaseBy::holder, "me", [&](ReleaseOutcome o) { outcome = o; });
  CHECK(f.inner->releases.empty());
  f.drain();
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == Fixture::inner_id(1));
  CHECK(f.inner->releases[0].who == "me");
  f.inner->answer_release(0, ReleaseOutcome::released);
  CHECK_FALSE(outcome);
  f.drain();
  CHECK(outcome == ReleaseOutcome::released);
  CHECK(f.inner->held.empty());
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: an id it never gave out is passed through (a restored detached lock)",
          "[deferring][release]") {
  Fixture f;
  const LockId restored{0x1234'5678'9abc'4def, 0x8000'0000'0000'0001};
  std::optional<ReleaseOutcome> released;
  std::optional<RenewOutcome> renewed;
  f.backend->release(restored, ReleaseBy::unlock, "x", [&](ReleaseOutcome o) { released = o; });
  f.backend->renew(restored, 30s, [&](RenewOutcome o) { renewed = o; });
  f.drain();
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == restored);
  CHECK(f.inner->releases[0].by == ReleaseBy::unlock);
  REQUIRE(f.inner->renews.size() == 1);
  CHECK(f.inner->renews[0].id == restored);
  CHECK(f.inner->renews[0].ttl == std::optional<DeferringLockBackend::Clock::duration>(30s));
  f.inner->answer_release(0, ReleaseOutcome::released);
  f.inner->answer_renew(0, RenewOutcome::unknown);
  f.drain();
  CHECK(released == ReleaseOutcome::released);
  CHECK(renewed == RenewOutcome::unknown);
}

TEST_CASE("deferring backend: lost() reaches the holder's watcher with its id, after its grant", "[deferring][lost]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  // The inner grants and takes the hold away at once: the caller hears both, in that order.
  f.inner->grant(Fixture::inner_id(1));
  f.inner->lose(Fixture::inner_id(1), "released by admin");
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
    f.inner->lose(Fixture::inner_id(1), "released by admin");
    f.backend->release(id, ReleaseBy::holder, "me", {});
  }
  SECTION("the loss after the release call, before it reached the inner backend") {
    f.backend->release(id, ReleaseBy::holder_gone, "me", {});
    f.inner->lose(Fixture::inner_id(1), "backend unavailable");
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
  f.drain();
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == Fixture::inner_id(1));
  SECTION("lost, then the answer") {
    f.inner->lose(Fixture::inner_id(1), "released by admin");
    f.inner->answer_release(0, ReleaseOutcome::forced);
    f.drain();
    CHECK(f.caller->events == std::vector<std::string>{"answer", "lost"});
  }
  SECTION("the answer, then lost") {
    f.inner->answer_release(0, ReleaseOutcome::forced);
    f.inner->lose(Fixture::inner_id(1), "released by admin");
    f.drain();
    CHECK(f.caller->events == std::vector<std::string>{"answer", "lost"});
  }
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
  f.drain();
  // The inner takes the first hold away and grants the waiter, in one go, as a forced release does.
  f.inner->lose(Fixture::inner_id(1), "released by admin");
  f.inner->grant(Fixture::inner_id(2));
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

TEST_CASE("deferring backend: with random delays, calls and answers keep their order", "[deferring]") {
  const auto seed = GENERATE(1, 7, 42, 1000);
  Fixture f(2ms, seed);
  constexpr std::size_t count = 50;
  std::vector<LockId> ids;
  for (std::size_t i = 0; i < count; ++i) ids.push_back(f.acquire("lock-" + std::to_string(i)));
  f.drain();
  REQUIRE(f.inner->acquires.size() == count);
  for (std::size_t i = 0; i < count; ++i) CHECK(f.inner->acquires[i].request.name == "lock-" + std::to_string(i));
  for (std::size_t i = 0; i < count; ++i) f.inner->grant(Fixture::inner_id(i + 1));
  f.drain();
  REQUIRE(f.caller->answers.size() == count);
  for (std::size_t i = 0; i < count; ++i) CHECK(f.caller->answers[i].id == ids[i]);
  // A release and an acquire made in that order reach the inner backend in that order.
  f.backend->release(ids[0], ReleaseBy::holder, "me", {});
  f.acquire("lock-0");
  f.drain();
  REQUIRE(f.inner->releases.size() == 1);
  REQUIRE(f.inner->acquires.size() == count + 1);
  CHECK(f.inner->acquires.back().request.name == "lock-0");
}

TEST_CASE("deferring backend: a delay is at most the maximum, and no step runs in the turn that queued it",
          "[deferring]") {
  Fixture f(20ms, 3);
  const auto start = DeferringLockBackend::Clock::now();
  f.acquire("a");
  f.drain();
  CHECK(DeferringLockBackend::Clock::now() - start < 2s);  // loosely: one delay of at most 20 ms
  // A grant answered inside the step that handed the request on is not delivered in that step.
  Fixture g;
  g.acquire("b");
  g.turn();
  g.inner->grant(Fixture::inner_id(1));
  CHECK(g.caller->answers.empty());
  CHECK(g.backend->queued() == 1);
}

TEST_CASE("deferring backend: listings show the caller's ids, and a read by id asks with the inner's",
          "[deferring][read]") {
  Fixture f;
  const LockId holder = f.held("a");
  const LockId waiter = f.acquire("a");
  f.drain();
  std::optional<tnl::LockView> seen;
  tnl::LockQuery query;
  query.id = holder;
  f.backend->read(query, [&](tnl::LockView view) { seen = std::move(view); });
  f.drain();
  REQUIRE(f.inner->reads.size() == 1);
  CHECK(f.inner->reads[0].query.id == std::optional<LockId>(Fixture::inner_id(1)));

  tnl::NameRecord name;
  name.name = "a";
  name.holders.push_back(record_of(Fixture::inner_id(1)));
  name.waiters.push_back(record_of(Fixture::inner_id(2)));
  const LockId stranger{0x1234'5678'9abc'4def, 0x8000'0000'0000'0001};
  name.delays.push_back(record_of(stranger));
  tnl::LockView view;
  view.version = 9;
  view.names = std::make_shared<const std::vector<tnl::NameRecord>>(std::vector<tnl::NameRecord>{name});
  f.inner->answer_read(0, view);
  CHECK_FALSE(seen);
  f.drain();
  REQUIRE(seen);
  CHECK(seen->version == 9);
  REQUIRE(seen->names);
  REQUIRE(seen->names->size() == 1);
  const auto& record = seen->names->at(0);
  CHECK(record.holders.at(0).id == holder);
  CHECK(record.waiters.at(0).id == waiter);
  CHECK(record.delays.at(0).id == stranger);  // not one of ours: as it is
  // The inner's listing itself is unchanged (it is shared with its other readers).
  CHECK(view.names->at(0).holders.at(0).id == Fixture::inner_id(1));

  // Totals only: no listing to translate.
  f.backend->read(tnl::LockQuery{std::nullopt, std::nullopt, false}, [&](tnl::LockView v) { seen = std::move(v); });
  f.drain();
  tnl::LockView totals;
  totals.totals.waiters = 1;
  f.inner->answer_read(1, totals);
  f.drain();
  CHECK_FALSE(seen->names);
  CHECK(seen->totals.waiters == 1);
}

TEST_CASE("deferring backend: a hold the inner backend no longer knows is forgotten", "[deferring][renew]") {
  Fixture f;
  const LockId id = f.backend->acquire(Fixture::request("a", HoldKind::detached), f.caller->done());
  f.drain();
  f.inner->grant(Fixture::inner_id(1));
  f.drain();
  std::optional<RenewOutcome> outcome;
  f.backend->renew(id, 60s, [&](RenewOutcome o) { outcome = o; });
  f.drain();
  CHECK(f.inner->renews.at(0).id == Fixture::inner_id(1));
  f.inner->answer_renew(0, RenewOutcome::renewed);
  f.drain();
  CHECK(outcome == RenewOutcome::renewed);
  CHECK(f.backend->tracked() == 2);  // the hold and its translation
  // Its lease ran out at the inner backend, without a word.
  f.backend->renew(id, 60s, [&](RenewOutcome o) { outcome = o; });
  f.drain();
  f.inner->answer_renew(1, RenewOutcome::unknown);
  f.drain();
  CHECK(outcome == RenewOutcome::unknown);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferring backend: a release of a request still waiting keeps it waiting", "[deferring][release]") {
  Fixture f;
  const LockId id = f.acquire("a");
  f.drain();
  f.backend->release(id, ReleaseBy::admin, "admin", {});
  f.drain();
  REQUIRE(f.inner->releases.size() == 1);
  CHECK(f.inner->releases[0].id == Fixture::inner_id(1));
  f.inner->answer_release(0, ReleaseOutcome::unknown);
  f.drain();
  f.inner->grant(Fixture::inner_id(1));
  f.drain();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].id == id);
}

TEST_CASE("deferring backend: available() and shut_down() go straight to the inner backend", "[deferring]") {
  Fixture f;
  CHECK(f.backend->available());
  f.inner->is_available = false;
  CHECK_FALSE(f.backend->available());
  f.backend->shut_down();
  CHECK(f.inner->shut_downs == 1);
  // A request made afterwards still reaches the inner backend, which answers it.
  f.acquire("a");
  f.drain();
  f.inner->complete(Fixture::inner_id(1), AcquireOutcome::unavailable);
  f.drain();
  REQUIRE(f.caller->answers.size() == 1);
  CHECK(f.caller->answers[0].outcome == AcquireOutcome::unavailable);
}

TEST_CASE("deferring backend: destroyed with steps queued and its timer armed, it does no harm", "[deferring]") {
  asio::io_context io;
  int answers = 0;
  {
    DeferringLockBackend backend(std::make_unique<ScriptedLockBackend>(), io, 0ms, 1);
    backend.acquire(Fixture::request("a"), [&](const AcquireResult&) { ++answers; });
    io.run_one();  // handed on
    backend.read({}, [&](tnl::LockView) { ++answers; });
    // The timer's handler is queued now, or soon: it must not touch the backend.
  }
  io.restart();
  io.run();
  CHECK(answers == 0);
}

TEST_CASE("defer_for_tests: unset or empty leaves the backend; MAX_MS[:SEED] wraps it; anything else is refused",
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
  // A third cancelled before they are handed on.
  for (int i = 0; i < 10; ++i) CHECK(f.backend->cancel(ids[i]));
  f.drain();
  REQUIRE(f.inner->acquires.size() == 20);
  // A third cancelled while the inner decides; the rest granted, half of those cancelled in flight.
  for (int i = 10; i < 20; ++i) CHECK(f.backend->cancel(ids[i]));
  for (std::size_t n = 11; n <= 20; ++n) f.inner->grant(Fixture::inner_id(n));
  for (int i = 20; i < 25; ++i) CHECK(f.backend->cancel(ids[i]));
  f.drain();
  REQUIRE(f.caller->answers.size() == 5);
  for (const auto& answer : f.caller->answers) f.backend->release(answer.id, ReleaseBy::holder, "me", {});
  f.drain();
  REQUIRE(f.inner->releases.size() == 10);  // 5 cancelled grants sent back, 5 released
  for (std::size_t i = 0; i < 10; ++i) f.inner->answer_release(i, ReleaseOutcome::released);
  f.drain();
  CHECK(f.inner->held.empty());
  CHECK(f.backend->tracked() == 0);
  CHECK(f.caller->losses.empty());
}
