// The scenarios of the benchmark. Each one, at one setting ("cycle c=16"), runs once
// against one server at a time and returns the figures it measured; the driver repeats
// it against our server and the floor in turn and reports medians.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "async_clients.hpp"
#include "measure.hpp"
#include "server_process.hpp"

namespace bench {

/// One figure a scenario measured, e.g. {"cycles/s", 12345.0, 0}.
struct Metric {
  std::string name;
  double value = 0;
  int decimals = 0;  ///< for the table
};
using Metrics = std::vector<Metric>;

/// One scenario at one setting.
struct Scenario {
  std::string name;  ///< e.g. "cycle c=16": the first word is the scenario
  std::function<Metrics(const Target&)> run;
};

/// `cycle`: `clients` clients each loop connect, `lock` a fresh name, `release`, close.
Scenario cycle_scenario(int clients, Clock::duration duration);
/// `contended`: the same, all on one name with `wait:30`, so grants are serialised.
Scenario contended_scenario(int clients, Clock::duration duration);
/// `hold`: opens `holders` connections each holding its own lock; time and memory.
Scenario hold_scenario(int holders, int window);
/// `handoff`: `waiters` queued on one name; from a `release` to the next waiter's `ok`.
Scenario handoff_scenario(int waiters, int rounds);
/// `inspect`: `.stats` and `.locks` answer times with `holders` locks held.
Scenario inspect_scenario(int holders, int window, int queries);

/// Throws unless our server's `.stats` says `expected` locks are held (the floor holds none).
void check_held(const Target& target, int expected);

/// Runs `spec` and turns it into figures: `rate_name` per second, p50/p99 per cycle, and
/// the CPU time the server and the load generator used (shared by cycle and contended).
Metrics measure_cycles(CycleSpec spec, const Target& target, const std::string& rate_name);

}  // namespace bench
