#include "lock_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <stdexcept>

#include "lock_options.hpp"
#include "protocol.hpp"

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
  expires_ms INTEGER,
  boot_id    TEXT,
  expires_boot_ms INTEGER
);
)sql";

/// Columns added after the first version, with their types: a file without them gets them
/// (NULL in every row it has).
constexpr std::pair<const char*, const char*> added_columns[] = {
    {"boot_id", "TEXT"},
    {"expires_boot_ms", "INTEGER"},
};

std::int64_t to_millis(LockStore::WallTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

LockStore::WallTime from_millis(std::int64_t millis) {
  return LockStore::WallTime{std::chrono::duration_cast<LockStore::WallTime::duration>(std::chrono::milliseconds(millis))};
}

/// Column `column` of the current row, as stored.
LockStore::Value column_value(sqlite3_stmt* statement, int column) {
  LockStore::Value value;
  switch (sqlite3_column_type(statement, column)) {
    case SQLITE_INTEGER:
      value.type = LockStore::Value::Type::integer;
      value.integer = sqlite3_column_int64(statement, column);
      break;
    case SQLITE_FLOAT:
      value.type = LockStore::Value::Type::real;
      break;
    case SQLITE_TEXT: {
      value.type = LockStore::Value::Type::text;
      const auto* text = sqlite3_column_text(statement, column);
      if (text) value.bytes.assign(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
      break;
    }
    case SQLITE_BLOB: {
      value.type = LockStore::Value::Type::blob;
      const auto* blob = static_cast<const char*>(sqlite3_column_blob(statement, column));
      if (blob) value.bytes.assign(blob, static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
      break;
    }
    default:
      break;
  }
  return value;
}

/// A text column that is printable, of at most 256 bytes, as who, reason and peer are written.
bool is_printable_text(const LockStore::Value& value) {
  return value.type == LockStore::Value::Type::text && is_valid_reason(value.bytes);
}

/// A time column within what this server writes.
bool is_time(const LockStore::Value& value) {
  return value.type == LockStore::Value::Type::integer && value.integer >= 0 && value.integer <= LockStore::max_millis;
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

/// Binds the boot id and the lease end on its clock (both NULL when the boot is unknown).
void bind_boot(sqlite3_stmt* statement, int index, const std::string& boot_id,
               const std::optional<LockStore::BootTime>& expires_boot) {
  if (boot_id.empty()) {
    sqlite3_bind_null(statement, index);
    sqlite3_bind_null(statement, index + 1);
    return;
  }
  bind_text(statement, index, boot_id);
  if (expires_boot) {
    sqlite3_bind_int64(statement, index + 1, expires_boot->count());
  } else {
    sqlite3_bind_null(statement, index + 1);
  }
}

/// A boot id as the kernel writes it: a UUID in canonical lower case.
bool is_boot_id(const std::string& text) {
  const auto parsed = LockId::parse(text);
  return parsed && parsed->str() == text;
}

}  // namespace

void LockStore::StatementDeleter::operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }

LockStore::LockStore(const std::filesystem::path& file, std::chrono::milliseconds busy) {
  if (file.empty()) return;
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + file.string() + ": " + message);
  }
  // Another process's lock on the file (a backup, the sqlite3 shell) is waited for only
  // briefly: the event loop waits too.
  sqlite3_busy_timeout(db_, static_cast<int>(busy.count()));
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
  try {
    migrate();
  } catch (const std::runtime_error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot set up " + file.string() + ": " + e.what());
  }
  insert_ = prepare(
      "INSERT INTO detached_locks (id, name, who, reason, peer, lock_limit, token, created_ms, expires_ms, boot_id, "
      "expires_boot_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  erase_ = prepare("DELETE FROM detached_locks WHERE id = ?");
  update_expiry_ =
      prepare("UPDATE detached_locks SET expires_ms = ?, boot_id = ?, expires_boot_ms = ? WHERE id = ?");
  // A NULL parameter keeps the column as it is.
  update_holder_ =
      prepare("UPDATE detached_locks SET who = COALESCE(?, who), reason = COALESCE(?, reason) WHERE id = ?");
}

LockStore::~LockStore() {
  insert_.reset();
  erase_.reset();
  update_expiry_.reset();
  update_holder_.reset();
  if (db_) sqlite3_close(db_);
}

void LockStore::migrate() {
  std::vector<std::string> columns;
  {
    Statement info = prepare("PRAGMA table_info(detached_locks)");
    int result = SQLITE_ROW;
    while ((result = sqlite3_step(info.get())) == SQLITE_ROW) {
      const auto* name = sqlite3_column_text(info.get(), 1);
      if (name) columns.emplace_back(reinterpret_cast<const char*>(name));
    }
    if (result != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(db_));
  }
  for (const auto& [column, type] : added_columns) {
    if (std::find(columns.begin(), columns.end(), column) != columns.end()) continue;
    const std::string sql = std::string("ALTER TABLE detached_locks ADD COLUMN ") + column + " " + type;
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("cannot add the column " + std::string(column) + ": " + message);
    }
    spdlog::info("state database: added the column {} (rows saved before have none)", column);
  }
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

std::optional<LockStore::Record> LockStore::decode(const RawRow& row, std::string* problem) {
  const auto bad = [problem](const char* why) -> std::optional<Record> {
    if (problem) *problem = why;
    return std::nullopt;
  };
  using Type = Value::Type;
  const auto& [id, name, who, reason, peer, limit, token, created, expires, boot_id, expires_boot] = row;
  if (id.type != Type::text) return bad("the id is not text");
  const auto parsed_id = LockId::parse(id.bytes);
  if (!parsed_id || !parsed_id->is_random()) return bad("the id is not a version 4 UUID");
  // Rows are keyed by the id's text and the server writes only the canonical lower case: a
  // row in another case would be one lock in memory and another on disk (its erase would
  // miss it, and a released lock would come back).
  if (parsed_id->str() != id.bytes) return bad("the id is not in canonical lower case");
  if (name.type != Type::text || !is_valid_lock_name(name.bytes)) return bad("the name is not a valid lock name");
  if (!is_printable_text(who)) return bad("who is not printable text of at most 256 bytes");
  if (!is_printable_text(reason)) return bad("the reason is not printable text of at most 256 bytes");
  if (!is_printable_text(peer)) return bad("the peer is not printable text of at most 256 bytes");
  if (limit.type != Type::integer || limit.integer < 1 || static_cast<std::uint64_t>(limit.integer) > max_lock_limit) {
    return bad("the limit is not an integer from 1 to 10000");
  }
  if (token.type != Type::integer || token.integer < 1 || static_cast<std::uint64_t>(token.integer) > max_token) {
    return bad("the token is not an integer from 1 to 2^62");
  }
  if (!is_time(created)) return bad("the creation time is not a time in milliseconds");
  if (expires.type != Type::null && !is_time(expires)) return bad("the expiry is neither null nor a time in milliseconds");
  if (boot_id.type != Type::null && !(boot_id.type == Type::text && is_boot_id(boot_id.bytes))) {
    return bad("the boot id is neither null nor a UUID in canonical lower case");
  }
  if (expires_boot.type != Type::null && !is_time(expires_boot)) {
    return bad("the expiry on the boot clock is neither null nor a time in milliseconds");
  }
  // The server writes the boot clock's lease end exactly when there is a lease and a boot
  // id: a row with one but not the other was not written by it.
  const bool leased_in_known_boot = expires.type != Type::null && boot_id.type != Type::null;
  if ((expires_boot.type != Type::null) != leased_in_known_boot) {
    return bad("the expiry on the boot clock does not match the expiry and the boot id");
  }

  Record record;
  record.id = *parsed_id;
  record.name = name.bytes;
  record.who = who.bytes;
  record.reason = reason.bytes;
  record.peer = peer.bytes;
  record.limit = static_cast<std::size_t>(limit.integer);
  record.token = static_cast<std::uint64_t>(token.integer);
  record.created = from_millis(created.integer);
  if (expires.type != Type::null) record.expires = from_millis(expires.integer);
  if (boot_id.type != Type::null) record.boot_id = boot_id.bytes;
  if (expires_boot.type != Type::null) record.expires_boot = BootTime(expires_boot.integer);
  return record;
}

std::vector<LockStore::Record> LockStore::load() {
  std::vector<Record> records;
  if (!db_) return records;
  Statement select = prepare(
      "SELECT id, name, who, reason, peer, lock_limit, token, created_ms, expires_ms, boot_id, expires_boot_ms "
      "FROM detached_locks ORDER BY token");
  constexpr std::size_t logged_rows = 10;  // then only a count: a broken file may have millions
  std::size_t skipped = 0;
  int result = SQLITE_ROW;
  while ((result = sqlite3_step(select.get())) == SQLITE_ROW) {
    RawRow row;
    for (std::size_t column = 0; column < row.size(); ++column) {
      row[column] = column_value(select.get(), static_cast<int>(column));
    }
    std::string problem;
    if (auto record = decode(row, &problem)) {
      records.push_back(std::move(*record));
      continue;
    }
    if (++skipped <= logged_rows) {
      spdlog::error("state database: skipping a row that is not a lock this server saved ({}): {}",
                    row[0].type == Value::Type::text && is_valid_reason(row[0].bytes) ? row[0].bytes : "?", problem);
    }
  }
  if (result != SQLITE_DONE) throw std::runtime_error(std::string("cannot read the state database: ") + sqlite3_errmsg(db_));
  if (skipped > logged_rows) spdlog::error("state database: {} rows skipped in all", skipped);
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
  bind_boot(statement, 10, record.boot_id, record.expires ? record.expires_boot : std::nullopt);
  return run(statement, "save a lock");
}

bool LockStore::erase(const LockId& id) {
  if (!db_) return true;
  bind_text(erase_.get(), 1, id.str());
  return run(erase_.get(), "forget a lock");
}

bool LockStore::exec(const char* sql, const char* what) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) == SQLITE_OK) return true;
  spdlog::error("cannot {} in the state database: {}", what, error ? error : "unknown error");
  sqlite3_free(error);
  return false;
}

