// Durations as the command lines take them (common/duration): units, plain seconds, and
// everything else refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>
#include <string>

#include "duration.hpp"
#include "lock_options.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::format_duration;
using tnl::parse_duration;

TEST_CASE("duration: plain seconds, as before", "[duration]") {
  CHECK(parse_duration("10") == 10.0);
  CHECK(parse_duration("0") == 0.0);
  CHECK(parse_duration("0.5") == 0.5);
  CHECK(parse_duration(".5") == 0.5);
  CHECK(parse_duration("5.") == 5.0);
  CHECK(parse_duration("31536000") == 31536000.0);
}

TEST_CASE("duration: units, largest first", "[duration]") {
  CHECK(parse_duration("500ms") == 0.5);
  CHECK(parse_duration("90s") == 90.0);
  CHECK(parse_duration("10m") == 600.0);
  CHECK(parse_duration("1h") == 3600.0);
  CHECK(parse_duration("2d") == 172800.0);
  CHECK(parse_duration("1h30m") == 5400.0);
  CHECK(parse_duration("1.5h") == 5400.0);
  CHECK(parse_duration("1d2h3m4s5ms") == Approx(86400 + 7200 + 180 + 4 + 0.005));
  CHECK(parse_duration("1s500ms") == 1.5);
  CHECK(parse_duration("0s") == 0.0);
  CHECK(parse_duration("0.1s") == Approx(0.1));
  CHECK(parse_duration("365d") == tnl::max_ttl_seconds);  // the longest TTL: a year
  CHECK(parse_duration("8760h") == tnl::max_ttl_seconds);
}

TEST_CASE("duration: white space around is ignored, inside is not", "[duration]") {
  CHECK(parse_duration(" 10m ") == 600.0);
  CHECK(parse_duration("\t1h30m\n") == 5400.0);
  CHECK_FALSE(parse_duration("1h 30m"));
  CHECK_FALSE(parse_duration("10 m"));
  CHECK_FALSE(parse_duration("   "));
}

TEST_CASE("duration: inf only where allowed", "[duration]") {
  CHECK_FALSE(parse_duration("inf"));
  const auto inf = parse_duration("inf", true);
  REQUIRE(inf);
  CHECK(std::isinf(*inf));
  CHECK_FALSE(parse_duration("infinity", true));
  CHECK_FALSE(parse_duration("INF", true));
  CHECK_FALSE(parse_duration("-inf", true));
}

TEST_CASE("duration: everything else is refused", "[duration]") {
  const std::string text = GENERATE(as<std::string>{},
                                    "",        // empty
                                    "m",       // a unit without a number
                                    "h1",      // the number after
                                    "1h-5m",   // a sign in the middle
                                    "-5m",     // negative
                                    "+5m",     // a sign
                                    "-1",      //
                                    "1e3",     // exponent
                                    "1e3s",    //
                                    "nan",     //
                                    "0x10",    // hex
                                    ".",       // no digit
                                    ".s",      //
                                    "1..5s",   // two dots
                                    "1.2.3",   //
                                    "30m1h",   // smaller unit first
                                    "1h1h",    // repeated unit
                                    "1ms1s",   //
                                    "1m30",    // a trailing number without its unit
                                    "1M",      // upper case (M: months?)
                                    "1H",      //
                                    "1w",      // no weeks
                                    "1y",      // no years
                                    "1us",     // nothing finer than ms
                                    "1hm",     //
                                    "1sec",    //
                                    "1h,30m",  //
                                    "1h_30m");
  INFO("'" << text << "'");
  CHECK_FALSE(parse_duration(text));
  CHECK_FALSE(parse_duration(text, true));
}

TEST_CASE("duration: huge values neither overflow nor pass unnoticed", "[duration]") {
  // Long text is refused outright (64 characters at most).
  CHECK_FALSE(parse_duration(std::string(65, '9')));
  CHECK_FALSE(parse_duration(std::string(400, '9') + "d"));
  // Within the length, a huge value is returned as it is: finite, for the caller's range check.
  const auto huge = parse_duration(std::string(60, '9') + "d");
  REQUIRE(huge);
  CHECK(std::isfinite(*huge));
  CHECK(*huge > tnl::max_ttl_seconds);
  const auto sum = parse_duration("99999999999999999999d99999999999999999999h");
  REQUIRE(sum);
  CHECK(std::isfinite(*sum));
}

TEST_CASE("duration: printed the short way", "[duration]") {
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(0.001) == "1ms");
  CHECK(format_duration(0.1) == "100ms");
  CHECK(format_duration(1.5) == "1.5s");
  CHECK(format_duration(15) == "15s");
  CHECK(format_duration(90) == "1m30s");
  CHECK(format_duration(3600) == "1h");
  CHECK(format_duration(5400) == "1h30m");
  CHECK(format_duration(tnl::max_ttl_seconds) == "365d");
  CHECK(format_duration(-1) == "inf");
  // What it prints parses back to the same value.
  for (double seconds : {0.001, 0.1, 1.5, 15.0, 90.0, 3600.0, 5400.0, 93784.0, tnl::max_ttl_seconds}) {
    INFO(seconds);
    CHECK(parse_duration(format_duration(seconds)) == Approx(seconds));
  }
}

}  // namespace TNL_UNITY_ID
