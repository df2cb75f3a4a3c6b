// Fuzz target: the rows of the state database (DIR/locks.sqlite3), as LockStore::load
// decodes them and LocalLockBackend::restore puts them back into the lock table at start.
//
// A row the server did not write (a file edited by hand, restored from another version,
// or damaged) must never crash the server nor become a lock that no request could have
// made. Each input is written, through SQLite, into a fresh database file (on /dev/shm
// when it can); then a LockStore opens it, and a LocalLockBackend restores from it.
//
// The input is a sequence of strings as FuzzedDataProvider::ConsumeRandomLengthString
// reads them (each ends at a backslash followed by another byte; a seed file ends each
// string with "\" and a line break; "\\" is a backslash). First the schema: "loose" creates
// the table without types or constraints, so that any column may hold anything; anything
// else keeps the server's own schema (LockStore creates it). Then up to max_rows rows of
// nine values each, in column order:
//
//   id, name, who, reason, peer, lock_limit, token, created_ms, expires_ms
//
// A value is "N" (NULL), "I<decimal>" (an integer, saturated to 64 bits), "R<decimal>" (a
// real), "B<bytes>" (a blob), "T<text>" or any other string (text). A row SQLite refuses
// (a constraint) is left out, as it would never have been stored.
//
// Invariants: no sanitizer report; load() returns rows oldest token first; after restore()
// the table holds only what a request could have created (valid names and texts, a limit
// of 1 to max_lock_limit, no more holders than the limit, unique ids and tokens, leases
// ahead of now); every restored lock is still on disk; `.locks` and the HTTP records of
// the restored locks are valid JSON; and each restored lock can be released by its id.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "lock_options.hpp"
#include "local_lock_backend.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "lock_view_json.hpp"
#include "protocol.hpp"
#include "server_stats.hpp"

namespace {

using tnl::LockId;
using tnl::LockTable;

constexpr std::size_t max_rows = 16;
constexpr int columns = 9;
constexpr const char* loose_schema =
    "CREATE TABLE detached_locks (id, name, who, reason, peer, lock_limit, token, created_ms, expires_ms)";

std::filesystem::path database;  ///< set up once, rewritten for every input
bool trace = false;              ///< FUZZ_TRACE set

void remove_database() {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(database.string() + suffix);
  }
}

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "fuzz_store_row: %s: %s\n", sql, error ? error : "?");
    std::abort();  // the harness's own SQL: never the input's fault
  }
}

