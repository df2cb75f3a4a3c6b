// distlock's YAML config file (/etc/distlock/distlock.yaml or $DISTLOCK_CONFIG), read with
// yaml-cpp: the keys lockname, reason, endpoints (a list, or one comma-separated string),
// timeout and prefix, all optional. Other keys are ignored, as distlock ignores them.
#pragma once

#include <string>
#include <variant>

#include "distlock_settings.hpp"

namespace tnl::distlock {

/// The values in the YAML text `text` (`origin` names it in messages), or the problem.
[[nodiscard]] std::variant<SourceValues, std::string> parse_config(const std::string& text, const std::string& origin);

/// The values in the file `path`. A file that does not exist gives no values, unless
/// `required` (it was named): then that is the problem, as is any unreadable or invalid file.
[[nodiscard]] std::variant<SourceValues, std::string> read_config(const std::string& path, bool required);

}  // namespace tnl::distlock
