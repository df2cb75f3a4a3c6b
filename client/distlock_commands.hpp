// tcpnetlock_distlock's four actions on our servers: --lock, --unlock, --list and
// `-- COMMAND`. Each tries the endpoints in turn (see try_endpoints()) and returns the exit
// status: 0 on success, 1 on any failure (distlock's), or the command's own status.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "distlock_settings.hpp"
#include "guardian.hpp"

namespace tnl::distlock {

/// distlock's exit status for every failure.
inline constexpr int exit_failure = 1;

/// What we send as client id: this machine's host name (what distlock records and --list
/// shows), with characters a client id cannot have replaced by '_'; empty if none is left.
[[nodiscard]] std::string host_client_id();

/// --lock: takes a detached lock on `settings.lock_name` with no TTL (distlock's locks have
/// none), waiting as `settings.wait_seconds` says, and exits with it held.
int take_lock(const Settings& settings, const std::string& client_id);

/// --unlock: releases the name's detached lock whoever took it (`unlock-name`); a lock a
/// running command holds (a connection lock) is not taken away. `admin_token` is sent when
/// not empty.
int unlock(const Settings& settings, const std::string& admin_token);

/// --list: prints the realm's locks on `out`: name, host, age and reason, one per holder.
int list(const Settings& settings, std::ostream& out);

/// `-- COMMAND...`: runs `command` while holding the lock on a connection (tcpnetlock_do's
/// run: released when it ends, even when it fails, and at once if we crash). The command's
/// own status passes through; our failures are 1.
int run_command(const Settings& settings, const std::string& client_id, const std::vector<std::string>& command,
                const CommandLineArea& command_line);

}  // namespace tnl::distlock
