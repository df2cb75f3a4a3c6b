// Tracker's gRPC API (tracker.lock.v1alpha1.LockService) against the real server, through
// stubs generated from our .proto: every method, every status code, auth and paging, and
// one lock model with the line protocol and HTTP.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "grpc_helpers.hpp"
#include "http_client.hpp"
#include "line_client.hpp"
#include "lock_id.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace std::chrono_literals;
using tnl::test::GrpcServerProcess;
using tnl::test::TrackerClient;
using grpc::StatusCode;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A server with an admin token file holding `token`.
struct TokenServer {
  tnl::test::TempDir dir;
  std::string token = "s3cret-token";
  GrpcServerProcess server{args()};
  std::vector<std::string> args() {
    const auto file = dir.path() / "token";
    std::ofstream(file) << token << "\n";
    return {"--admin-token-file", file.string()};
  }
};

}  // namespace

TEST_CASE("Tracker's flow: create, get, list, unlock", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  const auto before = std::chrono::system_clock::now();
  const auto created = client.create("production-deployment", "ci-pipeline-123");
  REQUIRE(created.ok());
  const auto& lock = created.response.lock();
  CHECK(tnl::LockId::parse(lock.id()));
  CHECK(lock.service() == "production-deployment");
  CHECK(lock.who() == "ci-pipeline-123");
  CHECK(lock.environment().empty());
  CHECK(lock.resource().empty());
  // created_at: when it was granted (a second's slack for the clocks' rounding).
  const auto created_at = std::chrono::system_clock::time_point(std::chrono::seconds(lock.created_at().seconds()));
  CHECK(created_at >= std::chrono::time_point_cast<std::chrono::seconds>(before) - 1s);
  CHECK(created_at <= std::chrono::system_clock::now() + 1s);

  const auto got = client.get(lock.id());
  REQUIRE(got.ok());
  CHECK(got.response.lock().id() == lock.id());
  CHECK(got.response.lock().service() == "production-deployment");
  CHECK(got.response.lock().who() == "ci-pipeline-123");
  // To the millisecond (a hold's wall time is derived at each read: one apart at an edge).
  const auto millis = [](const google::protobuf::Timestamp& t) { return t.seconds() * 1000 + t.nanos() / 1'000'000; };
  CHECK(std::abs(millis(got.response.lock().created_at()) - millis(lock.created_at())) <= 1);
  CHECK(lock.created_at().nanos() % 1'000'000 == 0);

  const auto listed = client.list();
  REQUIRE(listed.ok());
  CHECK(listed.response.total_count() == 1);
  REQUIRE(listed.response.locks_size() == 1);
  CHECK(listed.response.locks(0).id() == lock.id());

  const auto released = client.unlock(lock.id());
  REQUIRE(released.ok());
  CHECK(released.response.message() == "Lock released successfully");
  CHECK(released.response.id() == lock.id());
  CHECK(released.response.count() == 1);

  CHECK(client.get(lock.id()).code() == StatusCode::NOT_FOUND);
  CHECK(client.unlock(lock.id()).code() == StatusCode::NOT_FOUND);
  CHECK(client.list().response.total_count() == 0);
  // Free again: anyone may take it.
  CHECK(client.create("production-deployment", "someone-else").ok());
}

TEST_CASE("a conflict is ALREADY_EXISTS, with the holder in the message", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  const auto first = client.create("deploy", "first-pipeline");
  REQUIRE(first.ok());
  const auto second = client.create("deploy", "second-pipeline");
  CHECK(second.code() == StatusCode::ALREADY_EXISTS);
  const std::string message = second.status.error_message();
  CHECK(contains(message, "lock already exists"));
  CHECK(contains(message, "\"id\":\"" + first.response.lock().id() + "\""));
  CHECK(contains(message, "\"who\":\"first-pipeline\""));
  CHECK(contains(message, "\"createdAt\":\""));
  // Still the first one's.
  CHECK(client.get(first.response.lock().id()).ok());
  CHECK(client.list().response.total_count() == 1);
}

