// tcpnetlock_do's last step: releasing the lock once the command, and everything it
// started, has ended; and the exit code that follows.
#pragma once

// Standard headers first, see lock_client.hpp.
#include <optional>
#include <string>

#include "lock_client.hpp"

namespace tnl::cli {

/// Stops watching the lock held on `client` and releases it (`release`, expecting
/// `released`). The reason the lock turned out to be lost meanwhile (the connection was
/// gone or the answer was not `released`; printed), or nullopt (released, or the release
/// failed otherwise: the lock goes with the connection, which the caller closes).
std::optional<std::string> release_lock(LockClient& client, const std::string& lock_name);

/// Our exit code once the command ended with `status` and the lock was `lost` (or not)
/// meanwhile: 122 when it was lost and the command succeeded, else the command's status.
int exit_code_after(int status, const std::optional<std::string>& lost);

}  // namespace tnl::cli
