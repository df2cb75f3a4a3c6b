// Detached locks and fencing tokens across restarts and crashes (kill -9 at any moment),
// with the real server and its --state-dir.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::LineClient;
using tnl::test::ServerProcess;
using tnl::test::TempDir;
using namespace std::chrono_literals;

namespace {

/// A detached lock as the server acknowledged it.
struct Acknowledged {
  std::string name;
  std::uint64_t token = 0;
};

/// The detached holders `.locks` shows: id -> {name, token}.
std::map<std::string, Acknowledged> detached_locks(std::uint16_t port) {
  std::map<std::string, Acknowledged> found;
  const auto json = tnl::test::query_json(port, ".locks", "locks,");
  for (const auto& lock : json.at("locks")) {
    for (const auto& holder : lock.at("holders")) {
      if (holder.at("kind") != "detached") continue;
      found[holder.at("id").get<std::string>()] = {lock.at("name").get<std::string>(),
                                                   holder.at("token").get<std::uint64_t>()};
    }
  }
  return found;
}

/// Parses "ok,id:ID,token:N"; false for anything else.
bool parse_grant(const std::string& answer, std::string& id, std::uint64_t& token) {
  const std::string prefix = "ok,id:";
  const auto comma = answer.find(",token:");
  if (answer.rfind(prefix, 0) != 0 || comma == std::string::npos) return false;
  id = answer.substr(prefix.size(), comma - prefix.size());
  token = std::stoull(answer.substr(comma + 7));
  return true;
}

std::vector<std::string> state_args(const TempDir& state) { return {"--state-dir", state.path().string()}; }

}  // namespace

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("a detached lock survives kill -9 and a restart, with every field", "[restart][detached][local-only]") {
  TempDir state;
  std::string id;
  std::uint64_t token = 0;
  {
    ServerProcess server(state_args(state));
    LineClient client(server.port());
    const auto answer = client.request("lock,name:migrations,client-id:ci-7,reason:nightly,ttl:600,fencing:1");
    REQUIRE(answer);
    REQUIRE(parse_grant(*answer, id, token));
    server.process().signal(SIGKILL);
    REQUIRE(server.process().wait_for_exit());
  }
  ServerProcess server(state_args(state));
  const auto json = tnl::test::query_json(server.port(), ".locks,name:migrations", "locks,");
  REQUIRE(json.at("locks").size() == 1);
  const auto& holder = json.at("locks")[0].at("holders").at(0);
  CHECK(holder.at("id") == id);
  CHECK(holder.at("token") == token);
  CHECK(holder.at("client_id") == "ci-7");
  CHECK(holder.at("reason") == "nightly");
  CHECK(holder.at("kind") == "detached");
  CHECK(holder.at("expires").is_string());
  CHECK(holder.at("held_seconds").get<double>() >= 0);

  // Still held: a newcomer is refused; and the next token is above the restored one.
  CHECK(LineClient(server.port()).request("lock,name:migrations") == "not-granted");
  std::string other_id;
  std::uint64_t other_token = 0;
  const auto other = LineClient(server.port()).request("lock,name:other,ttl:60,fencing:1");
  REQUIRE(other);
  REQUIRE(parse_grant(*other, other_id, other_token));
  CHECK(other_token > token);

  // Unlocked stays unlocked across a graceful restart.
  CHECK(LineClient(server.port()).request("unlock,id:" + id) == "released");
  REQUIRE(server.stop());
  ServerProcess again(state_args(state));
  const auto after = detached_locks(again.port());
  CHECK(after.count(id) == 0);
  CHECK(after.count(other_id) == 1);
}

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("a detached lock whose TTL ran out while the server was down is gone after the restart",
          "[restart][detached][local-only]") {
  TempDir state;
  std::string id;
  std::uint64_t token = 0;
  {
    ServerProcess server(state_args(state));
    const auto answer = LineClient(server.port()).request("lock,name:short,ttl:0.3,fencing:1");
    REQUIRE(answer);
    REQUIRE(parse_grant(*answer, id, token));
    server.process().signal(SIGKILL);
    REQUIRE(server.process().wait_for_exit());
  }
  // The lease's end, by the wall clock the server saved it with.
  const auto expired = std::chrono::system_clock::now() + 400ms;
  REQUIRE(tnl::test::wait_until([&] { return std::chrono::system_clock::now() >= expired; }));
  ServerProcess server(state_args(state));
  CHECK(detached_locks(server.port()).empty());
  CHECK(LineClient(server.port()).request("lock,name:short") == "ok");
  CHECK(tnl::test::stats(server.port()).at("expired_lock_count") == 1);
}

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("kill -9 at any moment loses no acknowledged detached lock and no token goes backwards",
          "[restart][detached][stress][local-only]") {
  TempDir state;
  std::map<std::string, Acknowledged> held;  // acknowledged, and not released since
  std::set<std::string> released;            // acknowledged releases
  std::set<std::string> uncertain;           // ids whose unlock's answer was cut off
  std::set<std::string> uncertain_names;     // names whose lock's answer was cut off
  std::uint64_t highest_token = 0;
  constexpr int rounds = 10;

  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    ServerProcess server(state_args(state));

    // Everything acknowledged is back, nothing released came back, nothing else appeared.
    const auto restored = detached_locks(server.port());
    for (const auto& [id, lock] : held) {
      INFO("acknowledged lock " << id);
      REQUIRE(restored.count(id) == 1);
      CHECK(restored.at(id).token == lock.token);
      CHECK(restored.at(id).name == lock.name);
    }
    for (const auto& [id, lock] : restored) {
      INFO("restored lock " << id);
      CHECK(released.count(id) == 0);
      CHECK((held.count(id) == 1 || uncertain.count(id) == 1 || uncertain_names.count(lock.name) == 1));
      if (held.count(id) == 0) {
        held[id] = lock;  // its grant was written, though its answer was lost: it is held
        highest_token = std::max(highest_token, lock.token);
      }
    }
    uncertain.clear();
    uncertain_names.clear();

    // Load: take detached locks and release some, one request per connection, until killed.
    std::atomic<int> acknowledged{0};
    std::atomic<bool> stop{false};
    std::vector<std::string> problems;
    std::thread load([&] {
      for (int i = 0; i < 5000 && !stop; ++i) {
        try {
          LineClient client(server.port());
          if (i % 3 == 2 && !held.empty()) {
            const std::string id = held.begin()->first;
            const auto answer = client.request("unlock,id:" + id);
            if (!answer) {
              uncertain.insert(id);
              held.erase(id);
              break;
            }
            if (*answer != "released") problems.push_back("unlock " + id + ": " + *answer);
            held.erase(id);
            released.insert(id);
          } else {
            const std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
            const auto answer = client.request("lock,name:" + name + ",client-id:load,ttl:3600,fencing:1");
            if (!answer) {  // killed: the grant may or may not have been written
              uncertain_names.insert(name);
              break;
            }
            std::string id;
            std::uint64_t token = 0;
            if (!parse_grant(*answer, id, token)) {
              problems.push_back(name + ": " + *answer);
              continue;
            }
            if (token <= highest_token) problems.push_back(name + ": token went backwards");
            highest_token = token;
            held[id] = {name, token};
          }
          ++acknowledged;
        } catch (const std::exception&) {
          break;  // the server is gone
        }
      }
    });
    // Kill it after a different amount of work each round, while requests are in flight.
    const int target = 8 + round * 9;
    const bool reached = tnl::test::wait_until([&] { return acknowledged >= target; }, 20s);
    server.process().signal(SIGKILL);
    REQUIRE(server.process().wait_for_exit());
    stop = true;
    load.join();
    REQUIRE(reached);
    CHECK(problems.empty());
    for (const auto& problem : problems) WARN(problem);
  }

  // One more start: the last round's locks are there too, and the next token is higher still.
  ServerProcess server(state_args(state));
  const auto restored = detached_locks(server.port());
  for (const auto& [id, lock] : held) CHECK(restored.count(id) == 1);
  for (const auto& id : released) CHECK(restored.count(id) == 0);
  std::string id;
  std::uint64_t token = 0;
  const auto answer = LineClient(server.port()).request("lock,name:final,ttl:60,fencing:1");
  REQUIRE(answer);
  REQUIRE(parse_grant(*answer, id, token));
  CHECK(token > highest_token);
}

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("20,000 saved detached locks are all held again after a restart", "[restart][detached][local-only]") {
  // Issue 10, finding 10: restoring was quadratic (a scan of the table per saved lock).
  // Correctness only here; bench_restore times 100,000.
  constexpr int count = 20'000;
  TempDir state;
  { ServerProcess create(state_args(state)); }  // makes the database and its table
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string sql =
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(count) +
      ") INSERT INTO detached_locks SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'saved-' || i, 'ci', '', "
      "'127.0.0.1:1', 1, 1000 + i, " + std::to_string(now_ms) + ", " + std::to_string(now_ms + 3'600'000) +
      ", NULL, NULL FROM n;";
  auto sqlite = tnl::test::ChildProcess::start({"sqlite3", (state.path() / "locks.sqlite3").string(), sql});
  const auto inserted = sqlite.wait_for_exit(60s);
  REQUIRE(inserted);
  REQUIRE(inserted->exited(0));

  ServerProcess server(state_args(state));
  const auto stats = tnl::test::stats(server.port());
  CHECK(stats.at("detached_lock_count") == count);
  CHECK(stats.at("lock_count") == count);
  CHECK(detached_locks(server.port()).size() == count);
  for (const int i : {1, 777, count}) {
    CHECK(LineClient(server.port()).request("lock,name:saved-" + std::to_string(i)) == "not-granted");
  }
  // The first one's id releases it: restored with its id.
  CHECK(LineClient(server.port()).request("unlock,id:00000001-0000-4000-8000-000000000001") == "released");
  CHECK(LineClient(server.port()).request("lock,name:saved-1") == "ok");
}

// Two servers on one state directory (a second replica, `docker compose --scale`, a
// restart that overlaps the old process) are two lock servers that each think they own
// the detached locks on disk: each grants names the other holds, erases rows the other
// restores, and counts tokens from the same mark. The second must refuse to start.
// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("a second server on the same --state-dir refuses to start while the first runs",
          "[restart][detached][adversarial][local-only]") {
  TempDir state;
  std::string id;
  {
    ServerProcess first(state_args(state));
    LineClient client(first.port());
    const auto answer = client.request("lock,name:only-one,ttl:600");
    REQUIRE(answer);
    REQUIRE(answer->rfind("ok,id:", 0) == 0);
    id = answer->substr(6);
    try {
      ServerProcess second(state_args(state));
      FAIL("a second server started on the state directory in use, on port " << second.port_string());
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("in use") != std::string::npos);
    }
    CHECK(detached_locks(first.port()).count(id) == 1);
    REQUIRE(first.stop());
  }
  // Once the first has stopped, the directory is free again.
  ServerProcess next(state_args(state));
  CHECK(detached_locks(next.port()).count(id) == 1);
}

}  // namespace TNL_UNITY_ID
