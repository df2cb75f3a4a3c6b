#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <limits>
#include <thread>

#include "lock_store.hpp"
#include "process.hpp"

using tnl::LockId;
using tnl::LockStore;
using namespace std::chrono_literals;

namespace {
LockStore::Record record(std::uint64_t n, std::optional<LockStore::WallTime> expires) {
  return LockStore::Record{LockId{0x4000, 0x8000000000000000ULL | n}, "name-" + std::to_string(n), "who", "because", "127.0.0.1:1", 1, 1000 + n,
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
    CHECK(store.erase(LockId{0x4000, 0x8000000000000003ULL}));
    REQUIRE(store.update_expiry(LockId{0x4000, 0x8000000000000001ULL}, expiry));
    CHECK_FALSE(store.insert(record(2, std::nullopt)));  // the same id twice is refused
  }
  LockStore store(file);
  const auto loaded = store.load();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].id == (LockId{0x4000, 0x8000000000000001ULL}));
  CHECK(loaded[0].name == "name-1");
  CHECK(loaded[0].who == "who");
  CHECK(loaded[0].reason == "because");
  CHECK(loaded[0].peer == "127.0.0.1:1");
  CHECK(loaded[0].token == 1001);
  CHECK(loaded[0].created == LockStore::WallTime{} + 1'700'000'000'001ms);
  CHECK(loaded[0].expires == expiry);
  CHECK(loaded[1].id == (LockId{0x4000, 0x8000000000000002ULL}));
  CHECK(loaded[1].expires == expiry);
}

TEST_CASE("without a file the store keeps nothing and never fails", "[lock_store]") {
  LockStore store{std::filesystem::path{}};
  CHECK_FALSE(store.persistent());
  CHECK(store.insert(record(1, std::nullopt)));
  CHECK(store.load().empty());
  CHECK(store.erase(LockId{0x4000, 0x8000000000000001ULL}));
}

TEST_CASE("a state file that cannot be opened is an error at start", "[lock_store]") {
  tnl::test::TempDir dir;
  CHECK_THROWS_AS(LockStore(dir.path() / "missing" / "locks.sqlite3"), std::runtime_error);
}

