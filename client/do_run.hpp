// tcpnetlock_do's whole run (take the lock, run the command under its guardian while the
// lock is watched, release it), shared by tcpnetlock_do and tcpnetlock_distlock's
// `-- COMMAND`, which differ only in their options and in what they make of the exit.
#pragma once

#include "do_options.hpp"
#include "guardian.hpp"

namespace tnl::cli {

/// How a run ended.
struct DoRunResult {
  /// tcpnetlock_do's exit code: the command's status, or one of do_exit's.
  int code = 0;
  /// True when `code` is the command's own status (it ran to its end with the lock held
  /// throughout, or failed after losing it); false for every failure of ours (not
  /// granted, refused, the lock lost, the command not found or not run, interrupted).
  bool from_command = false;
};

/// Runs `options`' command while holding its lock, as tcpnetlock_do does (see
/// tcpnetlock_do.cpp for its steps and choices). `command_line` is our argv's area, which
/// the guardian writes its name over. Messages are printed as they happen.
DoRunResult run_do(const DoOptions& options, const CommandLineArea& command_line);

}  // namespace tnl::cli
