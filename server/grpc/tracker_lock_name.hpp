// How Tracker's lock identity (service, and in newer Tracker versions environment and
// resource) maps onto one lock name of ours, and back. No I/O.
//
// Without environment and resource the name is the service itself, exactly as HTTP's
// `service` and the line protocol's `name:`: the same lock. With either, the name is
// SERVICE--ENVIRONMENT--RESOURCE ("--RESOURCE" left out when empty; an empty environment
// with a resource gives SERVICE----RESOURCE); then no part may contain "--" or begin or end
// with '-', so that one name never stands for two triples. Such a name is an ordinary lock
// name: `lock,name:deploy--prod--db` excludes service deploy, environment prod, resource db.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tnl {

/// Tracker's identity of a lock.
struct TrackerLockName {
  std::string service;
  std::string environment;  ///< may be empty
  std::string resource;     ///< may be empty
};

/// The lock name for `parts`, or nullopt with `error` set to what is wrong (for INVALID_ARGUMENT).
[[nodiscard]] std::optional<std::string> tracker_lock_name(const TrackerLockName& parts, std::string& error);

/// The parts a lock name stands for: split as tracker_lock_name() joins them when it can
/// have been made so, otherwise the whole name as the service.
[[nodiscard]] TrackerLockName split_tracker_lock_name(std::string_view name);

}  // namespace tnl
