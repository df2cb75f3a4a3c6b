// Durations for people, as the clients print them.
#pragma once

#include <string>

namespace tnl {

/// At most two units, fractions cut off: "0s", "3s", "2m05s", "1h02m", "3d04h".
/// Negative or non-finite durations show as "0s".
[[nodiscard]] std::string human_duration(double seconds);

}  // namespace tnl
