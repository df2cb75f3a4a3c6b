// Detached locks on disk, so that they survive a restart or a crash (kill -9 included).
//
// One SQLite database in the state directory, written with synchronous=FULL in WAL mode:
// a call that returned true is on disk before the caller acknowledges anything to a client.
// Without a state directory the store keeps nothing and every call succeeds.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lock_id.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace tnl {

class LockStore {
 public:
  using WallTime = std::chrono::system_clock::time_point;

  /// One detached lock as saved.
  struct Record {
    LockId id;
    std::string name;
    std::string who;
    std::string reason;
    std::string peer;
    std::size_t limit = 1;
    std::uint64_t token = 0;
    WallTime created;
    std::optional<WallTime> expires;  ///< nullopt: never
  };

  /// Opens (creating if needed) `file`; empty: keep nothing. Throws std::runtime_error.
  explicit LockStore(const std::filesystem::path& file);
  ~LockStore();
  LockStore(const LockStore&) = delete;
  LockStore& operator=(const LockStore&) = delete;

  /// Every saved lock, oldest token first.
  [[nodiscard]] std::vector<Record> load();
  /// Saves a new lock; false when it could not be written (the error is logged).
  [[nodiscard]] bool insert(const Record& record);
  /// Forgets a lock; false when it could not be written.
  bool erase(const LockId& id);
  /// Saves a lock's new lease end; false when it could not be written.
  [[nodiscard]] bool update_expiry(const LockId& id, std::optional<WallTime> expires);
  /// Whether anything is kept at all.
  [[nodiscard]] bool persistent() const { return db_ != nullptr; }

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

  /// Runs one prepared statement to completion and resets it; false (logged) on error.
  bool run(sqlite3_stmt* statement, const char* what);
  Statement prepare(const char* sql);

  sqlite3* db_ = nullptr;
  Statement insert_;
  Statement erase_;
  Statement update_expiry_;
};

}  // namespace tnl
