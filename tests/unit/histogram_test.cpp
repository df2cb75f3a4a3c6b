#include <catch2/catch.hpp>

#include "histogram.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

TEST_CASE("a histogram renders cumulative buckets, +Inf, sum and count", "[metrics]") {
  tnl::Histogram histogram({0.1, 1, 10});
  histogram.observe(0.05);
  histogram.observe(0.1);  // on a bound: counted in that bucket (le)
  histogram.observe(5);
  histogram.observe(100);
  std::string out;
  histogram.render("x_seconds", out);
  CHECK(out ==
        "x_seconds_bucket{le=\"0.1\"} 2\n"
        "x_seconds_bucket{le=\"1\"} 2\n"
        "x_seconds_bucket{le=\"10\"} 3\n"
        "x_seconds_bucket{le=\"+Inf\"} 4\n"
        "x_seconds_sum 105.15\n"
        "x_seconds_count 4\n");
}

}  // namespace TNL_UNITY_ID
