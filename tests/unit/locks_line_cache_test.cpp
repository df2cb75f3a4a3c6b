#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "locks_line_cache.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::HoldKind;
using tnl::LocksLineCache;
using tnl::LockView;
using tnl::NameRecord;
using namespace std::chrono_literals;

namespace {

using WallTime = std::chrono::system_clock::time_point;
const WallTime t0 = WallTime{} + 1'700'000'000'000ms;

/// A backend's locks, as the cache sees them: names with holders, a version that changes
/// with every change, and views read at a given time.
class Locks {
 public:
  /// `owner` takes `name` (a semaphore of `limit`) at `at`.
  void take(const std::string& name, std::uint64_t owner, HoldKind kind, WallTime at, std::size_t limit = 1) {
    auto& record = names_[name];
    record.name = name;
    record.limit = limit;
    tnl::HoldRecord holder;
    holder.id = tnl::LockId{0x4000, 0x8000000000000000ULL | owner};
    holder.kind = kind;
    holder.client_id = "c";
    holder.peer = "127.0.0.1:1";
    holder.since = at;
    holder.token = owner;
    if (kind == HoldKind::detached) holder.expires = at + 60s;
    record.holders.push_back(holder);
    ++version_;
  }
  /// `owner` lets go of `name`.
  void release(const std::string& name, std::uint64_t owner) {
    auto& holders = names_.at(name).holders;
    const tnl::LockId id{0x4000, 0x8000000000000000ULL | owner};
    holders.erase(std::remove_if(holders.begin(), holders.end(), [&](const auto& h) { return h.id == id; }),
                  holders.end());
    if (holders.empty()) names_.erase(name);
    ++version_;
  }
  /// What LockQuery{only, nullopt, true} reads at `as_of`.
  [[nodiscard]] LockView view(WallTime as_of, const std::optional<std::string>& only = std::nullopt) const {
    LockView view;
    view.as_of = as_of;
    view.version = version_;
    std::vector<NameRecord> listed;
    for (const auto& [name, record] : names_) {
      if (!only || *only == name) listed.push_back(record);
    }
    view.names = std::make_shared<const std::vector<NameRecord>>(std::move(listed));
    return view;
  }

 private:
  std::map<std::string, NameRecord> names_;
  std::uint64_t version_ = 1;
};

nlohmann::json parse(const std::string& line) {
  REQUIRE(line.rfind("locks,", 0) == 0);
  REQUIRE(line.back() == '\n');
  return nlohmann::json::parse(line.substr(6, line.size() - 7));
}

}  // namespace

// For the tests that are not about pacing: no build counts as slow, so that a build
// slowed by a busy machine (a few ms, paced for ten times as long) never makes a change
// wait past the few milliseconds these tests step their clock by.
constexpr auto no_pacing = std::chrono::hours(1);

TEST_CASE(".locks lines are shared until the locks change", "[locks-cache]") {
  Locks locks;
  LocksLineCache cache(LocksLineCache::default_unread_budget, no_pacing);
  locks.take("a", 1, HoldKind::connection, t0);
  const auto first = cache.line(locks.view(t0 + 1s), std::nullopt, true);
  const auto again = cache.line(locks.view(t0 + 1500ms), std::nullopt, true);
  CHECK(first == again);  // the same line, not a copy
  CHECK(parse(*first)["locks"].size() == 1);

  locks.take("b", 2, HoldKind::detached, t0 + 1500ms);
  const auto changed = cache.line(locks.view(t0 + 1600ms), std::nullopt, true);
  CHECK(changed != first);
  CHECK(parse(*changed)["locks"].size() == 2);
  CHECK(parse(*first)["locks"].size() == 1);  // a reader still writing the old line keeps it whole
  CHECK(cache.line(locks.view(t0 + 1700ms), std::nullopt, true) == changed);

  locks.release("a", 1);
  CHECK(parse(*cache.line(locks.view(t0 + 2s), std::nullopt, true))["locks"].size() == 1);
}