/// Binds one value in the encoding the file comment describes.
void bind_value(sqlite3_stmt* statement, int index, const std::string& value) {
  const std::string rest = value.empty() ? std::string{} : value.substr(1);
  const char kind = value.empty() ? 'T' : value[0];
  if (kind == 'N' && rest.empty()) {
    sqlite3_bind_null(statement, index);
  } else if (kind == 'I') {
    sqlite3_bind_int64(statement, index, std::strtoll(rest.c_str(), nullptr, 10));  // saturates
  } else if (kind == 'R') {
    sqlite3_bind_double(statement, index, std::strtod(rest.c_str(), nullptr));
  } else if (kind == 'B') {
    sqlite3_bind_blob(statement, index, rest.data(), static_cast<int>(rest.size()), SQLITE_TRANSIENT);
  } else {
    const std::string& text = kind == 'T' ? rest : value;
    sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
}

/// Writes the input's rows into a fresh database file.
void write_rows(FuzzedDataProvider& input) {
  remove_database();
  const bool loose = input.ConsumeRandomLengthString(16) == "loose";
  if (!loose) {
    const tnl::LockStore schema(database);  // creates the server's own schema
  }
  sqlite3* db = nullptr;
  if (sqlite3_open(database.c_str(), &db) != SQLITE_OK) {
    std::fprintf(stderr, "fuzz_store_row: cannot open %s\n", database.c_str());
    std::abort();
  }
  exec(db, "PRAGMA synchronous=OFF");
  if (loose) exec(db, loose_schema);
  exec(db, "BEGIN");
  sqlite3_stmt* insert = nullptr;
  // The boot clock's columns (boot_id, expires_boot_ms; added to a loose table when the
  // store opens it) stay NULL: those rows rest on the wall clock.
  sqlite3_prepare_v2(db,
                     "INSERT INTO detached_locks (id, name, who, reason, peer, lock_limit, token, created_ms, "
                     "expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     -1, &insert, nullptr);
  for (std::size_t row = 0; row < max_rows && input.remaining_bytes() > 0; ++row) {
    for (int column = 1; column <= columns; ++column) bind_value(insert, column, input.ConsumeRandomLengthString(300));
    const int result = sqlite3_step(insert);
    if (trace) std::fprintf(stderr, "row %zu: %s\n", row, result == SQLITE_DONE ? "stored" : sqlite3_errmsg(db));
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
  }
  sqlite3_finalize(insert);
  exec(db, "COMMIT");
  sqlite3_close(db);
}

/// What a request could have created: the validations the line protocol and HTTP apply.
void check_holder(const std::string& name, std::size_t limit, const LockTable::Holder& holder,
                  LockTable::TimePoint before_restore) {
  FUZZ_CHECK(tnl::is_valid_lock_name(name));
  FUZZ_CHECK(limit >= 1 && limit <= tnl::max_lock_limit);
  FUZZ_CHECK(holder.kind == LockTable::Kind::detached);
  // A line client's id or an HTTP `who`; a reason; a peer as the server writes it.
  FUZZ_CHECK(tnl::is_valid_reason(holder.client_id));
  FUZZ_CHECK(tnl::is_valid_reason(holder.reason));
  FUZZ_CHECK(tnl::is_valid_reason(holder.peer));
  // Tokens are handed out from 1 up and saved as SQLite's signed integers, which order them.
  FUZZ_CHECK(holder.token >= 1 && holder.token <= static_cast<LockTable::Token>(INT64_MAX));
  // Expired leases are dropped at restore; a restored one ends after it.
  if (holder.expires) FUZZ_CHECK(*holder.expires > before_restore);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  trace = std::getenv("FUZZ_TRACE") != nullptr;
  spdlog::set_level(trace ? spdlog::level::debug : spdlog::level::off);
  std::error_code error;
  std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", error) && access("/dev/shm", W_OK) == 0
                                  ? std::filesystem::path("/dev/shm")
                                  : std::filesystem::temp_directory_path();
  database = dir / ("tnl-fuzz-store-" + std::to_string(getpid()) + ".sqlite3");
  std::atexit(remove_database);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  write_rows(input);

  asio::io_context io;
  tnl::LockStore store(database);
  tnl::ServerStats stats;
  tnl::LocalLockBackend service(io, store, stats);
  const LockTable& table = service.table();

  // load(): oldest token first.
  std::vector<tnl::LockStore::Record> records;
  try {
    records = store.load();
  } catch (const std::runtime_error& error) {
    if (trace) std::fprintf(stderr, "load refused the file: %s\n", error.what());
    return 0;  // refusing to start on a file it cannot trust is a sound answer
  }
  for (std::size_t i = 1; i < records.size(); ++i) FUZZ_CHECK(records[i - 1].token <= records[i].token);

  const auto before_restore = LockTable::Clock::now();
  std::size_t restored = 0;
  try {
    restored = service.restore();
  } catch (const std::runtime_error& error) {
    if (trace) std::fprintf(stderr, "restore refused the file: %s\n", error.what());
    return 0;
  }
  if (trace) std::fprintf(stderr, "%zu row(s) loaded, %zu restored\n", records.size(), restored);

  // The table holds only what requests could have created.
  std::set<std::pair<std::uint64_t, std::uint64_t>> ids;
  std::set<LockTable::Token> tokens;
  std::vector<LockId> held;
  std::size_t holders = 0;
  const auto names = table.snapshot();
  for (const auto& state : names) {
    FUZZ_CHECK(!state.holders.empty() && state.holders.size() <= state.limit && state.waiters.empty());
    for (const auto& holder : state.holders) {
      check_holder(state.name, state.limit, holder, before_restore);
      FUZZ_CHECK(ids.insert({holder.id.high, holder.id.low}).second);
      FUZZ_CHECK(tokens.insert(holder.token).second);
      held.push_back(holder.id);
      ++holders;
    }
  }
  FUZZ_CHECK(holders == restored && table.holder_count(LockTable::Kind::detached) == restored);

  // Every restored lock is still on disk: dropping another row never erased it.
  std::set<std::pair<std::uint64_t, std::uint64_t>> on_disk;
  for (const auto& record : tnl::LockStore(database).load()) on_disk.insert({record.id.high, record.id.low});
  for (const auto& id : held) FUZZ_CHECK(on_disk.count({id.high, id.low}) == 1);

  // What clients see of them is valid JSON.
  std::optional<tnl::LockView> view;
  service.read(tnl::LockQuery{}, [&](tnl::LockView read) { view = std::move(read); });
  FUZZ_CHECK(view && view->names);
  FUZZ_CHECK(nlohmann::json::accept(tnl::locks_to_json(*view)));
  for (const auto& name : *view->names) {
    for (const auto& holder : name.holders) {
      FUZZ_CHECK(nlohmann::json::accept(tnl::dump_json(tnl::lock_record(name, holder, view->as_of))));
    }
  }

  // Each can be released by its id, and is then gone from the table and the disk.
  for (const auto& id : held) {
    std::optional<tnl::ReleaseOutcome> released;
    service.release(id, tnl::ReleaseBy::unlock, "fuzz", [&](tnl::ReleaseOutcome outcome) { released = outcome; });
    FUZZ_CHECK(released == tnl::ReleaseOutcome::released);
  }
  FUZZ_CHECK(table.snapshot().empty());
  for (const auto& record : tnl::LockStore(database).load())
    FUZZ_CHECK(ids.count({record.id.high, record.id.low}) == 0);
  return 0;
}
