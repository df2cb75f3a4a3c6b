// Handing a terminal to a job (a process group) and back, as a shell does.
#pragma once

#include <sys/types.h>

namespace tnl {

/// tcsetpgrp with SIGTTOU blocked: a process that is not (or no longer) in the foreground
/// group would otherwise be stopped by it. False on failure (e.g. the group is gone).
bool set_foreground(int fd, pid_t group);

/// A terminal that was handed to a job's process group (the command's), or none: it goes
/// back to the home group (tcpnetlock_do's) when the job stops or ends, and to the job
/// again when it is resumed in the foreground.
class JobTerminal {
 public:
  /// No terminal: every call is a no-op.
  JobTerminal() = default;
  /// Terminal `fd`, which was handed to group `job` (when `handed`; otherwise none, as
  /// when we were not in the foreground); `home` gets it back.
  JobTerminal(int fd, pid_t job, pid_t home, bool handed)
      : fd_(handed ? fd : -1), job_(job), home_(home), handed_(handed) {}

  /// True while the job's group has the terminal.
  [[nodiscard]] bool handed() const { return handed_; }

  /// Gives the terminal back to the home group if the job has it. Idempotent.
  void reclaim();

  /// Hands the terminal to the job again, if it had it once and the home group is in the
  /// foreground now (not after `bg`). No-op otherwise.
  void hand();

  /// The job has ended for good: hand() does nothing any more.
  void job_ended() { ended_ = true; }

 private:
  int fd_ = -1;
  pid_t job_ = 0;
  pid_t home_ = 0;
  bool handed_ = false;
  bool ended_ = false;
};

}  // namespace tnl
