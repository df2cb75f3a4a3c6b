// Tracker's UpdateLock against the real server: a detached lock's `who` and `event_id` are
// updated (GetLock, ListLocks, `.locks` and HTTP show the new values), its name never; bad
// values are INVALID_ARGUMENT; an update never brings back a lock released meanwhile; and
// with --state-dir an update survives a restart.
#include <catch2/catch.hpp>

#include <csignal>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "grpc_helpers.hpp"
#include "http_client.hpp"
#include "line_client.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::GrpcServerProcess;
using tnl::test::TrackerClient;
using grpc::StatusCode;
using UpdateRequest = tnl::test::tracker::UpdateLockRequest;

namespace {

UpdateRequest update_of(const std::string& id, const std::string& who, const std::string& event_id = {}) {
  UpdateRequest request;
  request.set_id(id);
  request.set_who(who);
  request.set_event_id(event_id);
  return request;
}

}  // namespace

TEST_CASE("UpdateLock: who and event_id change, and every view shows them", "[grpc][update]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  const auto created = client.create("deploy", "ci-1", "prod", "db", "build-1");
  REQUIRE(created.ok());
  const auto& lock = created.response.lock();

  const auto updated = client.update(update_of(lock.id(), "ci-2", "build-2"));
  REQUIRE(updated.ok());
  const auto& record = updated.response.lock();
  CHECK(record.id() == lock.id());
  CHECK(record.who() == "ci-2");
  CHECK(record.event_id() == "build-2");
  // The same hold: its name and grant time stay.
  CHECK(record.service() == "deploy");
  CHECK(record.environment() == "prod");
  CHECK(record.resource() == "db");
  CHECK(record.created_at().seconds() == lock.created_at().seconds());
  CHECK(record.created_at().nanos() == lock.created_at().nanos());

  const auto got = client.get(lock.id());
  REQUIRE(got.ok());
  CHECK(got.response.lock().who() == "ci-2");
  CHECK(got.response.lock().event_id() == "build-2");
  const auto listed = client.list();
  REQUIRE(listed.ok());
  REQUIRE(listed.response.locks_size() == 1);
  CHECK(listed.response.locks(0).who() == "ci-2");
  CHECK(listed.response.locks(0).event_id() == "build-2");
  const auto locks = tnl::test::LineClient(server.port()).request(".locks");
  REQUIRE(locks);
  CHECK(locks->find("\"client_id\":\"ci-2\"") != std::string::npos);
  CHECK(locks->find("ci-1") == std::string::npos);
  const tnl::test::HttpClient http(server.http_port());
  const auto http_list = http.get("/api/v1alpha1/locks/list").json();
  REQUIRE(http_list["locks"].size() == 1);
  CHECK(http_list["locks"][0]["who"] == "ci-2");
  CHECK(http_list["locks"][0]["reason"] == "build-2");

  // Empty fields: unchanged.
  const auto only_event = client.update(update_of(lock.id(), "", "build-3"));
  REQUIRE(only_event.ok());
  CHECK(only_event.response.lock().who() == "ci-2");
  CHECK(only_event.response.lock().event_id() == "build-3");
  const auto only_who = client.update(update_of(lock.id(), "ci-3"));
  REQUIRE(only_who.ok());
  CHECK(only_who.response.lock().who() == "ci-3");
  CHECK(only_who.response.lock().event_id() == "build-3");

  // Still held, still excludes: an update moves nothing.
  CHECK(client.create("deploy", "other", "prod", "db").code() == StatusCode::ALREADY_EXISTS);
  CHECK(tnl::test::LineClient(server.port()).request("lock,name:deploy--prod--db") == "not-granted");

  // A move is refused even with a new who: nothing changes.
  UpdateRequest move = update_of(lock.id(), "mover");
  move.set_resource("cache");
  CHECK(client.update(move).code() == StatusCode::FAILED_PRECONDITION);
  CHECK(client.get(lock.id()).response.lock().who() == "ci-3");
}

