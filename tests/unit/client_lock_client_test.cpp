// LockClient against a scripted fake server: requests as sent, answers as expected.
#include <catch2/catch.hpp>
#include <thread>

#include "client_test_support.hpp"
#include "fake_server.hpp"
#include "io_run.hpp"
#include "lock_client.hpp"
#include "process.hpp"
#include "refusing_port.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::ClientError;
using tnl::LockClient;
using tnl::test::wait_until;
using tnl::test::client::kind_of;
using tnl::test::FakeServer;
using tnl::test::RefusingPort;
using tnl::test::run_until;
using namespace std::chrono_literals;


TEST_CASE("lock granted, keepalive, release", "[client][lock_client]") {
  FakeServer fake({"ok", "alive", "released"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  CHECK(client.lock("abc", "me@host"));
  client.keepalive();
  client.release();
  CHECK_FALSE(client.is_open());
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:abc,client-id:me@host", ".keepalive", "release"});
}

TEST_CASE("connect tries every address of localhost", "[client][lock_client]") {
  FakeServer fake({"pong"});  // listens on 127.0.0.1 only
  asio::io_context io;
  LockClient client(io);
  client.connect("localhost", fake.port());
  client.ping();
  CHECK(fake.requests() == std::vector<std::string>{".ping"});
}

TEST_CASE("not granted closes the connection", "[client][lock_client]") {
  FakeServer fake({"not-granted"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  CHECK_FALSE(client.lock("abc"));
  CHECK_FALSE(client.is_open());
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:abc"});
}

TEST_CASE("unexpected answers throw", "[client][lock_client]") {
  asio::io_context io;
  LockClient client(io);
  SECTION("err on lock") {
    FakeServer fake({"err,invalid lock name"});
    client.connect("127.0.0.1", fake.port());
    CHECK(kind_of([&] { client.lock("abc"); }) == ClientError::Kind::server_error);
  }
  SECTION("bad-action on release") {
    FakeServer fake({"ok", "bad-action"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("abc"));
    CHECK(kind_of([&] { client.release(); }) == ClientError::Kind::unexpected_answer);
  }
}

TEST_CASE("stats returns the JSON text, CRLF answers are tolerated", "[client][lock_client]") {
  FakeServer fake({"stats,{\"lock_count\": 0}\r"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  CHECK(client.stats() == "{\"lock_count\": 0}");
}

TEST_CASE("refused, timeout, connection lost, not connected", "[client][lock_client]") {
  asio::io_context io;
  LockClient client(io);
  SECTION("refused") {
    RefusingPort refusing;
    CHECK(kind_of([&] { client.connect("127.0.0.1", static_cast<std::uint16_t>(std::stoi(refusing.port_string()))); }) ==
          ClientError::Kind::refused);
  }
  SECTION("no answer in time") {
    FakeServer fake({});
    client.connect("127.0.0.1", fake.port());
    const auto start = std::chrono::steady_clock::now();
    CHECK(kind_of([&] { client.lock("abc", std::nullopt, 100ms); }) == ClientError::Kind::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  SECTION("server closes") {
    FakeServer fake({"ok"}, true);
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("abc"));
    CHECK(kind_of([&] { client.keepalive(); }) == ClientError::Kind::connection_lost);
  }
  SECTION("not connected") {
    CHECK(kind_of([&] { client.ping(); }) == ClientError::Kind::not_connected);
  }
}

TEST_CASE("invalid names are refused before sending", "[client][lock_client]") {
  FakeServer fake({"ok"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  CHECK_THROWS_AS(client.lock("a b"), std::invalid_argument);
  CHECK_THROWS_AS(client.lock("ab", "x y"), std::invalid_argument);
}

TEST_CASE("watching reports a broken connection or an unexpected line", "[client][lock_client]") {
  asio::io_context io;
  LockClient client(io);
  std::optional<std::string> lost;
  SECTION("closed") {
    FakeServer fake({"ok"}, true);
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("abc"));
    client.start_watch(std::nullopt, [&](const std::string& reason) { lost = reason; });
    REQUIRE(run_until(io, [&] { return lost.has_value(); }));
    CHECK(*lost == "server closed the connection");
  }
  SECTION("shutting-down, even pipelined with the ok") {
    FakeServer fake({"ok\nshutting-down"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("abc"));
    client.start_watch(std::nullopt, [&](const std::string& reason) { lost = reason; });
    REQUIRE(run_until(io, [&] { return lost.has_value(); }));
    CHECK(*lost == "server is shutting down");
  }
  SECTION("lost,REASON") {
    FakeServer fake({"ok\nlost,holder timeout"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("abc"));
    client.start_watch(std::nullopt, [&](const std::string& reason) { lost = reason; });
    REQUIRE(run_until(io, [&] { return lost.has_value(); }));
    CHECK(*lost == "server took the lock away (holder timeout)");
  }
  SECTION("any other line") {
    FakeServer fake({"ok\nsurprise"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("abc"));
    client.start_watch(std::nullopt, [&](const std::string& reason) { lost = reason; });
    REQUIRE(run_until(io, [&] { return lost.has_value(); }));
    CHECK(lost->find("'surprise'") != std::string::npos);
  }
  CHECK_FALSE(client.is_open());
}

TEST_CASE("watching with keepalives, then releasing", "[client][lock_client]") {
  // Answers beyond those needed are harmless: the client stops after two keepalives.
  FakeServer fake({"ok", "alive", "alive", "released"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  REQUIRE(client.lock("abc"));
  bool lost = false;
  client.start_watch(50ms, [&](const std::string&) { lost = true; });
  // Stop as soon as the second keepalive is out; its `alive` may still be on the way,
  // and release() must skip it.
  REQUIRE(run_until(io, [&] { return fake.requests().size() >= 3 || lost; }));
  client.stop_watch();
  CHECK_FALSE(lost);
  client.release();
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:abc", ".keepalive", ".keepalive", "release"});
}

TEST_CASE("lock with the extensions: request as sent, token, wait, errors", "[client][lock_client]") {
  asio::io_context io;
  LockClient client(io);
  tnl::LockRequest request;
  request.name = "db";
  SECTION("a default request is the contract's plain lock") {
    FakeServer fake({"ok"});
    client.connect("127.0.0.1", fake.port());
    request.client_id = "ci-7";
    const auto result = client.lock(request);
    CHECK(result.granted);
    CHECK_FALSE(result.token);
    CHECK(fake.requests() == std::vector<std::string>{"lock,name:db,client-id:ci-7"});
  }
  SECTION("every extension, and a token") {
    FakeServer fake({"ok,token:42"});
    client.connect("127.0.0.1", fake.port());
    request.wait_seconds = 2.5;
    request.fencing = true;
    request.limit = 3;
    request.reason = "migrate v2";
    const auto result = client.lock(request);
    CHECK(result.granted);
    CHECK(result.token == std::optional<std::uint64_t>(42));
    CHECK(fake.requests() == std::vector<std::string>{"lock,name:db,wait:2.5,fencing:1,limit:3,reason:migrate v2"});
  }
  SECTION("wait inf, whole seconds") {
    FakeServer fake({"not-granted"}, true);
    client.connect("127.0.0.1", fake.port());
    request.wait_seconds = std::nullopt;
    CHECK_FALSE(client.lock(request).granted);
    CHECK_FALSE(client.is_open());
    CHECK(fake.requests() == std::vector<std::string>{"lock,name:db,wait:inf"});
  }
  SECTION("the answer may come after the margin, within the wait") {
    // The fake server never answers; a 0.3 s wait with a 0.1 s margin times out after 0.4 s.
    FakeServer fake({});
    client.connect("127.0.0.1", fake.port());
    request.wait_seconds = 0.3;
    const auto start = std::chrono::steady_clock::now();
    CHECK(kind_of([&] { client.lock(request, 100ms); }) == ClientError::Kind::timeout);
    CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  }
  SECTION("err,limit mismatch is a server error with its text") {
    FakeServer fake({"err,limit mismatch"}, true);
    client.connect("127.0.0.1", fake.port());
    request.limit = 2;
    try {
      client.lock(request);
      FAIL("expected a ClientError");
    } catch (const ClientError& e) {
      CHECK(e.kind() == ClientError::Kind::server_error);
      CHECK(std::string(e.what()).find("err,limit mismatch") != std::string::npos);
    }
  }
  SECTION("a malformed token is an unexpected answer") {
    FakeServer fake({"ok,token:x"}, true);
    client.connect("127.0.0.1", fake.port());
    request.fencing = true;
    CHECK(kind_of([&] { client.lock(request); }) == ClientError::Kind::unexpected_answer);
  }
  SECTION("invalid requests are refused before sending") {
    FakeServer fake({});
    client.connect("127.0.0.1", fake.port());
    request.reason = "a,b";
    CHECK_THROWS_AS(client.lock(request), std::invalid_argument);
    request.reason = std::string(257, 'x');
    CHECK_THROWS_AS(client.lock(request), std::invalid_argument);
    request.reason.clear();
    request.limit = 0;
    CHECK_THROWS_AS(client.lock(request), std::invalid_argument);
    CHECK(fake.requests().empty());
  }
}

TEST_CASE("locks returns the JSON text", "[client][lock_client]") {
  FakeServer fake({"locks,{\"locks\":[]}"}, true);
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  CHECK(client.locks(std::string_view("db")) == "{\"locks\":[]}");
  CHECK(fake.requests() == std::vector<std::string>{".locks,name:db"});
}

}  // namespace TNL_UNITY_ID
