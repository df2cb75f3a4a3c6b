#include "tracker_locks.hpp"

#include <algorithm>
#include <cctype>

#include "grpc/tracker_lock_name.hpp"
#include "lock_options.hpp"
#include "protocol.hpp"

namespace tnl {

namespace {

/// Compares without returning early, so that timing reveals at most the token's length.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < given.size(); ++i) difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return difference == 0;
}

}  // namespace

bool bearer_token_matches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return true;
  // The scheme name is case-insensitive (RFC 9110, 11.1).
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), authorization.begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    return false;
  }
  return constant_time_equal(strip(authorization.substr(scheme.size())), token);
}

const NameRecord* only_name(const LockView& view) {
  if (!view.names || view.names->empty()) return nullptr;
  return &view.names->front();
}

std::pair<const NameRecord*, const HoldRecord*> find_holder(const LockView& view, const LockId& id) {
  if (!view.names) return {nullptr, nullptr};
  for (const auto& name : *view.names) {
    for (const auto& holder : name.holders) {
      if (holder.id == id) return {&name, &holder};
    }
  }
  return {nullptr, nullptr};
}

std::size_t visit_page(const LockView& view, std::size_t page, std::size_t per_page,
                       const std::function<void(const NameRecord&, const HoldRecord&)>& visit) {
  if (!view.names) return 0;
  const auto& names = *view.names;
  std::size_t total = 0;
  for (const auto& state : names) total += state.holders.size() + state.delays.size();
  const std::size_t first = (page - 1) * per_page;
  std::size_t index = 0;
  std::size_t shown = 0;
  for (const auto& state : names) {
    const std::size_t records = state.holders.size() + state.delays.size();
    if (index + records <= first) {
      index += records;
      continue;
    }
    for (const auto* list : {&state.holders, &state.delays}) {
      for (const auto& holder : *list) {
        if (index >= first && shown < per_page) {
          visit(state, holder);
          ++shown;
        }
        ++index;
      }
    }
    if (shown >= per_page) break;
  }
  return total;
}

std::string tracker_update_problem(const TrackerUpdate& update) {
  if (!update.who.empty() && !is_valid_reason(update.who)) return "who must be empty or " + reason_rule_text();
  if (!update.event_id.empty() && !is_valid_reason(update.event_id)) {
    return "event_id must be empty or " + reason_rule_text();
  }
  return {};
}

bool tracker_update_moves(std::string_view name, const TrackerUpdate& update) {
  const TrackerLockName parts = split_tracker_lock_name(name);
  const auto differs = [](const std::string& asked, const std::string& has) { return !asked.empty() && asked != has; };
  const bool whole_name = update.environment.empty() && update.resource.empty() && update.service == name;
  return (differs(update.service, parts.service) && !whole_name) || differs(update.environment, parts.environment) ||
         differs(update.resource, parts.resource);
}

HoldUpdate tracker_hold_update(const TrackerUpdate& update, const HoldRecord& holder) {
  HoldUpdate changes;
  if (!update.who.empty() && update.who != holder.client_id) changes.client_id = update.who;
  if (!update.event_id.empty() && update.event_id != holder.reason) changes.reason = update.event_id;
  return changes;
}

AcquireRequest tracker_lock_request(std::string name, std::string who, std::string reason,
                                    std::optional<LockBackend::Clock::duration> ttl) {
  AcquireRequest request;
  request.name = std::move(name);
  request.client_id = std::move(who);
  request.reason = std::move(reason);
  request.kind = HoldKind::detached;  // no deadline: not granted at once is not granted
  request.ttl = ttl;
  // The record answered shows the token: it must be durable.
  request.shows_token = true;
  return request;
}

}  // namespace tnl
