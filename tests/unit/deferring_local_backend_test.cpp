// DeferringLockBackend over the real LocalLockBackend, as the server runs in its test-only
// mode: the orders the protocol promises survive the delays (a revoked holder hears `lost`
// before the next holder is granted; waiters are granted first come, first served), a grant
// cancelled on its way is not leaked, and no answer comes in the turn that caused it.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "deferring_lock_backend.hpp"
#include "local_lock_backend.hpp"
#include "lock_store.hpp"
#include "server_stats.hpp"

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
using namespace std::chrono_literals;

namespace {

/// Everything every caller was told, in the order it came.
using Journal = std::vector<std::string>;

/// One client: its answers and losses go to the shared journal as "NAME ok", "NAME lost ...".
struct Client : tnl::HoldWatcher {
  Client(std::string name, Journal& journal) : name(std::move(name)), journal(journal) {}
  std::string name;
  Journal& journal;
  std::vector<AcquireResult> answers;

  DeferringLockBackend::AcquireDone done() {
    return [this](const AcquireResult& result) {
      answers.push_back(result);
      journal.push_back(name + (result.outcome == AcquireOutcome::granted ? " ok" : " refused"));
    };
  }
  void lost(const LockId&, std::string_view reason) override { journal.push_back(name + " lost " + std::string(reason)); }
};

struct Fixture {
  asio::io_context io;
  tnl::LockStore store{""};
  tnl::ServerStats stats;
  tnl::LocalLockBackend* local = nullptr;
  std::unique_ptr<DeferringLockBackend> backend;
  Journal journal;

  explicit Fixture(std::uint64_t seed, DeferringLockBackend::Clock::duration max_delay = 2ms) {
    auto inner = std::make_unique<tnl::LocalLockBackend>(io, store, stats);
    local = inner.get();
    backend = std::make_unique<DeferringLockBackend>(std::move(inner), io, max_delay, seed);
  }
  ~Fixture() {
    backend->shut_down();
    drain();
  }

  void drain() {
    for (int turns = 0; backend->queued() > 0; ++turns) {
      REQUIRE(turns < 100'000);
      io.restart();
      io.run_one();
    }
  }
  static AcquireRequest request(const std::string& name, bool wait, HoldKind kind = HoldKind::connection) {
    AcquireRequest request;
    request.name = name;
    request.kind = kind;
    if (wait) request.deadline = AcquireRequest::Clock::time_point::max();
    if (kind == HoldKind::detached) request.ttl = 60s;
    return request;
  }
  LockId acquire(const std::shared_ptr<Client>& client, const std::string& name, bool wait) {
    return backend->acquire(request(name, wait), client->done(), std::weak_ptr<tnl::HoldWatcher>(client));
  }
  /// The listing of `name`, as a reader gets it.
  tnl::NameRecord listing(const std::string& name) {
    std::optional<tnl::LockView> view;
    backend->read(tnl::LockQuery{name, std::nullopt, true}, [&](tnl::LockView v) { view = std::move(v); });
    drain();
    REQUIRE(view);
    REQUIRE(view->names);
    return view->names->empty() ? tnl::NameRecord{} : view->names->front();
  }
  std::size_t held_names() {
    std::optional<tnl::LockView> view;
    backend->read(tnl::LockQuery{std::nullopt, std::nullopt, false}, [&](tnl::LockView v) { view = std::move(v); });
    drain();
    REQUIRE(view);
    return view->totals.held_names;
  }
};

}  // namespace

TEST_CASE("deferred local backend: a forced release tells the holder lost before the waiter is granted",
          "[deferring][local]") {
  Fixture f(GENERATE(1, 2, 3));
  auto holder = std::make_shared<Client>("holder", f.journal);
  auto waiter = std::make_shared<Client>("waiter", f.journal);
  const LockId held = f.acquire(holder, "job", false);
  f.drain();
  const LockId waiting = f.acquire(waiter, "job", true);
  f.drain();
  // The listing shows the ids the callers were given.
  const auto record = f.listing("job");
  REQUIRE(record.holders.size() == 1);
  CHECK(record.holders[0].id == held);
  REQUIRE(record.waiters.size() == 1);
  CHECK(record.waiters[0].id == waiting);

  std::optional<ReleaseOutcome> outcome;
  f.backend->release(held, ReleaseBy::admin, "admin", [&](ReleaseOutcome o) { outcome = o; });
  f.drain();
  CHECK(outcome == ReleaseOutcome::forced);
  CHECK(f.journal == Journal{"holder ok", "holder lost released by admin", "waiter ok"});
  CHECK(waiter->answers.at(0).id == waiting);
  // The old holder's own release (it had not heard yet) finds nothing and hands nothing on.
  f.backend->release(held, ReleaseBy::holder, "holder", {});
  f.drain();
  CHECK(f.listing("job").holders.at(0).id == waiting);
}

TEST_CASE("deferred local backend: waiters are granted in the order they asked", "[deferring][local]") {
  Fixture f(GENERATE(4, 5, 6));
  auto first = std::make_shared<Client>("first", f.journal);
  f.acquire(first, "job", false);
  std::vector<std::shared_ptr<Client>> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.push_back(std::make_shared<Client>("w" + std::to_string(i), f.journal));
    f.acquire(waiters.back(), "job", true);
  }
  f.drain();
  // Each holder releases as soon as it is told it holds.
  f.backend->release(first->answers.at(0).id, ReleaseBy::holder, "first", {});
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    f.drain();
    REQUIRE(waiters[i]->answers.size() == 1);
    f.backend->release(waiters[i]->answers[0].id, ReleaseBy::holder, waiters[i]->name, {});
  }
  f.drain();
  Journal expected{"first ok"};
  for (int i = 0; i < 8; ++i) expected.push_back("w" + std::to_string(i) + " ok");
  CHECK(f.journal == expected);
  CHECK(f.held_names() == 0);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferred local backend: a grant cancelled on its way is released, and the lock is free",
          "[deferring][local][cancel]") {
  Fixture f(7, 0ms);
  auto holder = std::make_shared<Client>("holder", f.journal);
  auto waiter = std::make_shared<Client>("waiter", f.journal);
  const LockId held = f.acquire(holder, "job", false);
  const LockId waiting = f.acquire(waiter, "job", true);
  f.drain();
  // The local backend grants the waiter within the release; the grant is on its way back
  // when the waiter goes away.
  f.backend->release(held, ReleaseBy::holder, "holder", {});
  REQUIRE(waiter->answers.empty());
  REQUIRE(f.backend->queued() > 0);
  CHECK(f.backend->cancel(waiting));
  f.drain();
  CHECK(waiter->answers.empty());
  CHECK(f.held_names() == 0);  // released, not leaked
  CHECK(f.backend->tracked() == 0);
  // And the next one gets it.
  auto next = std::make_shared<Client>("next", f.journal);
  f.acquire(next, "job", false);
  f.drain();
  CHECK(f.journal == Journal{"holder ok", "next ok"});
}

