// An exclusive hold on the state directory for as long as the server runs.
//
// Two servers on one --state-dir (a second replica, `docker compose --scale`, a restart
// that overlaps the old process) would be two lock servers that each take the detached
// locks on disk for their own: each grants names the other holds, erases rows the other
// restores at its next start, and counts fencing tokens from the same mark. So the second
// refuses to start. The hold is flock(2) on DIR/lock: the kernel lets go of it when the
// process ends, however it ends (kill -9 included), so a stale file never blocks a restart.
#pragma once

#include <filesystem>

namespace tnl {

class StateDirLock {
 public:
  /// `dir` empty: holds nothing. Throws std::runtime_error when another process holds the
  /// directory, or when its lock file cannot be opened. Where the filesystem has no locks
  /// (ENOLCK, some network filesystems), logs a warning and holds nothing.
  explicit StateDirLock(const std::filesystem::path& dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

  /// Whether the directory is held (false without a state directory, or without locks).
  [[nodiscard]] bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace tnl
