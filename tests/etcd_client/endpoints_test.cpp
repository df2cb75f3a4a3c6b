// parse_endpoints: the --etcd-endpoints list.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "etcd/endpoints.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::etcd::parse_endpoints;
using Endpoints = std::vector<std::string>;

TEST_CASE("etcd endpoints: http URLs and host:port, in order, duplicates dropped", "[etcd][endpoints]") {
  CHECK(parse_endpoints("http://a:2379,b:2379") == Endpoints{"a:2379", "b:2379"});
  CHECK(parse_endpoints("127.0.0.1:2379") == Endpoints{"127.0.0.1:2379"});
  CHECK(parse_endpoints(" http://etcd-0.etcd:2379/ , http://etcd-1.etcd:2379 ") ==
        Endpoints{"etcd-0.etcd:2379", "etcd-1.etcd:2379"});
  CHECK(parse_endpoints("http://[::1]:2379,[fd00::2]:12379") == Endpoints{"[::1]:2379", "[fd00::2]:12379"});
  CHECK(parse_endpoints("a:2379,http://a:2379,b:1") == Endpoints{"a:2379", "b:1"});
  CHECK(parse_endpoints("a:02379") == Endpoints{"a:2379"});
}

TEST_CASE("etcd endpoints: bad lists are refused with the item named", "[etcd][endpoints]") {
  const auto message = [](const std::string& list) {
    try {
      parse_endpoints(list);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(message(""), Catch::Contains("no etcd endpoint"));
  CHECK_THAT(message("  "), Catch::Contains("no etcd endpoint"));
  CHECK_THAT(message("a:1,,b:2"), Catch::Contains("empty item"));
  CHECK_THAT(message("a:1,"), Catch::Contains("empty item"));
  CHECK_THAT(message("https://a:2379"), Catch::Contains("https is not supported"));
  CHECK_THAT(message("unix://a:2379"), Catch::Contains("'unix://a:2379'"));
  CHECK_THAT(message("http://a:2379/v3"), Catch::Contains("nothing more"));
  CHECK_THAT(message("http://user@a:2379"), Catch::Contains("nothing more"));
  CHECK_THAT(message("a"), Catch::Contains("no port"));
  CHECK_THAT(message("http://a"), Catch::Contains("no port"));
  CHECK_THAT(message(":2379"), Catch::Contains("no host"));
  CHECK_THAT(message("a:"), Catch::Contains("port must be"));
  CHECK_THAT(message("a:0"), Catch::Contains("port must be"));
  CHECK_THAT(message("a:65536"), Catch::Contains("port must be"));
  CHECK_THAT(message("a:99999999999"), Catch::Contains("port must be"));
  CHECK_THAT(message("a:-1"), Catch::Contains("port must be"));
  CHECK_THAT(message("::1:2379"), Catch::Contains("brackets"));
  CHECK_THAT(message("[::1]2379"), Catch::Contains("[address]:port"));
  CHECK_THAT(message("[::1]:"), Catch::Contains("port must be"));
}

}  // namespace TNL_UNITY_ID