TEST_CASE("bad input is INVALID_ARGUMENT and changes nothing", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  CHECK(client.create("", "who").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("bad name", "who").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("a/b", "who").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc", "").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc", std::string(5000, 'w')).code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc", "who\nline").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc", "who", "prod--eu").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc--x", "who", "prod").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc", "who", "", "-db").code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.create("svc", "who", "", "", "event\x01").code() == StatusCode::INVALID_ARGUMENT);
  for (const std::string id : {"", "nope", "0cf8bcd7-30f3-42a0-abc4-d40e586aa56", "../etc/passwd"}) {
    INFO(id);
    CHECK(client.get(id).code() == StatusCode::INVALID_ARGUMENT);
    CHECK(client.unlock(id).code() == StatusCode::INVALID_ARGUMENT);
    tnl::test::tracker::UpdateLockRequest update;
    update.set_id(id);
    CHECK(client.update(update).code() == StatusCode::INVALID_ARGUMENT);
  }
  CHECK(client.list(0).code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.list(1001).code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.list(10, 0).code() == StatusCode::INVALID_ARGUMENT);
  CHECK(client.list(10, -1).code() == StatusCode::INVALID_ARGUMENT);
  // A message over the size limit is refused by gRPC itself.
  CHECK(client.create(std::string(20000, 'a'), "who").code() == StatusCode::RESOURCE_EXHAUSTED);
  const auto listed = client.list();
  REQUIRE(listed.ok());
  CHECK(listed.response.total_count() == 0);
  // Unknown ids of the right form.
  CHECK(client.get("0cf8bcd7-30f3-42a0-abc4-d40e586aa569").code() == StatusCode::NOT_FOUND);
  CHECK(client.unlock("0cf8bcd7-30f3-42a0-abc4-d40e586aa569").code() == StatusCode::NOT_FOUND);
  CHECK(server.server().process().running());
}

TEST_CASE("the admin token: the same access rules as the HTTP routes", "[grpc]") {
  TokenServer with;
  TrackerClient anonymous(with.server.grpc_target());
  TrackerClient admin(with.server.grpc_target(), with.token);
  TrackerClient wrong(with.server.grpc_target(), "not-the-token");

  // Changing locks needs the token (HTTP: Access::changes_locks).
  CHECK(anonymous.create("guarded", "me").code() == StatusCode::UNAUTHENTICATED);
  CHECK(wrong.create("guarded", "me").code() == StatusCode::UNAUTHENTICATED);
  const auto created = admin.create("guarded", "me");
  REQUIRE(created.ok());
  const std::string id = created.response.lock().id();
  CHECK(!id.empty());
  CHECK(anonymous.unlock(id).code() == StatusCode::UNAUTHENTICATED);
  CHECK(wrong.unlock(id).code() == StatusCode::UNAUTHENTICATED);
  tnl::test::tracker::UpdateLockRequest update;
  update.set_id(id);
  CHECK(anonymous.update(update).code() == StatusCode::UNAUTHENTICATED);
  CHECK(admin.update(update).ok());

  // Reading one lock by its id is open (the caller has the id).
  const auto got = anonymous.get(id);
  REQUIRE(got.ok());
  CHECK(got.response.lock().id() == id);

  // Listing: anyone, but ids only with the token; a wrong token is refused (lists_ids).
  const auto anonymous_list = anonymous.list();
  REQUIRE(anonymous_list.ok());
  REQUIRE(anonymous_list.response.locks_size() == 1);
  CHECK(anonymous_list.response.locks(0).id().empty());
  CHECK(anonymous_list.response.locks(0).service() == "guarded");
  const auto admin_list = admin.list();
  REQUIRE(admin_list.ok());
  REQUIRE(admin_list.response.locks_size() == 1);
  CHECK(admin_list.response.locks(0).id() == id);
  CHECK(wrong.list().code() == StatusCode::UNAUTHENTICATED);

  // The scheme in any case, as HTTP; anything but "Bearer TOKEN" is refused.
  TrackerClient lower(with.server.grpc_target());
  lower.set_authorization("bearer " + with.token);
  CHECK(lower.list().response.locks(0).id() == id);
  for (const std::string& bad : {with.token, "Basic " + with.token, std::string("Bearer"), "Bearer " + with.token + "x"}) {
    TrackerClient client(with.server.grpc_target());
    client.set_authorization(bad);
    INFO(bad);
    CHECK(client.unlock(id).code() == StatusCode::UNAUTHENTICATED);
  }
  CHECK(admin.unlock(id).ok());
}

