#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/stat.h>

#include "lock_store.hpp"
#include "process.hpp"

using tnl::LockId;
using tnl::LockStore;
using namespace std::chrono_literals;

namespace {
LockStore::Record record(std::uint64_t n, std::optional<LockStore::WallTime> expires) {
  return LockStore::Record{LockId{1, n}, "name-" + std::to_string(n), "who", "because", "127.0.0.1:1", 1, 1000 + n,
                           LockStore::WallTime{} + std::chrono::milliseconds(1'700'000'000'000 + n), expires};
}
}  // namespace

TEST_CASE("the store keeps detached locks across reopening, in token order", "[lock_store]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  const auto expiry = LockStore::WallTime{} + 1'800'000'000'000ms;
  {
    LockStore store(file);
    CHECK(store.persistent());
    CHECK(store.load().empty());
    REQUIRE(store.insert(record(2, expiry)));
    REQUIRE(store.insert(record(1, std::nullopt)));
    REQUIRE(store.insert(record(3, std::nullopt)));
    CHECK(store.erase(LockId{1, 3}));
    REQUIRE(store.update_expiry(LockId{1, 1}, expiry));
    CHECK_FALSE(store.insert(record(2, std::nullopt)));  // the same id twice is refused
  }
  LockStore store(file);
  const auto loaded = store.load();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].id == LockId{1, 1});
  CHECK(loaded[0].name == "name-1");
  CHECK(loaded[0].who == "who");
  CHECK(loaded[0].reason == "because");
  CHECK(loaded[0].peer == "127.0.0.1:1");
  CHECK(loaded[0].token == 1001);
  CHECK(loaded[0].created == LockStore::WallTime{} + 1'700'000'000'001ms);
  CHECK(loaded[0].expires == expiry);
  CHECK(loaded[1].id == LockId{1, 2});
  CHECK(loaded[1].expires == expiry);
}

TEST_CASE("without a file the store keeps nothing and never fails", "[lock_store]") {
  LockStore store{std::filesystem::path{}};
  CHECK_FALSE(store.persistent());
  CHECK(store.insert(record(1, std::nullopt)));
  CHECK(store.load().empty());
  CHECK(store.erase(LockId{1, 1}));
}

TEST_CASE("a state file that cannot be opened is an error at start", "[lock_store]") {
  tnl::test::TempDir dir;
  CHECK_THROWS_AS(LockStore(dir.path() / "missing" / "locks.sqlite3"), std::runtime_error);
}
