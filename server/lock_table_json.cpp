#include "lock_table_json.hpp"

#include <ctime>
#include <fmt/format.h>

namespace tnl {

namespace {

/// RFC 3339 of a steady time point, or null.
nlohmann::ordered_json optional_time(const std::optional<LockTable::TimePoint>& time, const ClockReadings& clocks) {
  if (!time) return nullptr;
  return format_rfc3339(clocks.wall(*time));
}

}  // namespace

const char* kind_name(LockTable::Kind kind) {
  return kind == LockTable::Kind::detached ? "detached" : "connection";
}

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec, millis % 1000);
}

std::string dump_json(const nlohmann::ordered_json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string locks_to_json(const std::vector<LockTable::NameState>& names, const ClockReadings& clocks) {
  // Ordered: a person reading `.locks` sees the name first.
  nlohmann::ordered_json locks = nlohmann::ordered_json::array();
  for (const auto& state : names) {
    nlohmann::ordered_json holders = nlohmann::ordered_json::array();
    for (const auto& holder : state.holders) {
      holders.push_back({
          {"id", holder.id.str()},
          {"kind", kind_name(holder.kind)},
          {"client_id", holder.client_id},
          {"peer", holder.peer},
          {"since", format_rfc3339(clocks.wall(holder.since))},
          {"held_seconds", clocks.seconds_since(holder.since)},
          {"token", holder.token},
          {"reason", holder.reason},
          {"expires", optional_time(holder.expires, clocks)},
      });
    }
    locks.push_back({{"name", state.name}, {"limit", state.limit}, {"holders", std::move(holders)},
                     {"waiters", state.waiters.size()}});
  }
  return dump_json(nlohmann::ordered_json{{"locks", std::move(locks)}});
}

nlohmann::ordered_json lock_record(const std::string& name, std::size_t limit, const LockTable::Holder& holder,
                                   const std::vector<LockTable::Holder>& waiters, const ClockReadings& clocks) {
  nlohmann::ordered_json queue = nlohmann::ordered_json::array();
  for (const auto& waiter : waiters) {
    queue.push_back({{"who", waiter.client_id},
                     {"peer", waiter.peer},
                     {"reason", waiter.reason},
                     {"kind", kind_name(waiter.kind)},
                     {"waitingSince", format_rfc3339(clocks.wall(waiter.since))}});
  }
  return {
      {"id", holder.id.str()},
      {"service", name},
      {"who", holder.client_id},
      {"createdAt", format_rfc3339(clocks.wall(holder.since))},
      {"kind", kind_name(holder.kind)},
      {"token", holder.token},
      {"reason", holder.reason},
      {"peer", holder.peer},
      {"expiresAt", optional_time(holder.expires, clocks)},
      {"heldSeconds", clocks.seconds_since(holder.since)},
      {"limit", limit},
      {"waiters", std::move(queue)},
  };
}

}  // namespace tnl