TEST_CASE("ListLocks pages as per_page and page say, with total_count", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  std::set<std::string> names;
  for (int i = 0; i < 25; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "page-%02d", i);
    REQUIRE(client.create(name, "pager").ok());
    names.insert(name);
  }
  std::vector<std::string> seen;
  for (int page = 1; page <= 3; ++page) {
    const auto listed = client.list(10, page);
    REQUIRE(listed.ok());
    CHECK(listed.response.total_count() == 25);
    CHECK(listed.response.locks_size() == (page < 3 ? 10 : 5));
    for (const auto& lock : listed.response.locks()) seen.push_back(lock.service());
  }
  // Every lock once, sorted by name.
  CHECK(seen == std::vector<std::string>(names.begin(), names.end()));
  const auto beyond = client.list(10, 4);
  REQUIRE(beyond.ok());
  CHECK(beyond.response.locks_size() == 0);
  CHECK(beyond.response.total_count() == 25);
  // Absent: 100 per page, page 1.
  const auto all = client.list();
  REQUIRE(all.ok());
  CHECK(all.response.locks_size() == 25);
  const auto one = client.list(1, 25);
  REQUIRE(one.ok());
  REQUIRE(one.response.locks_size() == 1);
  CHECK(one.response.locks(0).service() == "page-24");
  // A page only given: per_page 100.
  CHECK(client.list(std::nullopt, 2).response.locks_size() == 0);
}

TEST_CASE("UpdateLock: a held lock keeps its name, who and event_id change", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  const auto created = client.create("svc", "owner", "prod", "db", "event-7");
  REQUIRE(created.ok());
  const auto& lock = created.response.lock();
  CHECK(lock.event_id() == "event-7");
  tnl::test::tracker::UpdateLockRequest update;
  update.set_id(lock.id());
  SECTION("the same fields, or none: the record") {
    update.set_service("svc");
    update.set_who("owner");
    update.set_environment("prod");
    update.set_resource("db");
    update.set_event_id("event-7");
    const auto updated = client.update(update);
    REQUIRE(updated.ok());
    CHECK(updated.response.lock().id() == lock.id());
    CHECK(updated.response.lock().service() == "svc");
    CHECK(updated.response.lock().environment() == "prod");
    CHECK(updated.response.lock().resource() == "db");
    CHECK(updated.response.lock().event_id() == "event-7");
    update.Clear();
    update.set_id(lock.id());
    CHECK(client.update(update).ok());
  }
  SECTION("another name: FAILED_PRECONDITION, and it stays held") {
    update.set_resource("cache");
    CHECK(client.update(update).code() == StatusCode::FAILED_PRECONDITION);
    update.set_resource("");
    update.set_service("other");
    CHECK(client.update(update).code() == StatusCode::FAILED_PRECONDITION);
    CHECK(client.get(lock.id()).response.lock().resource() == "db");
  }
  SECTION("another who or event_id: updated (grpc_update_test.cpp has the rest)") {
    update.set_who("new-owner");
    REQUIRE(client.update(update).ok());
    update.set_who("");
    update.set_event_id("event-8");
    const auto updated = client.update(update);
    REQUIRE(updated.ok());
    CHECK(updated.response.lock().who() == "new-owner");
    CHECK(updated.response.lock().event_id() == "event-8");
    CHECK(client.get(lock.id()).response.lock().who() == "new-owner");
  }
  SECTION("an unknown id: NOT_FOUND") {
    REQUIRE(client.unlock(lock.id()).ok());
    CHECK(client.update(update).code() == StatusCode::NOT_FOUND);
  }
}

