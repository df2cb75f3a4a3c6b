// What the two Tracker-compatible front ends share (HttpApi, REST; GrpcLockService, gRPC),
// so that a lock made through one is the same thing as one made through the other: the
// detached lock a create makes, the admin token check, finding a hold in a view and the
// paging of the lock list. No I/O.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "lock_backend.hpp"
#include "lock_view.hpp"

namespace tnl {

/// Lock records per page of a list when the caller does not say.
inline constexpr std::size_t tracker_default_per_page = 100;
/// Most lock records per page of a list.
inline constexpr std::size_t tracker_max_per_page = 1000;

/// Whether `authorization` ("Bearer TOKEN", the scheme in any case) carries `token`;
/// true when `token` is empty (none configured). Compared in constant time.
[[nodiscard]] bool bearer_token_matches(std::string_view authorization, std::string_view token);

/// The name the view lists (a view of one name or one id lists at most one), or null.
[[nodiscard]] const NameRecord* only_name(const LockView& view);

/// The holder with this id in the view, and its name; {null, null} when it is not held.
[[nodiscard]] std::pair<const NameRecord*, const HoldRecord*> find_holder(const LockView& view, const LockId& id);

/// Calls `visit` for each record on page `page` (from 1) of `per_page` records of the
/// view's listing: sorted by name, each name's holders in grant order, then its lock-delays.
/// Returns how many records there are over all pages.
std::size_t visit_page(const LockView& view, std::size_t page, std::size_t per_page,
                       const std::function<void(const NameRecord&, const HoldRecord&)>& visit);

/// What a Tracker update (gRPC UpdateLock, HTTP PUT /lock/{id}) asks of a lock, as given:
/// every field empty when not given, which leaves it as it is.
struct TrackerUpdate {
  std::string service;
  std::string environment;
  std::string resource;
  std::string who;       ///< the new client id
  std::string event_id;  ///< the new reason
};

/// What is wrong with `update`'s who or event_id, checked as a create checks them
/// (is_valid_reason), for INVALID_ARGUMENT / 400; empty when nothing is.
[[nodiscard]] std::string tracker_update_problem(const TrackerUpdate& update);

/// Whether `update` asks to move the lock `name` to another service, environment or
/// resource (refused: the name stays held by its holder for the hold's life). A service
/// given alone may be the whole name, as HTTP's records show it, or the service part of it,
/// as gRPC's show it.
[[nodiscard]] bool tracker_update_moves(std::string_view name, const TrackerUpdate& update);

/// The backend's change for the fields of `update` given and different from `holder`'s;
/// both nullopt when nothing changes.
[[nodiscard]] HoldUpdate tracker_hold_update(const TrackerUpdate& update, const HoldRecord& holder);

/// The detached lock a Tracker create asks for (`service` = `name`, `who` = the client id):
/// not granted at once is not granted; its record shows the token, which must be durable.
[[nodiscard]] AcquireRequest tracker_lock_request(std::string name, std::string who, std::string reason,
                                                  std::optional<LockBackend::Clock::duration> ttl);

}  // namespace tnl
