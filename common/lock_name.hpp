// Deriving a lock name from a command line, as `tcpnetlock_do` does without --lock-name.
#pragma once

#include <string>
#include <vector>

namespace tnl {

/// The command's words joined with spaces; then ' ', '.' and '/' replaced by '_';
/// leading and trailing '_' stripped; every character outside [a-zA-Z0-9_-] dropped.
/// The result may be empty, which callers must treat as an invalid option.
[[nodiscard]] std::string lock_name_from_command(const std::vector<std::string>& command);

}  // namespace tnl
