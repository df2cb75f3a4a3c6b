// `hold`: many connections, each holding its own lock. How long opening them all takes,
// and how much the server's resident memory (VmRSS) grows per held lock.
#include <fmt/format.h>

#include <stdexcept>

#include "line_connection.hpp"
#include "scenario.hpp"

namespace bench {

void check_held(const Target& target, int expected) {
  if (target.is_floor) return;
  const long held = json_integer(query(target.port, ".stats\n"), "lock_count");
  if (held != expected) throw std::runtime_error(fmt::format("server holds {} locks, expected {}", held, expected));
}

Scenario hold_scenario(int holders, int window) {
  return {fmt::format("hold n={}", holders), [=](const Target& target) {
            const long rss_before = target.pid > 0 ? vm_rss_kib(target.pid) : 0;
            const double server_cpu_before = target.pid > 0 ? cpu_seconds(target.pid) : 0;
            const double own_cpu_before = own_cpu_seconds();
            Holders held;
            const double seconds = held.open(target.port, holders, window, "hold-");
            const double own_cpu = own_cpu_seconds() - own_cpu_before;
            const double server_cpu = target.pid > 0 ? cpu_seconds(target.pid) - server_cpu_before : 0;
            const long rss_after = target.pid > 0 ? vm_rss_kib(target.pid) : 0;
            check_held(target, holders);
            Metrics metrics{
                {"held", static_cast<double>(held.size()), 0},
                {"open ms", seconds * 1e3, 1},
                {"opens/s", holders / (seconds > 0 ? seconds : 1e-9), 0},
            };
            if (target.pid > 0) {
              metrics.push_back({"RSS before KiB", static_cast<double>(rss_before), 0});
              metrics.push_back({"RSS after KiB", static_cast<double>(rss_after), 0});
              metrics.push_back({"RSS B/lock", static_cast<double>(rss_after - rss_before) * 1024 / holders, 0});
              metrics.push_back({"server CPU us/op", server_cpu * 1e6 / holders, 1});
              metrics.push_back({"server CPU %", 100 * server_cpu / seconds, 0});
            }
            metrics.push_back({"loadgen CPU %", 100 * own_cpu / seconds, 0});
            return metrics;
          }};
}

}  // namespace bench
