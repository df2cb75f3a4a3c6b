// The localhost names a client answers itself (RFC 6761), for a root without /etc/hosts.
#include <catch2/catch.hpp>

#include "localhost_name.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::is_localhost_name;

TEST_CASE("localhost, localhost. and names under localhost are loopback names", "[localhost]") {
  for (const char* name : {"localhost", "localhost.", "LocalHost", "LOCALHOST.", "db.localhost", "a.b.localhost",
                           "db.localhost.", "x.LOCALHOST"}) {
    INFO(name);
    CHECK(is_localhost_name(name));
  }
}

TEST_CASE("other names, and malformed names ending in localhost, go to the resolver", "[localhost]") {
  for (const char* name : {"", ".", "localhos", "notlocalhost", "localhost.example.com", "localhost..", ".localhost",
                           "..localhost", "a..localhost", "127.0.0.1", "::1", "localhost-1", "mylocalhost."}) {
    INFO(name);
    CHECK_FALSE(is_localhost_name(name));
  }
}

TEST_CASE("the loopback endpoints are 127.0.0.1 then ::1, on the port asked", "[localhost]") {
  const auto endpoints = tnl::loopback_endpoints(7654);
  REQUIRE(endpoints.size() == 2);
  CHECK(endpoints[0].address().to_string() == "127.0.0.1");
  CHECK(endpoints[1].address().to_string() == "::1");
  CHECK(endpoints[0].port() == 7654);
  CHECK(endpoints[1].port() == 7654);
}

}  // namespace TNL_UNITY_ID
