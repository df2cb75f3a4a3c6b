// Collecting every repetition's figures, and printing them: a table of medians with the
// ratio of ours to the floor, and one line per target of issue 5 saying met or NOT met.
#pragma once

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace bench {

/// Every repetition's figures, by scenario, metric and target ("ours", "floor").
class Results {
 public:
  /// Records one repetition of `scenario` against `target`.
  void add(const std::string& scenario, const std::string& target, const Metrics& metrics);
  /// Records that a repetition failed, and why.
  void fail(const std::string& scenario, const std::string& target, const std::string& why);

  /// Median over the repetitions, or nothing if never measured.
  [[nodiscard]] std::optional<double> median(const std::string& scenario, const std::string& metric,
                                             const std::string& target) const;
  /// The first failure of `scenario` against `target`, or nothing.
  [[nodiscard]] std::optional<std::string> failure(const std::string& scenario, const std::string& target) const;
  [[nodiscard]] bool any_failure() const { return !failures_.empty(); }
  /// True once `scenario` has been run (or tried) against any server.
  [[nodiscard]] bool ran(const std::string& scenario) const;

  /// One row per scenario and metric: the median per target, ours/`baseline` (when the
  /// baseline is one of the targets), and ours' range.
  void print_table(std::FILE* out, const std::vector<std::string>& targets, const std::string& baseline = "floor") const;
  /// Every repetition's value, tab-separated: scenario, metric, target, repetition, value.
  void write_raw(std::FILE* out) const;

 private:
  struct Row {
    std::string scenario;
    std::string metric;
    int decimals = 0;
    std::map<std::string, std::vector<double>> values;  ///< by target, in repetition order
  };
  const Row* find(const std::string& scenario, const std::string& metric) const;

  std::vector<Row> rows_;  ///< in the order first measured
  std::map<std::pair<std::string, std::string>, std::string> failures_;
  std::vector<std::string> scenarios_;  ///< in the order first seen, failed ones included
};

/// One target of issue 5, checked against the medians of our server.
struct Goal {
  enum class Kind {
    below,           ///< ours < threshold
    at_most,         ///< ours <= threshold
    at_least,        ///< ours >= threshold
    floor_ratio_at_least,  ///< ours / floor >= threshold
  };
  std::string scenario;  ///< e.g. "cycle c=16"
  std::string metric;    ///< e.g. "cycles/s"
  Kind kind = Kind::below;
  double threshold = 0;
  std::string unit;  ///< shown after the figures
  std::string baseline = "floor";  ///< what floor_ratio_at_least compares with ("anchor" in bench_etcd)
};

/// Prints "met" or "NOT met" per goal with the measured figure ("not run" when its scenario
/// was left out); returns how many are not met.
int print_goals(std::FILE* out, const Results& results, const std::vector<Goal>& goals);

}  // namespace bench