namespace {

using Type = LockStore::Value::Type;

LockStore::Value text(std::string value) { return {Type::text, 0, std::move(value)}; }
LockStore::Value integer(std::int64_t value) { return {Type::integer, value, {}}; }
LockStore::Value null() { return {}; }

/// A row as this server writes it.
LockStore::RawRow good_row() {
  return {text("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21"), text("deploy"), text("ci-7"), text("nightly, as usual"),
          text("[::1]:5000"), integer(3), integer(1'795'430'400'123'456), integer(1'700'000'000'000),
          integer(1'700'000'600'000)};
}

}  // namespace

TEST_CASE("decode turns a row as saved into its lock", "[lock_store][decode]") {
  const auto record = LockStore::decode(good_row());
  REQUIRE(record);
  CHECK(record->id.str() == "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");
  CHECK(record->name == "deploy");
  CHECK(record->who == "ci-7");
  CHECK(record->reason == "nightly, as usual");
  CHECK(record->peer == "[::1]:5000");
  CHECK(record->limit == 3);
  CHECK(record->token == 1'795'430'400'123'456);
  CHECK(record->created == LockStore::WallTime{} + 1'700'000'000'000ms);
  CHECK(record->expires == LockStore::WallTime{} + 1'700'000'600'000ms);

  auto no_expiry = good_row();
  no_expiry[8] = null();
  CHECK_FALSE(LockStore::decode(no_expiry)->expires);
  auto empty_texts = good_row();  // an HTTP lock: no peer, no reason
  empty_texts[3] = text("");
  empty_texts[4] = text("");
  CHECK(LockStore::decode(empty_texts));
}

TEST_CASE("decode rejects every bad column, and says which", "[lock_store][decode]") {
  const std::string long_text(257, 'x');
  const std::vector<std::pair<std::size_t, LockStore::Value>> bad{
      {0, null()},
      {0, integer(5)},
      {0, text("not-a-uuid")},
      {0, text("0f8e5b1c-4a53-8c1e-9d2a-6f1b7a0c3e21")},  // version 8: a connection's, never saved
      {0, text("0f8e5b1c-4a53-4c1e-cd2a-6f1b7a0c3e21")},  // wrong variant
      {0, {Type::blob, 0, "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21"}},
      {1, null()},
      {1, text("")},
      {1, text("has space")},
      {1, text(std::string("nul\0byte", 8))},
      {1, integer(7)},
      {2, null()},
      {2, text("tab\there")},
      {2, text(long_text)},
      {3, integer(1)},
      {3, text("line\nbreak")},
      {4, {Type::blob, 0, "1.2.3.4:5"}},
      {4, text(std::string("\x7f", 1))},
      {5, integer(0)},
      {5, integer(-1)},
      {5, integer(10'001)},
      {5, text("3")},
      {5, {Type::real, 0, {}}},
      {6, integer(0)},
      {6, integer(-5)},
      {6, null()},
      {7, integer(-1)},
      {7, integer(LockStore::max_millis + 1)},
      {7, integer(std::numeric_limits<std::int64_t>::max())},
      {7, null()},
      {8, integer(-1)},
      {8, integer(std::numeric_limits<std::int64_t>::min())},
      {8, text("tomorrow")},
  };
  for (const auto& [column, value] : bad) {
    auto row = good_row();
    row[column] = value;
    std::string problem;
    INFO("column " << column << " type " << static_cast<int>(value.type) << " '" << value.bytes << "' "
                   << value.integer);
    CHECK_FALSE(LockStore::decode(row, &problem));
    CHECK_FALSE(problem.empty());
  }
}

TEST_CASE("load skips rows that do not decode and keeps the others", "[lock_store][decode]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  LockStore store(file);
  REQUIRE(store.insert(record(1, std::nullopt)));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  for (const char* sql : {
           "INSERT INTO detached_locks VALUES ('garbage', 'n', '', '', '', 1, 5, 0, NULL)",
           "INSERT INTO detached_locks VALUES ('0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'bad name', '', '', '', 1, 5, 0, "
           "NULL)",
           "INSERT INTO detached_locks VALUES ('1f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'n', '', '', '', 99999, 5, 0, "
           "NULL)",
           "INSERT INTO detached_locks VALUES ('2f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'n', '', '', '', 1, 5, 0, "
           "9223372036854775807)",
       }) {
    INFO(sql);
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  sqlite3_close(db);
  const auto loaded = store.load();
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].id == record(1, std::nullopt).id);
}

TEST_CASE("a write waits for another connection's lock up to the busy timeout, then fails", "[lock_store][busy]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  sqlite3* other = nullptr;
  {
    LockStore create(file);
  }
  REQUIRE(sqlite3_open(file.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);

  SECTION("held throughout: the write fails after the timeout, not at once and not later") {
    LockStore store(file, 200ms);
    const auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(store.insert(record(1, std::nullopt)));
    const auto took = std::chrono::steady_clock::now() - started;
    CHECK(took >= 150ms);
    CHECK(took < 10s);
  }
  SECTION("let go meanwhile: the write waits and succeeds") {
    LockStore store(file, 10s);
    std::thread release([other] {
      std::this_thread::sleep_for(50ms);
      sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
    });
    CHECK(store.insert(record(1, std::nullopt)));
    release.join();
    CHECK(store.load().size() == 1);
  }
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  CHECK(LockStore::busy_timeout > 0ms);
  CHECK(LockStore::busy_timeout <= 100ms);  // the event loop waits with it
}

TEST_CASE("erase_all forgets many locks in one transaction, or none", "[lock_store]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  LockStore store(file);
  for (std::uint64_t n = 1; n <= 5; ++n) REQUIRE(store.insert(record(n, std::nullopt)));
  CHECK(store.erase_all({}));
  CHECK(store.erase_all({LockId{0x4000, 0x8000000000000001ULL}, LockId{0x4000, 0x8000000000000003ULL}}));
  CHECK(store.load().size() == 3);

  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  CHECK_FALSE(store.erase_all({LockId{0x4000, 0x8000000000000002ULL}}));
  sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  CHECK(store.load().size() == 3);
  CHECK(store.erase_all({LockId{0x4000, 0x8000000000000002ULL}}));
  CHECK(store.load().size() == 2);
}
