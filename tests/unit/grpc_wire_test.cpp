// gRPC's framing over HTTP/2 (server/grpc/grpc_wire): grpc-timeout, grpc-message's percent
// encoding and the length-prefixed messages, byte by byte.
#include <catch2/catch.hpp>

#include <string>

#include "grpc/grpc_wire.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace std::chrono_literals;
using tnl::grpc_wire::MessageReader;

TEST_CASE("grpc-timeout: every unit read and malformed values refused", "[grpc][wire]") {
  using tnl::grpc_wire::parse_timeout;
  CHECK(parse_timeout("1H") == std::chrono::nanoseconds(1h));
  CHECK(parse_timeout("2M") == std::chrono::nanoseconds(2min));
  CHECK(parse_timeout("3S") == std::chrono::nanoseconds(3s));
  CHECK(parse_timeout("100m") == std::chrono::nanoseconds(100ms));
  CHECK(parse_timeout("7u") == std::chrono::nanoseconds(7us));
  CHECK(parse_timeout("99999999n") == std::chrono::nanoseconds(99'999'999));
  CHECK(parse_timeout("0S") == std::chrono::nanoseconds(0));
  // The longest allowed, in hours (11,000 years), saturates instead of overflowing.
  CHECK(parse_timeout("99999999H") == std::chrono::nanoseconds::max());
  CHECK(parse_timeout("2562047H") == std::chrono::nanoseconds(2'562'047LL * 3'600'000'000'000LL));
  for (const char* bad : {"", "S", "1", "1s", "-1S", "1.5S", "123456789S", "1 S", "S1", "1SS", "0x1S"}) {
    INFO(bad);
    CHECK_FALSE(parse_timeout(bad));
  }
}

TEST_CASE("grpc-message: printable ASCII kept and the rest with '%' percent-encoded", "[grpc][wire]") {
  using tnl::grpc_wire::percent_encode;
  CHECK(percent_encode("lock already exists: {\"id\":\"x\"}") == "lock already exists: {\"id\":\"x\"}");
  CHECK(percent_encode("100% sure") == "100%25 sure");
  CHECK(percent_encode("line\nbreak") == "line%0Abreak");
  CHECK(percent_encode("caf\xc3\xa9") == "caf%C3%A9");
  CHECK(percent_encode(std::string("\0\x7f", 2)) == "%00%7F");
}

TEST_CASE("gRPC messages: framed and cut from DATA however it is split", "[grpc][wire]") {
  const std::string one = tnl::grpc_wire::frame("hello");
  REQUIRE(one == std::string("\0\0\0\0\5hello", 10));
  const std::string two = one + tnl::grpc_wire::frame("") + tnl::grpc_wire::frame("world!");
  for (std::size_t chunk = 1; chunk <= two.size(); ++chunk) {
    INFO("chunk " << chunk);
    MessageReader reader(64);
    std::vector<std::string> got;
    for (std::size_t at = 0; at < two.size(); at += chunk) {
      reader.append(std::string_view(two).substr(at, chunk));
      std::string message;
      while (reader.next(message) == MessageReader::Status::message) got.push_back(message);
    }
    CHECK(got == std::vector<std::string>{"hello", "", "world!"});
    CHECK_FALSE(reader.partial());
  }
}

TEST_CASE("gRPC messages: a compressed one or one past the limit is refused from its prefix", "[grpc][wire]") {
  std::string message;
  MessageReader compressed(64);
  compressed.append(std::string("\1\0\0\0\1x", 6));
  CHECK(compressed.next(message) == MessageReader::Status::compressed);

  // Refused from the five bytes of its prefix alone: nothing of the 4 GiB is waited for.
  MessageReader huge(64);
  huge.append(std::string("\0\xff\xff\xff\xff", 5));
  CHECK(huge.next(message) == MessageReader::Status::too_large);

  MessageReader at_limit(64);
  at_limit.append(tnl::grpc_wire::frame(std::string(64, 'a')));
  CHECK(at_limit.next(message) == MessageReader::Status::message);
  MessageReader past_limit(64);
  past_limit.append(tnl::grpc_wire::frame(std::string(65, 'a')).substr(0, 5));
  CHECK(past_limit.next(message) == MessageReader::Status::too_large);

  MessageReader partial(64);
  partial.append(std::string("\0\0\0", 3));
  CHECK(partial.next(message) == MessageReader::Status::incomplete);
  CHECK(partial.partial());
}

}  // namespace TNL_UNITY_ID