template <typename Statements>
bool LockStore::transaction(const char* what, Statements statements) {
  if (!exec("BEGIN IMMEDIATE", what)) return false;
  if (statements() && exec("COMMIT", what)) return true;
  exec("ROLLBACK", "roll back");
  return false;
}

bool LockStore::erase_all(const std::vector<LockId>& ids) {
  if (!db_ || ids.empty()) return true;
  return transaction("forget locks", [&] {
    for (const auto& id : ids) {
      bind_text(erase_.get(), 1, id.str());
      if (!run(erase_.get(), "forget a lock")) return false;
    }
    return true;
  });
}

bool LockStore::update_expiry(const LockId& id, std::optional<WallTime> expires, const std::string& boot_id,
                              std::optional<BootTime> expires_boot) {
  if (!db_) return true;
  bind_expiry(update_expiry_.get(), 1, expires);
  bind_boot(update_expiry_.get(), 2, boot_id, expires ? expires_boot : std::nullopt);
  bind_text(update_expiry_.get(), 4, id.str());
  return run(update_expiry_.get(), "renew a lock");
}

bool LockStore::update_holder(const LockId& id, const std::optional<std::string>& who,
                              const std::optional<std::string>& reason) {
  if (!db_) return true;
  sqlite3_stmt* statement = update_holder_.get();
  const auto bind_optional = [&](int index, const std::optional<std::string>& text) {
    if (text) {
      bind_text(statement, index, *text);
    } else {
      sqlite3_bind_null(statement, index);
    }
  };
  bind_optional(1, who);
  bind_optional(2, reason);
  bind_text(statement, 3, id.str());
  return run(statement, "update a lock's who and reason");
}

bool LockStore::save_lease_ends(const std::vector<LeaseEnd>& leases, const std::string& boot_id) {
  if (!db_ || leases.empty()) return true;
  return transaction("save lease ends", [&] {
    for (const auto& lease : leases) {
      bind_expiry(update_expiry_.get(), 1, lease.expires);
      bind_boot(update_expiry_.get(), 2, boot_id, lease.expires_boot);
      bind_text(update_expiry_.get(), 4, lease.id.str());
      if (!run(update_expiry_.get(), "save a lease end")) return false;
    }
    return true;
  });
}

}  // namespace tnl