TEST_CASE("deferred local backend: a detached lock: listed, renewed and unlocked by its id",
          "[deferring][local]") {
  Fixture f(GENERATE(10, 11));
  Journal journal;
  auto client = std::make_shared<Client>("c", journal);
  const LockId id = f.backend->acquire(Fixture::request("job", false, HoldKind::detached), client->done());
  f.drain();
  REQUIRE(client->answers.at(0).outcome == AcquireOutcome::granted);
  CHECK(client->answers[0].id == id);
  CHECK(id.is_random());
  CHECK(f.listing("job").holders.at(0).id == id);
  std::optional<RenewOutcome> renewed;
  f.backend->renew(id, 120s, [&](RenewOutcome o) { renewed = o; });
  std::optional<ReleaseOutcome> released;
  f.backend->release(id, ReleaseBy::unlock, "c", [&](ReleaseOutcome o) { released = o; });
  f.drain();
  CHECK(renewed == RenewOutcome::renewed);
  CHECK(released == ReleaseOutcome::released);
  CHECK(f.held_names() == 0);
  CHECK(f.backend->tracked() == 0);
}

TEST_CASE("deferred local backend: an answer the local backend gives at once still comes on a later turn",
          "[deferring][local]") {
  Fixture f(12, 0ms);
  auto client = std::make_shared<Client>("c", f.journal);
  std::optional<ReleaseOutcome> released;
  bool released_in_the_same_turn = false;
  const LockId id = f.backend->acquire(Fixture::request("job", false), [&](const AcquireResult& result) {
    client->answers.push_back(result);
    f.backend->release(result.id, ReleaseBy::holder, "c", [&](ReleaseOutcome o) { released = o; });
    released_in_the_same_turn = released.has_value();
  }, std::weak_ptr<tnl::HoldWatcher>(client));
  CHECK(client->answers.empty());  // granted inside the call, told later
  f.io.restart();
  f.io.run_one();
  REQUIRE(client->answers.size() == 1);
  CHECK(client->answers[0].id == id);
  CHECK_FALSE(released_in_the_same_turn);
  f.drain();
  CHECK(released == ReleaseOutcome::released);
  CHECK(f.backend->tracked() == 0);
}

}  // namespace TNL_UNITY_ID
