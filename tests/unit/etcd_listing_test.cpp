// The etcd backend's listing builder: a Range's keys to names with holders (the `limit`
// earliest by create revision), delays and waiters, and the totals.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "etcd/etcd_listing.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::etcd;
using tnl::HoldKind;
using tnl::LockId;

namespace {

const KeyLayout layout("/p/");
const auto as_of = std::chrono::system_clock::time_point(std::chrono::seconds(1700000100));

/// Keeps the strings that the KeyEntry views point into.
struct Keys {
  std::vector<std::pair<std::string, std::string>> text;
  std::vector<std::int64_t> revisions;
  void add(std::string key, std::string value, std::int64_t revision) {
    text.emplace_back(std::move(key), std::move(value));
    revisions.push_back(revision);
  }
  /// Ours: a value with `kind`, `limit`, since `since_ms`.
  LockId ours(const std::string& name, std::int64_t revision, HoldKind kind = HoldKind::connection,
              std::size_t limit = 1, std::int64_t since_ms = 1700000000000) {
    LockValue value;
    value.id = LockId{static_cast<std::uint64_t>(revision), 0x4000};
    value.kind = kind;
    value.limit = limit;
    value.client_id = "c" + std::to_string(revision);
    value.since_ms = since_ms;
    if (kind != HoldKind::connection) value.expires_ms = since_ms + 5000 - revision;
    add(layout.lock_key(name, *value.id), encode(value), revision);
    return *value.id;
  }
  [[nodiscard]] std::vector<KeyEntry> entries() const {
    std::vector<KeyEntry> out;
    for (std::size_t i = 0; i < text.size(); ++i) out.push_back(KeyEntry{text[i].first, text[i].second, revisions[i]});
    return out;
  }
};

}  // namespace

TEST_CASE("etcd listing: a mutex with waiters, in create order", "[etcd][listing]") {
  Keys keys;
  const LockId waiter2 = keys.ours("db", 30);
  const LockId holder = keys.ours("db", 10);
  const LockId waiter1 = keys.ours("db", 20);
  keys.add(layout.index_key(holder), layout.lock_key("db", holder), 10);  // skipped
  const Listing listing = build_listing(layout, keys.entries(), std::nullopt, as_of);
  REQUIRE(listing.names.size() == 1);
  const auto& name = listing.names[0];
  CHECK(name.name == "db");
  CHECK(name.limit == 1);
  REQUIRE(name.holders.size() == 1);
  CHECK(name.holders[0].id == holder);
  CHECK(name.holders[0].token == 10);
  CHECK(name.holders[0].token_durable);
  CHECK(name.holders[0].client_id == "c10");
  REQUIRE(name.waiters.size() == 2);
  CHECK(name.waiters[0].id == waiter1);
  CHECK(name.waiters[1].id == waiter2);
  CHECK(name.waiters[0].token == 0);
  CHECK(listing.totals.held_names == 1);
  CHECK(listing.totals.connection_holds == 1);
  CHECK(listing.totals.waiters == 2);
  CHECK(listing.totals.oldest_connection_hold == from_ms(1700000000000));
}

TEST_CASE("etcd listing: a semaphore, a delay keeping its slot, detached holds", "[etcd][listing]") {
  Keys keys;
  keys.ours("sem", 5, HoldKind::detached, 3, 1700000000500);
  keys.ours("sem", 6, HoldKind::delay, 3);
  keys.ours("sem", 7, HoldKind::connection, 3);
  keys.ours("sem", 8, HoldKind::connection, 3);  // the fourth: waits
  keys.ours("sem", 9, HoldKind::delay, 3);       // a delay beyond the limit is not possible; listed as waiting
  const Listing listing = build_listing(layout, keys.entries(), std::nullopt, as_of);
  REQUIRE(listing.names.size() == 1);
  const auto& name = listing.names[0];
  CHECK(name.limit == 3);
  REQUIRE(name.holders.size() == 2);
  CHECK(name.holders[0].kind == HoldKind::detached);
  CHECK(name.holders[0].expires == from_ms(1700000000500 + 5000 - 5));
  CHECK(name.holders[1].token == 7);
  REQUIRE(name.delays.size() == 1);
  CHECK(name.delays[0].token == 6);
  CHECK(name.waiters.size() == 2);
  CHECK(listing.totals.detached_holds == 1);
  CHECK(listing.totals.connection_holds == 1);
  CHECK(listing.totals.delays == 1);
  CHECK(listing.totals.oldest_detached_hold == from_ms(1700000000500));
}

TEST_CASE("etcd listing: a name kept only by a delay is not held", "[etcd][listing]") {
  Keys keys;
  keys.ours("d", 4, HoldKind::delay);
  keys.ours("d", 5);  // waits for the delay to end
  const Listing listing = build_listing(layout, keys.entries(), std::nullopt, as_of);
  CHECK(listing.totals.held_names == 0);
  CHECK(listing.totals.delays == 1);
  CHECK(listing.totals.waiters == 1);
  CHECK(listing.names[0].holders.empty());
}

TEST_CASE("etcd listing: etcdctl keys hold as mutexes, foreign junk is skipped", "[etcd][listing]") {
  Keys keys;
  keys.add("/p/db/694d7b2ac3e1f01a", "", 3);  // etcdctl lock /p/db
  const LockId ours = keys.ours("db", 4);
  keys.add("/p/distlock", "1700000000;host;why", 2);  // no name: skipped
  keys.add("/p/bad name/x", "", 5);                    // not a valid name: skipped
  keys.add("/other/db/x", "", 6);                      // another realm
  const Listing listing = build_listing(layout, keys.entries(), std::nullopt, as_of);
  REQUIRE(listing.names.size() == 1);
  const auto& name = listing.names[0];
  REQUIRE(name.holders.size() == 1);
  CHECK(name.holders[0].token == 3);
  CHECK(name.holders[0].id == LockId{0, 3});
  CHECK(name.holders[0].since == as_of);
  CHECK(name.holders[0].kind == HoldKind::connection);
  REQUIRE(name.waiters.size() == 1);
  CHECK(name.waiters[0].id == ours);
}

TEST_CASE("etcd listing: names sorted, one name alone, nothing", "[etcd][listing]") {
  Keys keys;
  keys.ours("b", 2);
  keys.ours("a", 3);
  keys.ours("c", 1);
  const Listing all = build_listing(layout, keys.entries(), std::nullopt, as_of);
  REQUIRE(all.names.size() == 3);
  CHECK(all.names[0].name == "a");
  CHECK(all.names[2].name == "c");
  CHECK(all.totals.held_names == 3);
  const Listing one = build_listing(layout, keys.entries(), std::string("b"), as_of);
  REQUIRE(one.names.size() == 1);
  CHECK(one.names[0].name == "b");
  CHECK(one.totals.held_names == 1);
  CHECK(build_listing(layout, {}, std::nullopt, as_of).names.empty());
  CHECK(build_listing(layout, keys.entries(), std::string("zz"), as_of).names.empty());
}

}  // namespace TNL_UNITY_ID
