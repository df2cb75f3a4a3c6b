// Detached locks on disk, so that they survive a restart or a crash (kill -9 included).
//
// One SQLite database in the state directory, written with synchronous=FULL in WAL mode:
// a call that returned true is on disk before the caller acknowledges anything to a client.
// Without a state directory the store keeps nothing and every call succeeds.
//
// Another process may open the file (a backup, the sqlite3 shell): a write waits at most
// busy_timeout for its lock, then fails, and the caller answers that it cannot persist.
// The wait is short because the event loop waits with it.
//
// A lease end is saved twice: as a wall-clock time, which survives a reboot, and on
// CLOCK_BOOTTIME with the id of the boot it counts in, which no wall-clock step moves (see
// LocalLockBackend::restore). A file from before the second form had its columns is given them
// in place when it is opened (ALTER TABLE ... ADD COLUMN); its rows have none (NULL) and
// fall back to the wall clock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lock_id.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace tnl {

class LockStore {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  /// A reading of CLOCK_BOOTTIME (time since the machine booted, suspend included), in
  /// milliseconds as saved.
  using BootTime = std::chrono::milliseconds;

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
    /// The boot (/proc/sys/kernel/random/boot_id) whose CLOCK_BOOTTIME `expires_boot` is
    /// on; empty: unknown (a row saved before the column existed, or a machine without it).
    std::string boot_id;
    /// The lease end on CLOCK_BOOTTIME of `boot_id`; nullopt without a lease or a boot id.
    std::optional<BootTime> expires_boot;
  };

  /// One column of a saved row as SQLite returned it (its columns are dynamically typed,
  /// so any column may hold any type, whatever the schema says).
  struct Value {
    enum class Type { null, integer, real, text, blob };
    Type type = Type::null;
    std::int64_t integer = 0;  ///< for Type::integer
    std::string bytes;         ///< for Type::text and Type::blob
  };
  /// A row of the table, undecoded: id, name, who, reason, peer, lock_limit, token,
  /// created_ms, expires_ms, boot_id, expires_boot_ms.
  using RawRow = std::array<Value, 11>;

  /// How long a write waits for another process's lock on the database before it fails.
  static constexpr std::chrono::milliseconds busy_timeout{50};
  /// Latest time a saved lock may carry (2200-01-01): later ones, and negative ones, are
  /// not times this server wrote, and would overflow the clocks' arithmetic.
  static constexpr std::int64_t max_millis = 7'258'118'400'000;
  /// Highest token a saved lock may carry: TokenGenerator::max_mark. A higher one is no
  /// token this server handed out, and counting on from it would stop the next start.
  static constexpr std::uint64_t max_token = std::uint64_t{1} << 62;

  /// Opens (creating if needed) `file`; empty: keep nothing. A write waits at most `busy`
  /// for another connection's lock. Throws std::runtime_error.
  explicit LockStore(const std::filesystem::path& file, std::chrono::milliseconds busy = busy_timeout);
  ~LockStore();
  LockStore(const LockStore&) = delete;
  LockStore& operator=(const LockStore&) = delete;

  /// Every saved lock, oldest token first. Rows that do not decode are skipped and logged.
  [[nodiscard]] std::vector<Record> load();
  /// Turns a row into a lock, checking every column: the id is a random (version 4) UUID,
  /// the name a valid lock name, the limit within 1..max_lock_limit, who, reason and peer
  /// printable text of at most 256 bytes, the token within 1..max_token, the times within
  /// 0..max_millis, the boot id null or a UUID in canonical lower case, and the lease end
  /// on the boot clock there exactly when a lease and a boot id are. nullopt for anything
  /// else, with the reason in `problem` if given. A pure function, for the fuzzer.
  [[nodiscard]] static std::optional<Record> decode(const RawRow& row, std::string* problem = nullptr);
  /// Saves a new lock; false when it could not be written (the error is logged).
  [[nodiscard]] bool insert(const Record& record);
  /// Forgets a lock; false when it could not be written.
  [[nodiscard]] bool erase(const LockId& id);
  /// Forgets these locks in one transaction (all or none); false when it could not be written.
  [[nodiscard]] bool erase_all(const std::vector<LockId>& ids);
  /// Saves a lock's new lease end, on both clocks (`boot_id` empty: the boot clock is
  /// unknown, and `expires_boot` is ignored); false when it could not be written.
  [[nodiscard]] bool update_expiry(const LockId& id, std::optional<WallTime> expires, const std::string& boot_id,
                                   std::optional<BootTime> expires_boot);
  /// Saves a lock's new who and/or reason (nullopt: unchanged); false when it could not be
  /// written. A lock not saved (a connection's) is left as it is, and true is answered.
  [[nodiscard]] bool update_holder(const LockId& id, const std::optional<std::string>& who,
                                   const std::optional<std::string>& reason);
  /// A lease end on both clocks, for save_lease_ends().
  struct LeaseEnd {
    LockId id;
    WallTime expires;
    BootTime expires_boot;
  };
  /// Saves, in one transaction, these locks' lease ends on the wall clock and on
  /// CLOCK_BOOTTIME of the boot `boot_id` (leases restored after a reboot or a wall-clock
  /// step); false when it could not be written.
  [[nodiscard]] bool save_lease_ends(const std::vector<LeaseEnd>& leases, const std::string& boot_id);
  /// Whether anything is kept at all.
  [[nodiscard]] bool persistent() const { return db_ != nullptr; }

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

  /// Runs one prepared statement to completion and resets it; false (logged) on error.
  bool run(sqlite3_stmt* statement, const char* what);
  /// Runs SQL without results; false (logged) on error.
  bool exec(const char* sql, const char* what);
  /// Runs `statements` (returning false on a failure) in one BEGIN IMMEDIATE ... COMMIT,
  /// rolled back unless all of it is committed; false (logged) when it was not.
  template <typename Statements>
  bool transaction(const char* what, Statements statements);
  Statement prepare(const char* sql);
  /// Adds the columns a file from an older version lacks; throws std::runtime_error.
  void migrate();

  sqlite3* db_ = nullptr;
  Statement insert_;
  Statement erase_;
  Statement update_expiry_;
  Statement update_holder_;
};

}  // namespace tnl