TEST_CASE("one lock model with the line protocol: exclusion both ways, .locks", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  tnl::test::LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:shared,client-id:tcp-holder") == "ok");
  // Held by a connection: refused over gRPC, with that holder.
  const auto refused = client.create("shared", "grpc-user");
  CHECK(refused.code() == StatusCode::ALREADY_EXISTS);
  CHECK(contains(refused.status.error_message(), "\"who\":\"tcp-holder\""));
  holder.close();

  // Made over gRPC: the line protocol is refused, and sees it in .locks.
  const auto created = client.create("grpc-made", "grpc-user");
  REQUIRE(created.ok());
  tnl::test::LineClient refused_client(server.port());
  CHECK(refused_client.request("lock,name:grpc-made") == "not-granted");
  // `.locks` answers, then the server closes the connection.
  const auto locks = tnl::test::LineClient(server.port()).request(".locks");
  REQUIRE(locks);
  CHECK(contains(*locks, "\"name\":\"grpc-made\""));
  CHECK(contains(*locks, "\"kind\":\"detached\""));
  CHECK(contains(*locks, "\"client_id\":\"grpc-user\""));
  CHECK(contains(*locks, created.response.lock().id()));
  // environment and resource: the joined name is an ordinary lock name.
  REQUIRE(client.create("deploy", "grpc-user", "prod", "db").ok());
  CHECK(tnl::test::LineClient(server.port()).request("lock,name:deploy--prod--db") == "not-granted");
  CHECK(client.create("deploy", "grpc-user", "staging", "db").ok());
  const auto line = [&](const std::string& request) { return tnl::test::LineClient(server.port()).request(request); };
  CHECK(line("lock,name:deploy") == "ok");  // ended with its connection
  // The line protocol's unlock by id takes it back, as an HTTP-made one.
  CHECK(line("unlock,id:" + created.response.lock().id()) == "released");
  CHECK(client.get(created.response.lock().id()).code() == StatusCode::NOT_FOUND);
  tnl::test::LineClient other(server.port());
  REQUIRE(other.request("lock,name:grpc-made") == "ok");
  // A connection's hold can be taken by an admin over gRPC, as over HTTP (DELETE).
  const auto listed = client.list();
  std::string tcp_id;
  for (const auto& lock : listed.response.locks()) {
    if (lock.service() == "grpc-made") tcp_id = lock.id();
  }
  REQUIRE(!tcp_id.empty());
  CHECK(client.unlock(tcp_id).ok());
  const auto lost = other.read_line();
  REQUIRE(lost);
  CHECK(contains(*lost, "lost"));
}

TEST_CASE("one lock model with HTTP: the same records, exclusion both ways", "[grpc]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  tnl::test::HttpClient http(server.http_port());
  const auto http_made = http.post("/api/v1alpha1/lock", nlohmann::json{{"service", "web"}, {"who", "curl-user"}});
  REQUIRE(http_made.status == 201);
  const std::string http_id = http_made.json()["id"];
  const auto refused = client.create("web", "grpc-user");
  CHECK(refused.code() == StatusCode::ALREADY_EXISTS);
  CHECK(contains(refused.status.error_message(), http_id));
  const auto got = client.get(http_id);
  REQUIRE(got.ok());
  CHECK(got.response.lock().service() == "web");
  CHECK(got.response.lock().who() == "curl-user");

  const auto grpc_made = client.create("rpc", "grpc-user");
  REQUIRE(grpc_made.ok());
  const std::string grpc_id = grpc_made.response.lock().id();
  const auto conflict = http.post("/api/v1alpha1/lock", nlohmann::json{{"service", "rpc"}, {"who", "curl-user"}});
  CHECK(conflict.status == 409);
  CHECK(conflict.json()["existingLock"]["id"] == grpc_id);
  CHECK(conflict.json()["existingLock"]["who"] == "grpc-user");
  const auto record = http.get("/api/v1alpha1/lock/" + grpc_id);
  REQUIRE(record.status == 200);
  CHECK(record.json()["service"] == "rpc");
  CHECK(record.json()["who"] == "grpc-user");
  CHECK(record.json()["kind"] == "detached");
  // Released over HTTP, gone over gRPC; released over gRPC, gone over HTTP.
  CHECK(http.get("/api/v1alpha1/unlock/" + grpc_id).status == 200);
  CHECK(client.get(grpc_id).code() == StatusCode::NOT_FOUND);
  CHECK(client.unlock(http_id).ok());
  CHECK(http.get("/api/v1alpha1/lock/" + http_id).status == 404);
  CHECK(http.get("/api/v1alpha1/locks/list").json()["total"] == 0);
}

}  // namespace TNL_UNITY_ID