TEST_CASE("UpdateLock: bad who or event_id is INVALID_ARGUMENT and changes nothing", "[grpc][update]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  const auto created = client.create("svc", "owner", "", "", "event-1");
  REQUIRE(created.ok());
  const std::string id = created.response.lock().id();
  for (const auto& [who, event_id] : std::vector<std::pair<std::string, std::string>>{
           {std::string(257, 'w'), ""}, {"who\nline", ""}, {"tab\there", ""}, {"", "event\x01"},
           {"", std::string(300, 'e')}, {"ok-who", "bad\x7f"}}) {
    INFO(who << " / " << event_id);
    CHECK(client.update(update_of(id, who, event_id)).code() == StatusCode::INVALID_ARGUMENT);
  }
  const auto got = client.get(id);
  REQUIRE(got.ok());
  CHECK(got.response.lock().who() == "owner");
  CHECK(got.response.lock().event_id() == "event-1");
  // The longest allowed is accepted.
  const auto longest = client.update(update_of(id, std::string(256, 'w')));
  REQUIRE(longest.ok());
  CHECK(longest.response.lock().who() == std::string(256, 'w'));
}

TEST_CASE("UpdateLock: a connection's lock keeps its connection's who", "[grpc][update]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  tnl::test::LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:conn,client-id:worker-1") == "ok");
  std::string id;
  const auto listed = client.list();
  for (const auto& lock : listed.response.locks()) {
    if (lock.service() == "conn") id = lock.id();
  }
  REQUIRE(!id.empty());
  CHECK(client.update(update_of(id, "thief")).code() == StatusCode::FAILED_PRECONDITION);
  const auto same = client.update(update_of(id, "worker-1"));  // nothing to change: the record
  REQUIRE(same.ok());
  CHECK(same.response.lock().who() == "worker-1");
}

TEST_CASE("UpdateLock racing UnLock: NOT_FOUND or updated first, never a lock brought back", "[grpc][update]") {
  GrpcServerProcess server;
  TrackerClient client(server.grpc_target());
  TrackerClient racer(server.grpc_target());
  int updated = 0;
  int not_found = 0;
  for (int round = 0; round < 25; ++round) {
    INFO("round " << round);
    // A name per round: the line client that takes it below lets it go only as it closes.
    const std::string name = "raced-" + std::to_string(round);
    const auto created = client.create(name, "holder");
    REQUIRE(created.ok());
    const std::string id = created.response.lock().id();
    grpc::Status update_status;
    std::thread update([&] { update_status = racer.update(update_of(id, "late-" + std::to_string(round))).status; });
    const auto unlocked = client.unlock(id);
    update.join();
    REQUIRE(unlocked.ok());
    INFO(update_status.error_message());
    CHECK((update_status.ok() || update_status.error_code() == StatusCode::NOT_FOUND));
    (update_status.ok() ? updated : not_found) += 1;
    // Gone, and stays gone: the name is free.
    CHECK(client.get(id).code() == StatusCode::NOT_FOUND);
    CHECK(client.update(update_of(id, "later")).code() == StatusCode::NOT_FOUND);
    CHECK(tnl::test::LineClient(server.port()).request("lock,name:" + name) == "ok");
  }
  INFO("updated first " << updated << ", NOT_FOUND " << not_found);
  CHECK(updated + not_found == 25);
}

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("UpdateLock with --state-dir: the new who and event_id survive a restart (kill -9)",
          "[grpc][update][persistence][local-only]") {
  tnl::test::TempDir state;
  const std::vector<std::string> args{"--state-dir", state.path().string()};
  std::string id;
  {
    GrpcServerProcess server(args);
    TrackerClient client(server.grpc_target());
    const auto created = client.create("kept", "first", "", "", "event-1");
    REQUIRE(created.ok());
    id = created.response.lock().id();
    REQUIRE(client.update(update_of(id, "second", "event-2")).ok());
    server.server().process().signal(SIGKILL);
    REQUIRE(server.server().process().wait_for_exit());
  }
  GrpcServerProcess server(args);
  TrackerClient client(server.grpc_target());
  const auto got = client.get(id);
  REQUIRE(got.ok());
  CHECK(got.response.lock().service() == "kept");
  CHECK(got.response.lock().who() == "second");
  CHECK(got.response.lock().event_id() == "event-2");
  CHECK(client.create("kept", "third").code() == StatusCode::ALREADY_EXISTS);
}

}  // namespace TNL_UNITY_ID
