#include "lock_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <stdexcept>

namespace tnl {

namespace {

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS detached_locks (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  who        TEXT NOT NULL,
  reason     TEXT NOT NULL,
  peer       TEXT NOT NULL,
  lock_limit INTEGER NOT NULL,
  token      INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER
);
)sql";

std::int64_t to_millis(LockStore::WallTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

LockStore::WallTime from_millis(std::int64_t millis) {
  return LockStore::WallTime{std::chrono::duration_cast<LockStore::WallTime::duration>(std::chrono::milliseconds(millis))};
}

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* text = sqlite3_column_text(statement, column);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(statement, column)))
              : std::string{};
}

void bind_text(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void bind_expiry(sqlite3_stmt* statement, int index, const std::optional<LockStore::WallTime>& expires) {
  if (expires) {
    sqlite3_bind_int64(statement, index, to_millis(*expires));
  } else {
    sqlite3_bind_null(statement, index);
  }
}

}  // namespace

void LockStore::StatementDeleter::operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }

LockStore::LockStore(const std::filesystem::path& file) {
  if (file.empty()) return;
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + file.string() + ": " + message);
  }
  // WAL + FULL: every commit is fsynced before it returns, and a crash at any moment
  // leaves either the old or the new state.
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", schema}) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      sqlite3_close(db_);
      db_ = nullptr;
      throw std::runtime_error("cannot set up " + file.string() + ": " + message);
    }
  }
  insert_ = prepare(
      "INSERT INTO detached_locks (id, name, who, reason, peer, lock_limit, token, created_ms, expires_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  erase_ = prepare("DELETE FROM detached_locks WHERE id = ?");
  update_expiry_ = prepare("UPDATE detached_locks SET expires_ms = ? WHERE id = ?");
}

LockStore::~LockStore() {
  insert_.reset();
  erase_.reset();
  update_expiry_.reset();
  if (db_) sqlite3_close(db_);
}

LockStore::Statement LockStore::prepare(const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("cannot prepare a statement: ") + sqlite3_errmsg(db_));
  }
  return Statement(statement);
}

bool LockStore::run(sqlite3_stmt* statement, const char* what) {
  const int result = sqlite3_step(statement);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  if (result == SQLITE_DONE) return true;
  spdlog::error("cannot {} in the state database: {}", what, sqlite3_errmsg(db_));
  return false;
}

std::vector<LockStore::Record> LockStore::load() {
  std::vector<Record> records;
  if (!db_) return records;
  Statement select = prepare(
      "SELECT id, name, who, reason, peer, lock_limit, token, created_ms, expires_ms FROM detached_locks "
      "ORDER BY token");
  int result = SQLITE_ROW;
  while ((result = sqlite3_step(select.get())) == SQLITE_ROW) {
    const auto id = LockId::parse(column_text(select.get(), 0));
    if (!id) {
      spdlog::error("state database: skipping a lock with a malformed id");
      continue;
    }
    Record record;
    record.id = *id;
    record.name = column_text(select.get(), 1);
    record.who = column_text(select.get(), 2);
    record.reason = column_text(select.get(), 3);
    record.peer = column_text(select.get(), 4);
    record.limit = static_cast<std::size_t>(sqlite3_column_int64(select.get(), 5));
    record.token = static_cast<std::uint64_t>(sqlite3_column_int64(select.get(), 6));
    record.created = from_millis(sqlite3_column_int64(select.get(), 7));
    if (sqlite3_column_type(select.get(), 8) != SQLITE_NULL) {
      record.expires = from_millis(sqlite3_column_int64(select.get(), 8));
    }
    records.push_back(std::move(record));
  }
  if (result != SQLITE_DONE) throw std::runtime_error(std::string("cannot read the state database: ") + sqlite3_errmsg(db_));
  return records;
}

bool LockStore::insert(const Record& record) {
  if (!db_) return true;
  sqlite3_stmt* statement = insert_.get();
  bind_text(statement, 1, record.id.str());
  bind_text(statement, 2, record.name);
  bind_text(statement, 3, record.who);
  bind_text(statement, 4, record.reason);
  bind_text(statement, 5, record.peer);
  sqlite3_bind_int64(statement, 6, static_cast<std::int64_t>(record.limit));
  sqlite3_bind_int64(statement, 7, static_cast<std::int64_t>(record.token));
  sqlite3_bind_int64(statement, 8, to_millis(record.created));
  bind_expiry(statement, 9, record.expires);
  return run(statement, "save a lock");
}

bool LockStore::erase(const LockId& id) {
  if (!db_) return true;
  bind_text(erase_.get(), 1, id.str());
  return run(erase_.get(), "forget a lock");
}

bool LockStore::update_expiry(const LockId& id, std::optional<WallTime> expires) {
  if (!db_) return true;
  bind_expiry(update_expiry_.get(), 1, expires);
  bind_text(update_expiry_.get(), 2, id.str());
  return run(update_expiry_.get(), "renew a lock");
}

}  // namespace tnl
