// What the fuzz targets (fuzz/) found, one test each, so that it stays fixed in the
// ordinary builds. The tag names the target; the comment above each test gives the input.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <asio/io_context.hpp>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "local_lock_backend.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "process.hpp"
#include "server_stats.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockId;
using tnl::LocalLockBackend;
using tnl::LockStore;
using tnl::LockTable;

namespace {

constexpr const char* lower_id = "'0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21'";
constexpr const char* upper_id = "'0F8E5B1C-4A53-4C1E-9D2A-6F1B7A0C3E21'";
const LockId the_id = *LockId::parse("0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");

/// Writes rows into a state file with the server's own schema, as someone editing it (or
/// a damaged disk) could. Each row is an SQL VALUES list in column order: id, name, who,
/// reason, peer, lock_limit, token, created_ms, expires_ms.
void write_rows(const std::filesystem::path& file, const std::vector<std::string>& rows) {
  { const LockStore schema(file); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  for (const auto& row : rows) {
    // The boot clock's columns (boot_id, expires_boot_ms) stay NULL: the wall clock's lease.
    const std::string sql = "INSERT INTO detached_locks (id, name, who, reason, peer, lock_limit, token, created_ms, "
                            "expires_ms) VALUES (" + row + ")";
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  sqlite3_close(db);
}

/// The same rows in a table without the server's constraints (no NOT NULL, no primary key),
/// as an older or hand-made file may have.
void write_rows_without_constraints(const std::filesystem::path& file, const std::vector<std::string>& rows) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db,
                       "CREATE TABLE detached_locks (id, name, who, reason, peer, lock_limit, token, created_ms, "
                       "expires_ms)",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  for (const auto& row : rows) {
    const std::string sql = "INSERT INTO detached_locks VALUES (" + row + ")";
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  sqlite3_close(db);
}

/// One start of the server's lock state from `file`, as Server::Server restores it.
struct Start {
  explicit Start(const std::filesystem::path& file) : store(file), service(io, store, stats) {
    restored = service.restore();
  }
  asio::io_context io;
  LockStore store;
  tnl::ServerStats stats;
  LocalLockBackend service;
  const LockTable& table = service.table();
  std::size_t restored = 0;
};

/// A row the server could have written, with `column` (0-based) replaced by `value`.
std::string row_with(int column, const std::string& value) {
  std::vector<std::string> values{"'00000000-0000-4000-8000-000000000001'",
                                  "'deploy'",
                                  "'ci-7'",
                                  "'release 42'",
                                  "'127.0.0.1:41234'",
                                  "1",
                                  "1795428902123456",
                                  "1763892902123",
                                  "4102444800000"};  // expires in 2100
  if (column >= 0) values[static_cast<std::size_t>(column)] = value;
  std::string row;
  for (const auto& v : values) row += (row.empty() ? "" : ", ") + v;
  return row;
}

}  // namespace

// fuzz_store_row: rows whose values no request could have produced were restored as they
// were: names no request may ask for, control bytes in the texts `.locks` and the logs
// show, limits above max_lock_limit, token 0, tokens stored as text or negative (both read
// back out of the token order load() promises), and times whose conversion to nanoseconds
// overflows (undefined behaviour; UBSan: "signed integer overflow: 9223372036854775807 *
// 1000000" in LockStore::load's from_millis). Such a row must be skipped, as one with a
// malformed id always was.
TEST_CASE("a state row the server could not have written is not restored", "[fuzz_store_row]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";

  SECTION("the unchanged row is restored (so that the other sections are not vacuous)") {
    write_rows(file, {row_with(-1, "")});
    Start start(file);
    CHECK(start.restored == 1);
    CHECK(start.table.holders("deploy").size() == 1);
  }

  const std::vector<std::pair<int, std::string>> bad_values{
      // id as a blob: erase() and update_expiry() compare it with a text and never match,
      // so once released it would come back at the next start
      {0, "CAST('00000000-0000-4000-8000-000000000001' AS BLOB)"},
      {1, "''"},                                  // empty name
      {1, "'a b'"},                               // not ^[a-zA-Z0-9_-]+$
      {1, "'x' || char(10)"},                     // a line break in the name
      {2, "'a' || char(10) || 'lost,forged'"},    // who: a line break
      {2, "substr(hex(zeroblob(200)), 1, 300)"},  // who: over 256 bytes
      {3, "char(27) || '[31mred'"},               // reason: an escape sequence
      {4, "'127.0.0.1:1' || char(7)"},            // peer: a control byte
      {5, "10001"},                               // limit above max_lock_limit
      {5, "-1"},                                  // limit: read back as 2^64 - 1
      {6, "0"},                                   // token 0: never handed out
      {6, "-795428902123456"},                    // token >= 2^63: load() orders it first
      {6, "'12abc'"},                             // token stored as text
      {7, "9223372036854775807"},                 // created: overflows nanoseconds
      {7, "-9223372036854775808"},                // created: overflows nanoseconds
      {7, "10000000000000000"},                   // created: year 318857
      {7, "-1"},                                  // created: before the epoch
      {8, "9223372036854775807"},                 // expires: overflows nanoseconds
      {8, "20246744073709"},                      // expires: year 2611, wraps to 2027 in nanoseconds
  };
  for (const auto& [column, value] : bad_values) {
    DYNAMIC_SECTION("column " << column << " = " << value) {
      write_rows(file, {row_with(column, value)});
      Start start(file);
      CHECK(start.restored == 0);
      CHECK(start.table.snapshot().empty());
    }
  }
}

// fuzz_store_row: LockId::parse accepts either case, but the state file keys rows by the
// id's text. Two rows whose ids differ only in case are one lock in memory and two on disk:
// restore drops the second as "does not fit" and erases the lower-case text, which may be
// the row of the lock it just restored; and releasing the restored lock erases the
// lower-case row while its upper-case row stays, so the released lock comes back at the
// next start. The server only writes the lower-case form; rows in any other form must be
// skipped (a `LockId::parse(text)->str() == text` check in the row decoding).
TEST_CASE("a restored lock is held again after a second restart, whatever other rows share its id",
          "[fuzz_store_row]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  write_rows(file, {std::string(lower_id) + ", 'x', 'a', '', '', 1, 5, 1763892902123, NULL",
                    std::string(upper_id) + ", 'y', 'b', '', '', 1, 6, 1763892902123, NULL"});
  {
    Start first(file);
    const auto held = first.table.find(the_id);
    REQUIRE(held);
    CHECK(held->name == "x");
  }
  Start second(file);
  const auto held = second.table.find(the_id);
  REQUIRE(held);
  CHECK(held->name == "x");
  CHECK(second.table.holders("y").empty());
}

