#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <limits>
#include <thread>

#include "lock_store.hpp"
#include "process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockId;
using tnl::LockStore;
using namespace std::chrono_literals;

namespace {
LockStore::Record record(std::uint64_t n, std::optional<LockStore::WallTime> expires) {
  return LockStore::Record{LockId{0x4000, 0x8000000000000000ULL | n}, "name-" + std::to_string(n), "who", "because", "127.0.0.1:1", 1, 1000 + n,
                           LockStore::WallTime{} + std::chrono::milliseconds(1'700'000'000'000 + n), expires, "",
                           std::nullopt};
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
    REQUIRE(store.update_expiry(LockId{0x4000, 0x8000000000000001ULL}, expiry, "", std::nullopt));
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
  CHECK(loaded[1].boot_id.empty());  // saved without a boot clock
  CHECK_FALSE(loaded[1].expires_boot);
}

TEST_CASE("the store keeps a lease's end on the boot clock with its boot id, and a renewal moves both",
          "[lock_store][boot]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  const std::string boot = "8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b";
  const std::string other_boot = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
  const auto expiry = LockStore::WallTime{} + 1'800'000'000'000ms;
  {
    LockStore store(file);
    auto leased = record(1, expiry);
    leased.boot_id = boot;
    leased.expires_boot = 86'400'000ms;
    REQUIRE(store.insert(leased));
    auto forever = record(2, std::nullopt);
    forever.boot_id = boot;
    forever.expires_boot = 5ms;  // no lease: not saved
    REQUIRE(store.insert(forever));
  }
  LockStore store(file);
  auto loaded = store.load();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].boot_id == boot);
  CHECK(loaded[0].expires_boot == std::optional<LockStore::BootTime>(86'400'000ms));
  CHECK(loaded[1].boot_id == boot);
  CHECK_FALSE(loaded[1].expires_boot);

  REQUIRE(store.update_expiry(loaded[1].id, expiry + 1s, other_boot, 90'000'000ms));
  REQUIRE(store.update_expiry(loaded[0].id, std::nullopt, boot, 1ms));  // no lease: no boot clock end
  loaded = store.load();
  CHECK(loaded[0].expires == std::nullopt);
  CHECK_FALSE(loaded[0].expires_boot);
  CHECK(loaded[1].expires == expiry + 1s);
  CHECK(loaded[1].boot_id == other_boot);
  CHECK(loaded[1].expires_boot == std::optional<LockStore::BootTime>(90'000'000ms));

  REQUIRE(store.save_lease_ends({{loaded[1].id, expiry + 2s, 7'000ms}}, boot));
  loaded = store.load();
  CHECK(loaded[1].boot_id == boot);
  CHECK(loaded[1].expires_boot == std::optional<LockStore::BootTime>(7'000ms));
  CHECK(loaded[1].expires == expiry + 2s);
  CHECK(loaded[0].expires == std::nullopt);  // the other row is untouched
}

namespace {

/// Creates the table as the first version of the server did (without the boot clock's
/// columns), or without any types at all, and writes one row into it.
void write_old_database(const std::filesystem::path& file, bool typed) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  const char* create = typed ? "CREATE TABLE detached_locks (id TEXT PRIMARY KEY, name TEXT NOT NULL, who TEXT NOT "
                               "NULL, reason TEXT NOT NULL, peer TEXT NOT NULL, lock_limit INTEGER NOT NULL, token "
                               "INTEGER NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER)"
                             : "CREATE TABLE detached_locks (id, name, who, reason, peer, lock_limit, token, "
                               "created_ms, expires_ms)";
  for (const char* sql : {create, "INSERT INTO detached_locks VALUES ('0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', "
                                  "'old', 'ci', '', '', 1, 77, 1700000000000, 4102444800000)"}) {
    INFO(sql);
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  sqlite3_close(db);
}

}  // namespace

TEST_CASE("a database from before the boot clock's columns gets them in place, its rows have none",
          "[lock_store][boot][migration]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  const bool typed = GENERATE(true, false);
  INFO((typed ? "the first version's schema" : "a table without types"));
  write_old_database(file, typed);
  {
    LockStore store(file);
    const auto loaded = store.load();
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].name == "old");
    CHECK(loaded[0].token == 77);
    CHECK(loaded[0].expires == LockStore::WallTime{} + 4'102'444'800'000ms);
    CHECK(loaded[0].boot_id.empty());  // falls back to the wall clock
    CHECK_FALSE(loaded[0].expires_boot);
    auto fresh = record(1, LockStore::WallTime{} + 1'800'000'000'000ms);
    fresh.boot_id = "8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b";
    fresh.expires_boot = 1'000ms;
    REQUIRE(store.insert(fresh));
    REQUIRE(store.update_expiry(loaded[0].id, loaded[0].expires, fresh.boot_id, 2'000ms));
  }
  LockStore reopened(file);  // the columns are there now: nothing to add, nothing lost
  const auto loaded = reopened.load();
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].boot_id == "8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b");
  CHECK(loaded[0].expires_boot == std::optional<LockStore::BootTime>(2'000ms));
  CHECK(loaded[1].expires_boot == std::optional<LockStore::BootTime>(1'000ms));
}

TEST_CASE("update_holder saves a new who and/or reason, and nothing else", "[lock_store]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  const auto saved = record(1, std::nullopt);
  {
    LockStore store(file);
    REQUIRE(store.insert(saved));
    REQUIRE(store.insert(record(2, std::nullopt)));
    REQUIRE(store.update_holder(saved.id, std::string("new-who"), std::nullopt));
    REQUIRE(store.update_holder(saved.id, std::nullopt, std::string("new-reason")));
    // A lock not saved (a connection's): nothing to change, not a failure.
    REQUIRE(store.update_holder(LockId{0x4000, 0x8000000000000009ULL}, std::string("x"), std::string("y")));
  }
  const auto loaded = LockStore(file).load();  // reopened: it was written
  REQUIRE(loaded.size() == 2);
  CHECK(loaded[0].id == saved.id);
  CHECK(loaded[0].who == "new-who");
  CHECK(loaded[0].reason == "new-reason");
  CHECK(loaded[0].name == saved.name);
  CHECK(loaded[0].token == saved.token);
  CHECK(loaded[0].created == saved.created);
  CHECK(loaded[1].who == "who");  // the other one untouched
  CHECK(loaded[1].reason == "because");
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
          integer(1'700'000'600'000), text("8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b"), integer(3'600'000)};
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
  CHECK(record->boot_id == "8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b");
  CHECK(record->expires_boot == std::optional<LockStore::BootTime>(3'600'000ms));

  auto no_expiry = good_row();
  no_expiry[8] = null();
  no_expiry[10] = null();
  CHECK_FALSE(LockStore::decode(no_expiry)->expires);
  CHECK(LockStore::decode(no_expiry)->boot_id == "8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b");
  auto old_row = good_row();  // saved before the boot clock's columns: the wall clock alone
  old_row[9] = null();
  old_row[10] = null();
  CHECK(LockStore::decode(old_row)->boot_id.empty());
  CHECK_FALSE(LockStore::decode(old_row)->expires_boot);
  auto highest_token = good_row();
  highest_token[6] = integer(std::int64_t{1} << 62);
  CHECK(LockStore::decode(highest_token));
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
      {6, integer((std::int64_t{1} << 62) + 1)},  // above any mark TokenGenerator accepts
      {6, integer(std::numeric_limits<std::int64_t>::max())},
      {9, integer(7)},
      {9, text("")},
      {9, text("not-a-boot")},
      {9, text("8A4C3F0E-1B2D-4E5F-9A6B-7C8D9E0F1A2B")},  // the kernel writes lower case
      {9, text("8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b\n")},
      {9, {Type::blob, 0, "8a4c3f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b"}},
      {9, null()},  // a lease on the boot clock of no known boot
      {10, integer(-1)},
      {10, integer(LockStore::max_millis + 1)},
      {10, text("3600000")},
      {10, {Type::real, 0, {}}},
      {10, null()},  // a lease and a boot, but no end on its clock
  };
  // Two columns at once: a lease end on the boot clock without any lease.
  std::vector<std::vector<std::pair<std::size_t, LockStore::Value>>> bad_pairs{
      {{8, null()}, {10, integer(5)}},
      {{8, null()}, {9, null()}},
  };
  for (const auto& [column, value] : bad) bad_pairs.push_back({{column, value}});
  for (const auto& changes : bad_pairs) {
    auto row = good_row();
    for (const auto& [column, value] : changes) row[column] = value;
    const auto& [column, value] = changes.back();
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
           "INSERT INTO detached_locks VALUES ('garbage', 'n', '', '', '', 1, 5, 0, NULL, NULL, NULL)",
           "INSERT INTO detached_locks VALUES ('0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'bad name', '', '', '', 1, 5, 0, "
           "NULL, NULL, NULL)",
           "INSERT INTO detached_locks VALUES ('1f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'n', '', '', '', 99999, 5, 0, "
           "NULL, NULL, NULL)",
           "INSERT INTO detached_locks VALUES ('2f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'n', '', '', '', 1, 5, 0, "
           "9223372036854775807, NULL, NULL)",
           "INSERT INTO detached_locks VALUES ('3f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21', 'n', '', '', '', 1, 5, 0, "
           "1000, 'no boot', 1000)",
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

}  // namespace TNL_UNITY_ID