TEST_CASE(".locks lines are rebuilt once held_seconds would be a second stale", "[locks-cache]") {
  Locks locks;
  LocksLineCache cache(LocksLineCache::default_unread_budget, no_pacing);
  locks.take("a", 1, HoldKind::connection, t0);
  const auto first = cache.line(locks.view(t0 + 10s), std::nullopt, true);
  CHECK(parse(*first)["locks"][0]["holders"][0]["held_seconds"] == 10.0);
  CHECK(cache.line(locks.view(t0 + 10s + 999ms), std::nullopt, true) == first);
  const auto later = cache.line(locks.view(t0 + 11s), std::nullopt, true);
  CHECK(later != first);
  CHECK(parse(*later)["locks"][0]["holders"][0]["held_seconds"] == 11.0);
}

TEST_CASE(".locks lines age from when the backend took its listing, not from when they were built",
          "[locks-cache]") {
  // A backend shares one listing for up to max_age under load (its `listed_at`). A line
  // built from a listing already 900 ms old must not be kept for another second: that
  // showed the locks up to two seconds late (the adversarial review of issue 12).
  Locks locks;
  LocksLineCache cache(LocksLineCache::default_unread_budget, no_pacing);
  locks.take("a", 1, HoldKind::connection, t0);
  auto view = locks.view(t0 + 900ms);
  view.listed_at = t0;
  const auto first = cache.line(view, std::nullopt, true);
  auto same = locks.view(t0 + 950ms);
  same.listed_at = t0;
  CHECK(cache.line(same, std::nullopt, true) == first);
  // One second after the listing was taken, not after the line was built: rebuilt.
  CHECK(cache.line(locks.view(t0 + 1s), std::nullopt, true) != first);
}

TEST_CASE(".locks lines are rebuilt when the wall clock was stepped back", "[locks-cache]") {
  Locks locks;
  LocksLineCache cache(LocksLineCache::default_unread_budget, no_pacing);
  locks.take("a", 1, HoldKind::connection, t0);
  const auto first = cache.line(locks.view(t0 + 10s), std::nullopt, true);
  const auto stepped = cache.line(locks.view(t0 + 5s), std::nullopt, true);
  CHECK(stepped != first);
  CHECK(parse(*stepped)["locks"][0]["holders"][0]["held_seconds"] == 5.0);
}

TEST_CASE(".locks lines without ids leave every holder's id out", "[locks-cache]") {
  Locks locks;
  LocksLineCache cache;
  locks.take("a", 1, HoldKind::connection, t0);
  locks.take("d", 2, HoldKind::detached, t0);
  const auto with = cache.line(locks.view(t0), std::nullopt, true);
  const auto without = cache.line(locks.view(t0), std::nullopt, false);
  CHECK(with != without);
  const auto shown = parse(*with)["locks"];
  CHECK(shown[1]["holders"][0]["id"] == tnl::LockId{0x4000, 0x8000000000000002ULL}.str());
  const auto hidden = parse(*without);
  for (const auto& lock : hidden["locks"]) {
    for (const auto& holder : lock["holders"]) {
      CHECK_FALSE(holder.contains("id"));
      CHECK(holder.contains("token"));
      CHECK(holder.contains("client_id"));
    }
  }
  CHECK(without->find(tnl::LockId{0x4000, 0x8000000000000002ULL}.str()) == std::string::npos);
  CHECK(without->find(tnl::LockId{0x4000, 0x8000000000000001ULL}.str()) == std::string::npos);
  // Both variants are cached side by side.
  CHECK(cache.line(locks.view(t0), std::nullopt, false) == without);
  CHECK(cache.line(locks.view(t0), std::nullopt, true) == with);
}

TEST_CASE(".locks,name: lines are built for the one name, with or without ids", "[locks-cache]") {
  Locks locks;
  LocksLineCache cache;
  locks.take("a", 1, HoldKind::connection, t0);
  locks.take("b", 2, HoldKind::detached, t0);
  const auto only_b = parse(*cache.line(locks.view(t0, "b"), std::string("b"), false))["locks"];
  REQUIRE(only_b.size() == 1);
  CHECK(only_b[0]["name"] == "b");
  CHECK_FALSE(only_b[0]["holders"][0].contains("id"));
  CHECK(parse(*cache.line(locks.view(t0, "nobody"), std::string("nobody"), true))["locks"].empty());
}

