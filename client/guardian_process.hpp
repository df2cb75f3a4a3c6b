// The guardian's side (see guardian.hpp): what the forked guardian process runs.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include "guardian.hpp"

namespace tnl::guardian {

/// Signals the guardian handles itself: it ignores all but SIGCHLD (which wakes it up).
/// The command starts with each of them at its default action, or ignored when whoever
/// started tcpnetlock_do had it ignored.
inline constexpr int handled_signals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGPIPE,
                                          SIGTSTP, SIGTTIN, SIGTTOU, SIGCHLD};

/// Runs the guardian in the process just forked from tcpnetlock_do: starts the command
/// and guards it until every process descended from it is gone, then exits. `control` is
/// the guardian's end of the socket pair, `command_mask` the signal mask tcpnetlock_do had
/// before the fork (the command starts with it), `home_group` tcpnetlock_do's process group.
[[noreturn]] void run_guardian(const GuardianOptions& options, int control, const sigset_t& command_mask,
                               pid_t home_group);

}  // namespace tnl::guardian
