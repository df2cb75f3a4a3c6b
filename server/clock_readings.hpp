// One reading of the steady clock (which the local lock table runs on) and of the wall
// clock (which readers are shown, and which is saved), taken together, so that steady
// times can be shown as wall-clock times.
#pragma once

#include <chrono>

namespace tnl {

/// Turns steady times into wall-clock times, from one reading of each clock.
struct ClockReadings {
  std::chrono::steady_clock::time_point steady_now = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now();

  /// `steady` on the wall clock.
  [[nodiscard]] std::chrono::system_clock::time_point wall(std::chrono::steady_clock::time_point steady) const {
    return wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(steady - steady_now);
  }
  /// Seconds from `steady` to the reading.
  [[nodiscard]] double seconds_since(std::chrono::steady_clock::time_point steady) const {
    return std::chrono::duration<double>(steady_now - steady).count();
  }
};

}  // namespace tnl
