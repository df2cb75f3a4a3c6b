#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <optional>
#include <variant>

#include "lock_options.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockOptions;

namespace {

std::variant<LockOptions, std::string_view> parse(std::string_view line) {
  const auto request = tnl::parse_request(line);
  REQUIRE(request);
  return tnl::parse_lock_options(*request);
}

LockOptions ok(std::string_view line) {
  auto result = parse(line);
  INFO(line);
  REQUIRE(std::holds_alternative<LockOptions>(result));
  return std::get<LockOptions>(result);
}

std::string_view error(std::string_view line) {
  auto result = parse(line);
  INFO(line);
  REQUIRE(std::holds_alternative<std::string_view>(result));
  return std::get<std::string_view>(result);
}

}  // namespace

TEST_CASE("a plain lock request has tcpnetlock's defaults", "[lock_options]") {
  const auto options = ok("lock,name:abc");
  CHECK(options.name == "abc");
  CHECK(options.client_id.empty());
  CHECK(options.wait_seconds == 0.0);
  CHECK_FALSE(options.fencing);
  CHECK(options.limit == 1);
  CHECK(options.reason.empty());
}

TEST_CASE("every extension parses", "[lock_options]") {
  const auto options = ok("lock,name:abc,client-id:me,wait:2.5,fencing:1,limit:3,reason:nightly batch: run 7");
  CHECK(options.client_id == "me");
  CHECK(options.wait_seconds == 2.5);
  CHECK(options.fencing);
  CHECK(options.limit == 3);
  CHECK(options.reason == "nightly batch: run 7");
  CHECK_FALSE(ok("lock,name:a,wait:inf").wait_seconds);
  CHECK(ok("lock,name:a,wait:0").wait_seconds == 0.0);
  CHECK(ok("lock,name:a,wait:30").wait_seconds == 30.0);
  CHECK(ok("lock,name:a,wait:.5").wait_seconds == 0.5);
  CHECK_FALSE(ok("lock,name:a,fencing:0").fencing);
  CHECK(ok("lock,name:a,fencing:true").fencing);
  CHECK(ok("lock,name:a,limit:10000").limit == 10000);
}

TEST_CASE("the contract's errors come first", "[lock_options]") {
  CHECK(error("lock") == tnl::answer::invalid_lock_name);
  CHECK(error("lock,name:a b") == tnl::answer::invalid_lock_name);
  CHECK(error("lock,name:a,client-id:a b") == tnl::answer::invalid_client_id);
}

TEST_CASE("invalid extensions are refused with a clear error", "[lock_options]") {
  for (const char* line : {"lock,name:a,wait:", "lock,name:a,wait:-1", "lock,name:a,wait:1e3", "lock,name:a,wait:nan",
                           "lock,name:a,wait:infinity", "lock,name:a,wait:1.2.3", "lock,name:a,wait:.",
                           "lock,name:a,wait:0x10", "lock,name:a,wait:99999999999"}) {
    CHECK(error(line) == tnl::answer::invalid_wait);
  }
  for (const char* line : {"lock,name:a,fencing:", "lock,name:a,fencing:2", "lock,name:a,fencing:maybe"}) {
    CHECK(error(line) == tnl::answer::invalid_fencing);
  }
  for (const char* line : {"lock,name:a,limit:0", "lock,name:a,limit:-1", "lock,name:a,limit:10001",
                           "lock,name:a,limit:", "lock,name:a,limit:2x", "lock,name:a,limit:99999999999999999999"}) {
    CHECK(error(line) == tnl::answer::invalid_limit);
  }
  CHECK(error("lock,name:a,reason:" + std::string(tnl::max_reason_length + 1, 'r')) == tnl::answer::invalid_reason);
  CHECK(error(std::string("lock,name:a,reason:a\x01z")) == tnl::answer::invalid_reason);
  CHECK(ok("lock,name:a,reason:" + std::string(tnl::max_reason_length, 'r')).reason.size() == tnl::max_reason_length);
}

TEST_CASE("a ttl is at least a tenth of a second and at most a year, for every front end", "[lock_options][ttl]") {
  std::optional<double> seconds;
  for (const char* good : {"0.1", "0.2", "1", "600", "31536000"}) {
    INFO(good);
    CHECK(tnl::parse_ttl_seconds(good, seconds));
  }
  CHECK(tnl::parse_ttl_seconds("inf", seconds));
  CHECK_FALSE(seconds);
  for (const char* bad : {"0", "0.0", "0.0000001", "0.09", "0.099999", "31536000.5", "1e-300", "-1", ""}) {
    INFO(bad);
    CHECK_FALSE(tnl::parse_ttl_seconds(bad, seconds));
  }
  CHECK(tnl::is_valid_ttl_seconds(tnl::min_ttl_seconds));
  CHECK_FALSE(tnl::is_valid_ttl_seconds(1e-300));
  CHECK_FALSE(tnl::is_valid_ttl_seconds(std::nan("")));
  CHECK_FALSE(tnl::is_valid_ttl_seconds(std::numeric_limits<double>::infinity()));
}

}  // namespace TNL_UNITY_ID
