// `cycle`: the cost of a whole lock's life on a fresh connection, with no contention.
#include <fmt/format.h>

#include "scenario.hpp"

namespace bench {

Metrics measure_cycles(CycleSpec spec, const Target& target, const std::string& rate_name) {
  const double server_cpu_before = target.pid > 0 ? cpu_seconds(target.pid) : 0;
  const double own_cpu_before = own_cpu_seconds();
  const CycleOutcome outcome = run_cycles(spec);
  const double own_cpu = own_cpu_seconds() - own_cpu_before;
  const auto cycles = static_cast<double>(outcome.micros.size());
  const double seconds = outcome.seconds > 0 ? outcome.seconds : 1e-9;

  Metrics metrics{
      {rate_name, cycles / seconds, 0},
      {"p50 us", percentile(outcome.micros, 0.50), 1},
      {"p99 us", percentile(outcome.micros, 0.99), 1},
  };
  if (target.pid > 0) {
    const double server_cpu = cpu_seconds(target.pid) - server_cpu_before;
    metrics.push_back({"server CPU us/op", cycles > 0 ? server_cpu * 1e6 / cycles : 0, 1});
    metrics.push_back({"server CPU %", 100 * server_cpu / seconds, 0});
  }
  metrics.push_back({"loadgen CPU %", 100 * own_cpu / seconds, 0});
  return metrics;
}

Scenario cycle_scenario(int clients, Clock::duration duration) {
  return {fmt::format("cycle c={}", clients), [=](const Target& target) {
            CycleSpec spec;
            spec.port = target.port;
            spec.clients = clients;
            spec.duration = duration;
            spec.lock_line = [](int client, std::uint64_t cycle) {
              return fmt::format("lock,name:cycle-{}-{}\n", client, cycle);
            };
            return measure_cycles(std::move(spec), target, "cycles/s");
          }};
}

}  // namespace bench
