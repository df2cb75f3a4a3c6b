// A Prometheus histogram of durations in seconds: fixed bucket bounds, cumulative counts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tnl {

class Histogram {
 public:
  /// `bounds`: upper bounds in seconds, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);

  /// Records one duration.
  void observe(double seconds);

  /// Appends `name_bucket{le=...}`, `name_sum` and `name_count` lines (no HELP/TYPE).
  void render(const std::string& name, std::string& out) const;

  [[nodiscard]] std::uint64_t count() const { return count_; }
  [[nodiscard]] double sum() const { return sum_; }

  /// 100 µs to 1 h: from a lock handoff to a nightly batch.
  static std::vector<double> default_bounds();

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  ///< per bucket, not cumulative; last is +Inf
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace tnl
