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

/// The detached lock a Tracker create asks for (`service` = `name`, `who` = the client id):
/// not granted at once is not granted; its record shows the token, which must be durable.
[[nodiscard]] AcquireRequest tracker_lock_request(std::string name, std::string who, std::string reason,
                                                  std::optional<LockBackend::Clock::duration> ttl);

}  // namespace tnl