TEST_CASE(".locks,name: lines of a name in use are shared too, until the locks change", "[locks-cache]") {
  Locks locks;
  LocksLineCache cache(LocksLineCache::default_unread_budget, no_pacing);
  for (std::uint64_t owner = 1; owner <= 3; ++owner) locks.take("s", owner, HoldKind::connection, t0, 3);
  const auto first = cache.line(locks.view(t0, "s"), std::string("s"), true);
  CHECK(cache.line(locks.view(t0 + 10ms, "s"), std::string("s"), true) == first);  // one copy for every reader
  CHECK(cache.line(locks.view(t0 + 10ms, "s"), std::string("s"), false) != first);
  CHECK(parse(*first)["locks"][0]["holders"].size() == 3);
  // A name nobody uses is answered, but not kept: a reader asking for many such names
  // cannot make the cache grow.
  const auto nobody = cache.line(locks.view(t0, "nobody"), std::string("nobody"), true);
  CHECK(cache.line(locks.view(t0, "nobody"), std::string("nobody"), true) != nobody);
  CHECK(*cache.line(locks.view(t0, "nobody"), std::string("nobody"), true) == *nobody);

  locks.release("s", 1);
  const auto changed = cache.line(locks.view(t0 + 20ms, "s"), std::string("s"), true);
  CHECK(changed != first);
  CHECK(parse(*changed)["locks"][0]["holders"].size() == 2);
}

TEST_CASE(".locks lines: while readers keep older lines unread past the budget, changes wait for max_age",
          "[locks-cache]") {
  // 300 readers that never read, each asking after a change, used to pin 300 versions of
  // the listing (160 MB for 2,000 locks) until the write timeout cut them.
  Locks locks;
  // Any older line a reader keeps is over this budget; no pacing (a build slowed down by a
  // busy machine must not make a change wait here).
  LocksLineCache cache(1, std::chrono::hours(1));
  locks.take("a", 1, HoldKind::connection, t0);
  auto first = cache.line(locks.view(t0), std::nullopt, true);
  locks.take("b", 2, HoldKind::connection, t0 + 10ms);
  // Nothing older is kept by a reader yet: fresh.
  auto second = cache.line(locks.view(t0 + 10ms), std::nullopt, true);
  CHECK(second != first);
  CHECK(parse(*second)["locks"].size() == 2);
  CHECK(cache.alive_bytes() == first->size() + second->size());
  // `first` is an older line a reader has not taken: the current one is reused...
  locks.take("c", 3, HoldKind::connection, t0 + 20ms);
  CHECK(cache.line(locks.view(t0 + 20ms), std::nullopt, true) == second);
  CHECK(cache.line(locks.view(t0 + 10ms + 999ms), std::nullopt, true) == second);
  // ... until it is max_age old.
  auto third = cache.line(locks.view(t0 + 10ms + 1s), std::nullopt, true);
  CHECK(parse(*third)["locks"].size() == 3);
  // Once the readers let go of the older lines, changes are acted on at once again.
  first.reset();
  second.reset();
  CHECK(cache.alive_bytes() == third->size());
  locks.release("c", 3);
  CHECK(parse(*cache.line(locks.view(t0 + 1100ms), std::nullopt, true))["locks"].size() == 2);
}

TEST_CASE(".locks lines that take long to build are rebuilt at most every ten build times", "[locks-cache]") {
  // A reader asking after each change of a large table used to cost a full build each:
  // listing 19,000 locks takes tens of milliseconds, and the event loop did little else.
  Locks locks;
  LocksLineCache cache;
  constexpr std::uint64_t count = 5'000;  // a build of well over a millisecond
  for (std::uint64_t owner = 1; owner <= count; ++owner) {
    locks.take("lock-" + std::to_string(owner), owner, HoldKind::connection, t0);
  }
  const auto first = cache.line(locks.view(t0 + 1s), std::nullopt, true);
  locks.release("lock-1", 1);
  CHECK(cache.line(locks.view(t0 + 1s + 1ms), std::nullopt, true) == first);
  const auto later = cache.line(locks.view(t0 + 2s), std::nullopt, true);
  CHECK(later != first);
  CHECK(parse(*later)["locks"].size() == count - 1);
}

}  // namespace TNL_UNITY_ID
