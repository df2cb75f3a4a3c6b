// Updating a detached lock's who and event_id (HTTP PUT /lock/{id}, as gRPC's UpdateLock)
// on replicas of one etcd: made on A, updated on B, every replica shows the new values;
// the lock keeps excluding; a released one is not brought back by a later update.
#include <catch2/catch.hpp>

#include "etcd_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::etcd;

TEST_CASE("replicas: a detached lock made on A, updated on B, shows its new who everywhere", "[etcd][replicas][update]") {
  EtcdCluster cluster(1);
  const std::string prefix = unique_prefix("update");
  Replica a(cluster, prefix, 3), b(cluster, prefix, 3);

  const HttpReply created =
      a.http().post("/api/v1alpha1/lock", nlohmann::json{{"service", "deploy"}, {"who", "ci-1"}, {"ttl", 60}});
  REQUIRE(created.status == 201);
  const std::string id = created.json().value("id", "");
  REQUIRE_FALSE(id.empty());

  const HttpReply updated = b.http().request("PUT", "/api/v1alpha1/lock/" + id,
                                             nlohmann::json{{"who", "ci-2"}, {"event_id", "run-2"}}.dump());
  INFO(updated.body);
  REQUIRE(updated.status == 200);
  CHECK(updated.json()["who"] == "ci-2");
  CHECK(updated.json()["reason"] == "run-2");
  CHECK(updated.json()["token"] == created.json()["token"]);
  CHECK(updated.json()["expiresAt"] == created.json()["expiresAt"]);

  // Every replica shows it: by id at once, in the list and `.locks` once its watch has it.
  for (Replica* replica : {&a, &b}) {
    const HttpReply got = replica->http().get("/api/v1alpha1/lock/" + id);
    REQUIRE(got.status == 200);
    CHECK(got.json()["who"] == "ci-2");
    CHECK(wait_until([&] {
      const HttpReply listed = replica->http().get("/api/v1alpha1/locks/list?service=deploy");
      return listed.status == 200 && listed.json()["locks"].size() == 1 && listed.json()["locks"][0]["who"] == "ci-2";
    }));
    CHECK(wait_until([&] {
      const auto locks = replica->locks("deploy");
      return locks.is_object() && locks["locks"].size() == 1 && locks["locks"][0]["holders"][0]["client_id"] == "ci-2";
    }));
  }
  // Still held, on every replica.
  CHECK(LineClient(a.port()).request("lock,name:deploy") == std::optional<std::string>("not-granted"));
  CHECK(LineClient(b.port()).request("lock,name:deploy") == std::optional<std::string>("not-granted"));

  // Released on A: an update on B is 404, and the name stays free.
  CHECK(a.http().del("/api/v1alpha1/lock/" + id).status == 200);
  CHECK(b.http().request("PUT", "/api/v1alpha1/lock/" + id, nlohmann::json{{"who", "ghost"}}.dump()).status == 404);
  CHECK(a.http().get("/api/v1alpha1/lock/" + id).status == 404);
  CHECK(LineClient(b.port()).request("lock,name:deploy") == std::optional<std::string>("ok"));
}

}  // namespace TNL_UNITY_ID
