#include "tracker_lock_name.hpp"

#include "protocol.hpp"

namespace tnl {

namespace {

constexpr std::string_view separator = "--";

/// Whether `part` may stand between separators: a lock name without "--" that neither
/// begins nor ends with '-' (so that the separator next to it is found where it is).
bool joinable(std::string_view part) {
  return is_valid_lock_name(part) && part.find(separator) == std::string_view::npos && part.front() != '-' &&
         part.back() != '-';
}

}  // namespace

std::optional<std::string> tracker_lock_name(const TrackerLockName& parts, std::string& error) {
  const std::string name_rule = "must be a lock name matching ^[a-zA-Z0-9_-]+$";
  if (!is_valid_lock_name(parts.service)) {
    error = "service " + name_rule;
    return std::nullopt;
  }
  if (parts.environment.empty() && parts.resource.empty()) return parts.service;
  const std::string part_rule = " with environment or resource: without \"--\", not beginning or ending with '-'";
  if (!joinable(parts.service)) {
    error = "service " + name_rule + part_rule;
    return std::nullopt;
  }
  for (const auto& [field, value] : {std::pair{"environment", &parts.environment}, {"resource", &parts.resource}}) {
    if (!value->empty() && !joinable(*value)) {
      error = std::string(field) + " " + name_rule + part_rule;
      return std::nullopt;
    }
  }
  std::string name = parts.service + std::string(separator) + parts.environment;
  if (!parts.resource.empty()) name += std::string(separator) + parts.resource;
  return name;
}

TrackerLockName split_tracker_lock_name(std::string_view name) {
  const TrackerLockName whole{std::string(name), {}, {}};
  const auto first = name.find(separator);
  if (first == std::string_view::npos) return whole;
  const std::string_view service = name.substr(0, first);
  const std::string_view rest = name.substr(first + separator.size());
  const auto second = rest.find(separator);
  const std::string_view environment = rest.substr(0, second);
  const std::string_view resource = second == std::string_view::npos ? std::string_view{} : rest.substr(second + separator.size());
  // Only what tracker_lock_name() makes: parts it accepts, something besides the service.
  if (!joinable(service) || (!environment.empty() && !joinable(environment)) ||
      (!resource.empty() && !joinable(resource)) || (environment.empty() && resource.empty()) ||
      (second != std::string_view::npos && resource.empty())) {
    return whole;
  }
  return TrackerLockName{std::string(service), std::string(environment), std::string(resource)};
}

}  // namespace tnl
