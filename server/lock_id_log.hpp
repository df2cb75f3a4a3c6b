// A LockId in a log line, as LockId::log_str() shows it, but made only when the line is
// written: spdlog checks the level before it formats its arguments, so a lock's path pays
// nothing for an info line at the default level (warn).
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "lock_id.hpp"

namespace tnl {

/// `spdlog::info("... ({})", LogId{id})`: the id's first 8 hex digits and "…".
struct LogId {
  const LockId& id;
};

}  // namespace tnl

template <>
struct fmt::formatter<tnl::LogId> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const tnl::LogId& value, Context& context) const {
    return fmt::formatter<std::string_view>::format(value.id.log_str(), context);
  }
};