TEST_CASE("a lock released by its id stays released after a restart, whatever the case of its id on disk",
          "[fuzz_store_row]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  write_rows(file, {std::string(upper_id) + ", 'x', 'a', '', '', 1, 5, 1763892902123, NULL",
                    std::string(lower_id) + ", 'y', 'b', '', '', 1, 6, 1763892902123, NULL"});
  {
    Start first(file);
    if (first.table.find(the_id)) {
      std::optional<tnl::ReleaseOutcome> released;
      first.service.release(the_id, tnl::ReleaseBy::unlock, "test", [&](tnl::ReleaseOutcome o) { released = o; });
      CHECK(released == tnl::ReleaseOutcome::released);
    }
    CHECK_FALSE(first.table.find(the_id));
  }
  Start second(file);
  CHECK_FALSE(second.table.find(the_id));
  CHECK(second.table.snapshot().empty());
}

// fuzz_store_row: two rows with one fencing token (two names, or two holders of one
// semaphore) were both restored: two holders with the same token, which the fencing
// promise ("strictly greater than every token handed out before") rules out. The second
// row must be skipped.
TEST_CASE("two saved locks with the same fencing token are not both restored", "[fuzz_store_row]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  write_rows(file, {"'00000000-0000-4000-8000-000000000001', 'pool', 'a', '', '', 2, 10, 1763892902123, NULL",
                    "'00000000-0000-4000-8000-000000000002', 'pool', 'b', '', '', 2, 10, 1763892902123, NULL",
                    "'00000000-0000-4000-8000-000000000003', 'other', 'c', '', '', 1, 10, 1763892902123, NULL"});
  Start start(file);
  CHECK(start.restored == 1);
  CHECK(start.table.find(*LockId::parse("00000000-0000-4000-8000-000000000001")));
}

// fuzz_store_row: a row repeating the id of a lock just restored (possible in a table
// without the primary key) was dropped as "does not fit" and erased by that id, which
// erased the restored lock's row too: the lock was gone after the next restart while its
// holder still relied on it. A row whose id is already held must be skipped, not erased.
TEST_CASE("a row repeating a restored lock's id does not erase that lock from disk", "[fuzz_store_row]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "locks.sqlite3";
  write_rows_without_constraints(file, {std::string(lower_id) + ", 'x', 'a', '', '', 1, 5, 1763892902123, NULL",
                                        std::string(lower_id) + ", 'y', 'b', '', '', 1, 6, 1763892902123, NULL"});
  {
    Start first(file);
    CHECK(first.restored == 1);
  }
  Start second(file);
  const auto held = second.table.find(the_id);
  REQUIRE(held);
  CHECK(held->name == "x");
}

}  // namespace TNL_UNITY_ID
