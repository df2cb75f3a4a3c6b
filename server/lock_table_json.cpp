#include "lock_table_json.hpp"

#include <ctime>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace tnl {

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec, millis % 1000);
}

std::string locks_to_json(const std::vector<LockTable::NameState>& names, LockTable::TimePoint steady_now,
                          std::chrono::system_clock::time_point wall_now) {
  // Ordered: a person reading `.locks` sees the name first.
  nlohmann::ordered_json locks = nlohmann::ordered_json::array();
  for (const auto& state : names) {
    nlohmann::ordered_json holders = nlohmann::ordered_json::array();
    for (const auto& holder : state.holders) {
      const auto held_for = steady_now - holder.since;
      holders.push_back({
          {"client_id", holder.client_id},
          {"peer", holder.peer},
          {"since", format_rfc3339(wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(held_for))},
          {"held_seconds", std::chrono::duration<double>(held_for).count()},
          {"token", holder.token},
          {"reason", holder.reason},
      });
    }
    locks.push_back({{"name", state.name}, {"limit", state.limit}, {"holders", std::move(holders)},
                     {"waiters", state.waiters}});
  }
  return nlohmann::ordered_json{{"locks", std::move(locks)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tnl
