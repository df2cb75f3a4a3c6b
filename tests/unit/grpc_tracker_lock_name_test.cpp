// Tracker's service/environment/resource onto one lock name and back (server/grpc).
#include <catch2/catch.hpp>

#include "grpc/tracker_lock_name.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

namespace {

std::optional<std::string> name_of(const std::string& service, const std::string& environment = {},
                                   const std::string& resource = {}) {
  std::string error;
  auto name = tnl::tracker_lock_name({service, environment, resource}, error);
  if (!name) CHECK(!error.empty());
  return name;
}

}  // namespace

TEST_CASE("grpc lock names: the service alone is the lock name, as over HTTP", "[grpc][names]") {
  CHECK(name_of("production-deployment") == "production-deployment");
  CHECK(name_of("a--b") == "a--b");  // anything HTTP takes
  CHECK(name_of("-x-") == "-x-");
  CHECK(!name_of(""));
  CHECK(!name_of("bad name"));
  CHECK(!name_of("a/b"));
}

TEST_CASE("grpc lock names: environment and resource join the service, one name per triple", "[grpc][names]") {
  CHECK(name_of("deploy", "prod", "db") == "deploy--prod--db");
  CHECK(name_of("deploy", "prod") == "deploy--prod");
  CHECK(name_of("deploy", "", "db") == "deploy----db");
  // What would make one name stand for two triples is refused.
  CHECK(!name_of("a--b", "c"));
  CHECK(!name_of("a", "b--c"));
  CHECK(!name_of("a-", "b"));
  CHECK(!name_of("a", "-b"));
  CHECK(!name_of("a", "b", "c-"));
  CHECK(!name_of("a", "b c"));
  CHECK(!name_of("", "b"));
}

TEST_CASE("grpc lock names: split undoes the join, and leaves other names whole", "[grpc][names]") {
  for (const auto& [service, environment, resource] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"deploy", "prod", "db"}, {"deploy", "prod", ""}, {"deploy", "", "db"}, {"a_b", "c-d", "e"}, {"x", "", ""}}) {
    std::string error;
    const auto name = tnl::tracker_lock_name({service, environment, resource}, error);
    REQUIRE(name);
    const auto parts = tnl::split_tracker_lock_name(*name);
    CHECK(parts.service == service);
    CHECK(parts.environment == environment);
    CHECK(parts.resource == resource);
  }
  for (const std::string whole : {"a---b", "a--", "--a", "a--b--c--d", "a--b--", "a--b---c"}) {
    INFO(whole);
    CHECK(tnl::split_tracker_lock_name(whole).service == whole);
    CHECK(tnl::split_tracker_lock_name(whole).environment.empty());
  }
}

}  // namespace TNL_UNITY_ID
