#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace bench {

void Results::add(const std::string& scenario, const std::string& target, const Metrics& metrics) {
  if (std::find(scenarios_.begin(), scenarios_.end(), scenario) == scenarios_.end()) scenarios_.push_back(scenario);
  for (const auto& metric : metrics) {
    auto row = std::find_if(rows_.begin(), rows_.end(),
                            [&](const Row& r) { return r.scenario == scenario && r.metric == metric.name; });
    if (row == rows_.end()) row = rows_.insert(rows_.end(), Row{scenario, metric.name, metric.decimals, {}});
    row->values[target].push_back(metric.value);
  }
}

void Results::fail(const std::string& scenario, const std::string& target, const std::string& why) {
  if (std::find(scenarios_.begin(), scenarios_.end(), scenario) == scenarios_.end()) scenarios_.push_back(scenario);
  failures_.emplace(std::make_pair(scenario, target), why);
}

const Results::Row* Results::find(const std::string& scenario, const std::string& metric) const {
  const auto row = std::find_if(rows_.begin(), rows_.end(),
                                [&](const Row& r) { return r.scenario == scenario && r.metric == metric; });
  return row == rows_.end() ? nullptr : &*row;
}

std::optional<double> Results::median(const std::string& scenario, const std::string& metric,
                                      const std::string& target) const {
  const Row* row = find(scenario, metric);
  if (row == nullptr) return std::nullopt;
  const auto values = row->values.find(target);
  if (values == row->values.end() || values->second.empty()) return std::nullopt;
  return bench::median(values->second);
}

bool Results::ran(const std::string& scenario) const {
  return std::find(scenarios_.begin(), scenarios_.end(), scenario) != scenarios_.end();
}

std::optional<std::string> Results::failure(const std::string& scenario, const std::string& target) const {
  const auto found = failures_.find({scenario, target});
  if (found == failures_.end()) return std::nullopt;
  return found->second;
}

void Results::print_table(std::FILE* out, const std::vector<std::string>& targets, const std::string& baseline) const {
  const bool with_floor = std::find(targets.begin(), targets.end(), baseline) != targets.end();
  std::string header = fmt::format("{:<20} {:<18}", "scenario", "metric");
  for (const auto& target : targets) header += fmt::format(" {:>12}", target);
  if (with_floor) header += fmt::format(" {:>11}", "ours/" + baseline);
  header += fmt::format("  {}", "ours min..max");
  fmt::print(out, "{}\n{}\n", header, std::string(header.size(), '-'));
  for (const auto& scenario : scenarios_) {
    for (const auto& target : targets) {
      if (const auto why = failure(scenario, target)) {
        fmt::print(out, "{:<20} {:<18} FAILED against {}: {}\n", scenario, "-", target, *why);
      }
    }
    for (const auto& row : rows_) {
      if (row.scenario != scenario) continue;
      std::string line = fmt::format("{:<20} {:<18}", row.scenario, row.metric);
      for (const auto& target : targets) {
        const auto value = median(row.scenario, row.metric, target);
        line += value ? fmt::format(" {:>12.{}f}", *value, row.decimals) : fmt::format(" {:>12}", "-");
      }
      if (with_floor) {
        const auto ours = median(row.scenario, row.metric, "ours");
        const auto floor = median(row.scenario, row.metric, baseline);
        line += ours && floor && *floor != 0 ? fmt::format(" {:>11.2f}", *ours / *floor) : fmt::format(" {:>11}", "-");
      }
      const auto ours = row.values.find("ours");
      if (ours != row.values.end() && !ours->second.empty()) {
        const auto [low, high] = std::minmax_element(ours->second.begin(), ours->second.end());
        line += fmt::format("  {:.{}f}..{:.{}f}", *low, row.decimals, *high, row.decimals);
      }
      fmt::print(out, "{}\n", line);
    }
  }
}

void Results::write_raw(std::FILE* out) const {
  fmt::print(out, "scenario\tmetric\ttarget\trepetition\tvalue\n");
  for (const auto& row : rows_) {
    for (const auto& [target, values] : row.values) {
      for (std::size_t i = 0; i < values.size(); ++i) {
        fmt::print(out, "{}\t{}\t{}\t{}\t{}\n", row.scenario, row.metric, target, i + 1, values[i]);
      }
    }
  }
}

namespace {
/// A figure for a target line: whole numbers as such, small ones with three significant digits.
std::string figure(double value) {
  if (value == static_cast<double>(static_cast<long long>(value))) return fmt::format("{}", static_cast<long long>(value));
  return value < 10 ? fmt::format("{:.3g}", value) : fmt::format("{:.1f}", value);
}
}  // namespace

int print_goals(std::FILE* out, const Results& results, const std::vector<Goal>& goals) {
  int not_met = 0;
  for (const auto& goal : goals) {
    const std::string what = fmt::format("{} {}", goal.scenario, goal.metric);
    if (!results.ran(goal.scenario)) {
      fmt::print(out, "target {}: not run\n", what);
      continue;
    }
    const auto ours = results.median(goal.scenario, goal.metric, "ours");
    if (!ours) {
      const auto why = results.failure(goal.scenario, "ours");
      fmt::print(out, "target {}: NOT met ({})\n", what, why ? "failed: " + *why : std::string("not measured"));
      ++not_met;
      continue;
    }
    bool met = false;
    std::string shown;
    switch (goal.kind) {
      case Goal::Kind::below:
        met = *ours < goal.threshold;
        shown = fmt::format("{} {} (target < {} {})", figure(*ours), goal.unit, goal.threshold, goal.unit);
        break;
      case Goal::Kind::at_most:
        met = *ours <= goal.threshold;
        shown = fmt::format("{} {} (target <= {} {})", figure(*ours), goal.unit, goal.threshold, goal.unit);
        break;
      case Goal::Kind::at_least:
        met = *ours >= goal.threshold;
        shown = fmt::format("{} {} (target >= {} {})", figure(*ours), goal.unit, goal.threshold, goal.unit);
        break;
      case Goal::Kind::floor_ratio_at_least: {
        const auto floor = results.median(goal.scenario, goal.metric, goal.baseline);
        if (!floor || *floor <= 0) {
          fmt::print(out, "target {}: NOT met (no {} figure to compare with)\n", what, goal.baseline);
          ++not_met;
          continue;
        }
        met = *ours / *floor >= goal.threshold;
        shown = fmt::format("{:.0f} {} = {:.2f} x {}'s {:.0f} (target >= {} x {})", *ours, goal.unit, *ours / *floor,
                             goal.baseline, *floor, goal.threshold, goal.baseline);
        // A rate is only the server's if the load generator is not the one at its limit.
        const auto server_cpu = results.median(goal.scenario, "server CPU us/op", "ours");
        const auto floor_cpu = results.median(goal.scenario, "server CPU us/op", goal.baseline);
        const auto loadgen = results.median(goal.scenario, "loadgen CPU %", "ours");
        if (server_cpu && floor_cpu && loadgen && *floor_cpu > 0) {
          shown += fmt::format("; server CPU per op {:.2f} x {}'s, load generator at {:.0f}% CPU", *server_cpu / *floor_cpu,
                               goal.baseline, *loadgen);
        }
        break;
      }
    }
    if (!met) ++not_met;
    fmt::print(out, "target {}: {} - {}\n", what, met ? "met" : "NOT met", shown);
  }
  return not_met;
}

}  // namespace bench
