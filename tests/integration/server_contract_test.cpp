// The compatibility contract (../shared/TCPNETLOCK-COMPAT.md), row by row, against the
// real tcpnetlock_server over loopback TCP.
#include <catch2/catch.hpp>

#include <csignal>
#include <nlohmann/json.hpp>

#include "line_client.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::LineClient;
using tnl::test::ServerProcess;

TEST_CASE("lock on a free name answers ok and keeps the connection", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  CHECK(holder.request("lock,name:django-migrations") == "ok");
  CHECK(holder.stays_silent(std::chrono::milliseconds(100)));
}

TEST_CASE("lock on a held name answers not-granted and closes", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  LineClient other(server.port());
  CHECK(other.request("lock,name:abc") == "not-granted");
  CHECK(other.wait_closed());
}

TEST_CASE("client-id is accepted when valid", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  CHECK(holder.request("lock,name:abc,client-id:ci-runner.42@host_a") == "ok");
}

TEST_CASE("white space around action, keys and values is stripped", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  CHECK(holder.request(" lock , name : abc ") == "ok");
  LineClient other(server.port());
  CHECK(other.request("lock,name:abc") == "not-granted");
}

TEST_CASE("invalid lock names are refused and the connection closed", "[contract]") {
  ServerProcess server;
  for (const char* line : {"lock,name:a b", "lock,name:a.b", "lock,name:", "lock,name", "lock", "lock,client-id:x",
                           "lock,name:caf\xc3\xa9"}) {
    INFO(line);
    LineClient client(server.port());
    CHECK(client.request(line) == "err,invalid lock name");
    CHECK(client.wait_closed());
  }
}

TEST_CASE("invalid client ids are refused and the connection closed", "[contract]") {
  ServerProcess server;
  for (const char* line : {"lock,name:abc,client-id:a b", "lock,name:abc,client-id:a/b", "lock,name:abc,client-id:"}) {
    INFO(line);
    LineClient client(server.port());
    CHECK(client.request(line) == "err,invalid client id");
    CHECK(client.wait_closed());
  }
  // Nothing was locked by the refused requests.
  LineClient holder(server.port());
  CHECK(holder.request("lock,name:abc") == "ok");
}

TEST_CASE(".ping answers pong and closes", "[contract]") {
  ServerProcess server;
  LineClient client(server.port());
  CHECK(client.request(".ping") == "pong");
  CHECK(client.wait_closed());
}

TEST_CASE(".stats answers one line of JSON with the counters and closes", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:one") == "ok");
  LineClient refused(server.port());
  REQUIRE(refused.request("lock,name:one") == "not-granted");

  LineClient client(server.port());
  const auto line = client.request(".stats");
  REQUIRE(line);
  REQUIRE(line->rfind("stats,", 0) == 0);
  const auto stats = nlohmann::json::parse(line->substr(6));
  CHECK(stats.at("lock_count") == 1);
  CHECK(stats.at("lock_acquired_count") == 1);
  CHECK(stats.at("lock_not_acquired_count") == 1);
  CHECK(stats.at("requests_count") == 3);
  CHECK(stats.at("maxrss").get<long>() > 0);
  // The holder and this client are open; the refused one may or may not have gone yet.
  CHECK(stats.at("connection_count").get<int>() >= 2);
  CHECK(client.wait_closed());
}

TEST_CASE(".server-shutdown is refused unless enabled", "[contract]") {
  ServerProcess server;
  LineClient client(server.port());
  const auto answer = client.request(".server-shutdown");
  REQUIRE(answer);
  CHECK(answer->rfind("err,", 0) == 0);
  CHECK(client.wait_closed());
  LineClient still_serving(server.port());
  CHECK(still_serving.request(".ping") == "pong");
}

