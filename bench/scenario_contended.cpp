// `contended`: every client queues for the same name (`wait:30`), so our server grants it
// to one at a time and hands it on at each release. The floor has no lock table and
// grants every request at once: its figures are the uncontended upper bound.
#include <fmt/format.h>

#include "scenario.hpp"

namespace bench {

Scenario contended_scenario(int clients, Clock::duration duration) {
  return {fmt::format("contended c={}", clients), [=](const Target& target) {
            CycleSpec spec;
            spec.port = target.port;
            spec.clients = clients;
            spec.duration = duration;
            spec.lock_line = [](int, std::uint64_t) { return std::string("lock,name:hot,wait:30\n"); };
            return measure_cycles(std::move(spec), target, "grants/s");
          }};
}

}  // namespace bench