TEST_CASE(".server-shutdown stops the server when enabled", "[contract]") {
  ServerProcess server({"--allow-remote-shutdown"});
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  LineClient client(server.port());
  CHECK(client.request(".server-shutdown") == "shutting-down");
  CHECK(holder.read_line() == "shutting-down");
  CHECK(holder.wait_closed());
  holder.close();
  client.close();
  const auto status = server.process().wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("any other first action answers bad-action and closes", "[contract]") {
  ServerProcess server;
  for (const char* line : {"unlock,name:abc", "release", ".keepalive", "LOCK,name:abc", "hello"}) {
    INFO(line);
    LineClient client(server.port());
    CHECK(client.request(line) == "bad-action");
    CHECK(client.wait_closed());
  }
}

TEST_CASE("an empty action or key answers bad-request and closes", "[contract]") {
  ServerProcess server;
  for (const char* line : {"", "  ", ",name:abc", "lock,:abc", "lock,name:abc,"}) {
    INFO(line);
    LineClient client(server.port());
    CHECK(client.request(line) == "bad-request");
    CHECK(client.wait_closed());
  }
}

TEST_CASE("release answers released, frees the lock and closes", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  CHECK(holder.request("release") == "released");
  CHECK(holder.wait_closed());
  // Freed before `released` was sent: no retry, no delay.
  LineClient next(server.port());
  CHECK(next.request("lock,name:abc") == "ok");
}

TEST_CASE(".keepalive answers alive and changes nothing", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  CHECK(holder.request(".keepalive") == "alive");
  CHECK(holder.request(".keepalive") == "alive");
  LineClient other(server.port());
  CHECK(other.request("lock,name:abc") == "not-granted");
  CHECK(holder.request("release") == "released");
}

TEST_CASE("anything else while holding answers bad-action and keeps lock and connection", "[contract]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  for (const char* line : {"lock,name:other", ".ping", ".stats", "hello", "release,name:abc:x:y,"}) {
    INFO(line);
    const auto answer = holder.request(line);
    // An empty key is a bad request even while holding (the contract's wire-format rule).
    if (std::string{line}.back() == ',') {
      CHECK(answer == "bad-request");
      CHECK(holder.wait_closed());
    } else {
      CHECK(answer == "bad-action");
    }
  }
}

// [local-only]: reuses the slot at once; with etcd, a connection's end (unlike `release`) is not
// answered, and its key is deleted a round trip later.
TEST_CASE("a bad request while holding closes the connection and frees the lock", "[contract][local-only]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  CHECK(holder.request(",") == "bad-request");
  CHECK(holder.wait_closed());
  LineClient next(server.port());
  CHECK(next.request("lock,name:abc") == "ok");
}

// [local-only]: reuses the slot at once; with etcd, a connection's end (unlike `release`) is not
// answered, and its key is deleted a round trip later.
TEST_CASE("a holder that closes its connection frees the lock at once", "[contract][local-only]") {
  ServerProcess server;
  for (const bool reset : {false, true}) {
    INFO("reset: " << reset);
    LineClient holder(server.port());
    REQUIRE(holder.request("lock,name:abc") == "ok");
    holder.close(reset);
    // The very next request is granted: the server noticed the end before it read this line,
    // as it reads the holder's EOF first. Allow for the FIN to cross loopback.
    bool granted = false;
    tnl::test::wait_until([&] {
      LineClient next(server.port());
      granted = next.request("lock,name:abc") == "ok";
      return granted;
    });
    CHECK(granted);
  }
}

// [local-only]: reuses the slot at once; with etcd, a connection's end (unlike `release`) is not
// answered, and its key is deleted a round trip later.
TEST_CASE("a holder killed with SIGKILL frees the lock", "[contract][local-only]") {
  ServerProcess server;
  // A real netcat-like process holding the lock: the kernel closes its socket when it dies.
  auto holder = tnl::test::ChildProcess::start(
      {"bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + server.port_string() +
                         "; echo lock,name:killed >&3; read -r answer <&3; echo \"$answer\"; sleep 600"});
  REQUIRE(holder.wait_for_stdout("ok"));
  LineClient other(server.port());
  CHECK(other.request("lock,name:killed") == "not-granted");
  holder.signal(SIGKILL);
  REQUIRE(holder.wait_for_exit());
  LineClient next(server.port());
  CHECK(next.request("lock,name:killed") == "ok");
}

}  // namespace TNL_UNITY_ID
