// Detached locks in the clients: ids, TTLs, answers, LockClient against a fake server, and
// tcpnetlock_client's --ttl, --unlock and --renew.
#include <catch2/catch.hpp>
#include <optional>

#include "client_options.hpp"
#include "client_test_support.hpp"
#include "fake_server.hpp"
#include "lock_client.hpp"
#include "lock_id.hpp"
#include "protocol_answers.hpp"
#include "protocol_requests.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::ClientError;
using tnl::LockClient;
using tnl::LockRequest;
using tnl::Ttl;
using tnl::test::FakeServer;
using namespace tnl::cli;
using tnl::test::client::kind_of;
using tnl::test::client::parse_client;

namespace {

constexpr const char* id = "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21";

}  // namespace

TEST_CASE("lock ids are UUIDs", "[client][detached]") {
  CHECK(tnl::is_lock_id(id));
  CHECK(tnl::is_lock_id("0F8E5B1C-4A53-4C1E-9D2A-6F1B7A0C3E21"));
  CHECK(tnl::is_lock_id("00000000-0000-0000-0000-000000000000"));
  for (const char* bad : {"", "deploy", "0f8e5b1c4a534c1e9d2a6f1b7a0c3e21", "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e2",
                          "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e211", "0f8e5b1c-4a53-4c1e-9d2a_6f1b7a0c3e21",
                          "0f8e5b1g-4a53-4c1e-9d2a-6f1b7a0c3e21", " 0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e2"}) {
    INFO(bad);
    CHECK_FALSE(tnl::is_lock_id(bad));
  }
}

TEST_CASE("TTLs", "[client][detached]") {
  CHECK(tnl::parse_ttl("600")->seconds == std::optional<double>(600));
  CHECK(tnl::parse_ttl("0.5")->seconds == std::optional<double>(0.5));
  CHECK(tnl::parse_ttl("0.1")->seconds == std::optional<double>(0.1));
  CHECK(tnl::parse_ttl("31536000")->seconds == std::optional<double>(31536000));
  REQUIRE(tnl::parse_ttl("inf"));
  CHECK_FALSE(tnl::parse_ttl("inf")->seconds);
  for (const char* bad : {"", "0", "0.0", "0.0004", "0.001", "0.09", "31536000.5", "-1", "1e3", "abc", "nan", " 5", "5s", "infinity"}) {
    INFO(bad);
    CHECK_FALSE(tnl::parse_ttl(bad));
  }
  CHECK(tnl::format_protocol_seconds(600.0) == "600");
  CHECK(tnl::format_protocol_seconds(0.5) == "0.5");
  CHECK(tnl::format_protocol_seconds(2.125) == "2.125");
  CHECK(tnl::format_protocol_seconds(std::nullopt) == "inf");
}

TEST_CASE("answers to lock requests", "[client][detached]") {
  SECTION("detached grants") {
    const auto plain = tnl::parse_detached_grant(std::string("ok,id:") + id);
    REQUIRE(plain);
    CHECK(plain->id == id);
    CHECK_FALSE(plain->token);
    const auto fenced = tnl::parse_detached_grant(std::string("ok,id:") + id + ",token:1795428902123456\r");
    REQUIRE(fenced);
    CHECK(fenced->id == id);
    CHECK(fenced->token == std::optional<std::uint64_t>(1795428902123456));
    for (const std::string& bad : std::vector<std::string>{"ok", "ok,token:5", "not-granted", "ok,id:", "ok,id:abc",
                                  std::string("ok,id:") + id + ",token:x", std::string("ok,id:") + id + ",token:",
                                  std::string("ok,id:") + id + ",token:-1", std::string("okay,id:") + id}) {
      INFO(bad);
      CHECK_FALSE(tnl::parse_detached_grant(bad));
    }
  }
  SECTION("connection grants") {
    CHECK(tnl::parse_lock_grant("ok")->granted);
    CHECK_FALSE(tnl::parse_lock_grant("ok")->token);
    CHECK(tnl::parse_lock_grant("ok,token:7")->token == std::optional<std::uint64_t>(7));
    CHECK_FALSE(tnl::parse_lock_grant("ok,token:"));
    CHECK_FALSE(tnl::parse_lock_grant("ok,token:7x"));
    CHECK_FALSE(tnl::parse_lock_grant(std::string("ok,id:") + id));
    CHECK_FALSE(tnl::parse_lock_grant("not-granted"));
  }
}

TEST_CASE("lock request lines", "[client][detached]") {
  LockRequest request;
  request.name = "db";
  CHECK(tnl::format_lock_request(request) == "lock,name:db\n");  // tcpnetlock's, byte for byte
  CHECK(tnl::format_lock_request(request, Ttl{600.0}) == "lock,name:db,ttl:600\n");
  CHECK(tnl::format_lock_request(request, Ttl{std::nullopt}) == "lock,name:db,ttl:inf\n");
  request.client_id = "ci-7";
  request.wait_seconds = 2.5;
  request.fencing = true;
  request.limit = 3;
  request.reason = "deploy 42";
  CHECK(tnl::format_lock_request(request, Ttl{0.25}) ==
        "lock,name:db,ttl:0.25,client-id:ci-7,wait:2.5,fencing:1,limit:3,reason:deploy 42\n");
  CHECK_THROWS_AS(tnl::format_lock_request(request, Ttl{0.0}), std::invalid_argument);
  CHECK_THROWS_AS(tnl::format_lock_request(request, Ttl{4e7}), std::invalid_argument);
}

TEST_CASE("LockClient: detached locks", "[client][lock_client][detached]") {
  asio::io_context io;
  LockClient client(io);
  LockRequest request;
  request.name = "db";
  SECTION("granted: the id, and the connection is closed") {
    FakeServer fake({std::string("ok,id:") + id});
    client.connect("127.0.0.1", fake.port());
    const auto result = client.lock_detached(request, Ttl{600.0});
    CHECK(result.granted);
    CHECK(result.id == id);
    CHECK_FALSE(result.token);
    CHECK_FALSE(client.is_open());
    CHECK(fake.requests() == std::vector<std::string>{"lock,name:db,ttl:600"});
  }
  SECTION("granted with a token") {
    FakeServer fake({std::string("ok,id:") + id + ",token:99"});
    client.connect("127.0.0.1", fake.port());
    request.fencing = true;
    const auto result = client.lock_detached(request, Ttl{std::nullopt});
    CHECK(result.token == std::optional<std::uint64_t>(99));
    CHECK(fake.requests() == std::vector<std::string>{"lock,name:db,ttl:inf,fencing:1"});
  }
  SECTION("not granted") {
    FakeServer fake({"not-granted"});
    client.connect("127.0.0.1", fake.port());
    CHECK_FALSE(client.lock_detached(request, Ttl{5.0}).granted);
    CHECK_FALSE(client.is_open());
  }
  SECTION("err") {
    FakeServer fake({"err,invalid ttl"});
    client.connect("127.0.0.1", fake.port());
    CHECK(kind_of([&] { client.lock_detached(request, Ttl{5.0}); }) == ClientError::Kind::server_error);
  }
  SECTION("a server without detached locks answers a plain ok") {
    FakeServer fake({"ok"});
    client.connect("127.0.0.1", fake.port());
    try {
      client.lock_detached(request, Ttl{5.0});
      FAIL("no exception");
    } catch (const ClientError& e) {
      CHECK(e.kind() == ClientError::Kind::unexpected_answer);
      CHECK(std::string(e.what()).find("does not support detached locks") != std::string::npos);
    }
    CHECK_FALSE(client.is_open());  // which frees the lock such a server granted
  }
}

TEST_CASE("LockClient: unlock and renew", "[client][lock_client][detached]") {
  asio::io_context io;
  LockClient client(io);
  SECTION("unlock") {
    FakeServer fake({"released"});
    client.connect("127.0.0.1", fake.port());
    client.unlock(id);
    CHECK_FALSE(client.is_open());
    CHECK(fake.requests() == std::vector<std::string>{std::string("unlock,id:") + id});
  }
  SECTION("renew") {
    FakeServer fake({"renewed"});
    client.connect("127.0.0.1", fake.port());
    client.renew(id, Ttl{90.0});
    CHECK(fake.requests() == std::vector<std::string>{std::string("renew,id:") + id + ",ttl:90"});
  }
  SECTION("the server says no") {
    FakeServer fake({"err,unknown lock id"});
    client.connect("127.0.0.1", fake.port());
    try {
      client.unlock(id);
      FAIL("no exception");
    } catch (const ClientError& e) {
      CHECK(e.kind() == ClientError::Kind::server_error);
      CHECK(std::string(e.what()) == std::string("unlock of lock id ") + id +
                                         " refused by the server: err,unknown lock id");
    }
  }
  SECTION("an unexpected answer") {
    FakeServer fake({"released"});
    client.connect("127.0.0.1", fake.port());
    CHECK(kind_of([&] { client.renew(id, Ttl{1.0}); }) == ClientError::Kind::unexpected_answer);
  }
  SECTION("an invalid id is not sent") {
    FakeServer fake({"released"});
    client.connect("127.0.0.1", fake.port());
    CHECK_THROWS_AS(client.unlock("deploy"), std::invalid_argument);
    CHECK(fake.requests().empty());
  }
}

TEST_CASE("client: --ttl, --unlock and --renew", "[client][options][detached]") {
  tnl::test::ScopedEnv env(tnl::test::client::no_client_env);
  SECTION("no new option: hold the lock, as before") {
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"db"}));
    CHECK(options.mode == ClientMode::hold);
    REQUIRE_FALSE(check_client_options(options));
  }
  SECTION("--lock-name instead of the positional name") {
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"--lock-name", "db"}));
    CHECK(options.lock_name == "db");
    ClientOptions both;
    CHECK(parse_client(both, {"db", "--lock-name", "db"}) == 2);
  }
  SECTION("--ttl: a detached lock") {
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"db", "--ttl", "600", "--fencing", "--wait", "5", "--limit", "2"}));
    CHECK(options.mode == ClientMode::detach);
    REQUIRE_FALSE(check_client_options(options));
    CHECK(options.ttl_value.seconds == std::optional<double>(600));
    CHECK(options.lock.wait_seconds == std::optional<double>(5));
    ClientOptions forever;
    REQUIRE_FALSE(parse_client(forever, {"--ttl", "inf", "--lock-name", "db"}));
    REQUIRE_FALSE(check_client_options(forever));
    CHECK_FALSE(forever.ttl_value.seconds);
  }
  SECTION("--unlock") {
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"--unlock", id}));
    CHECK(options.mode == ClientMode::unlock);
    CHECK(options.unlock_id == id);
    CHECK_FALSE(check_client_options(options));
  }
  SECTION("--renew") {
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"--renew", id, "--ttl", "30"}));
    CHECK(options.mode == ClientMode::renew);
    REQUIRE_FALSE(check_client_options(options));
    CHECK(options.ttl_value.seconds == std::optional<double>(30));
  }
  SECTION("--unlock and --renew ignore --wait, --reason and --client-id from the environment") {
    ::setenv(env_wait, "not a number", 1);
    ::setenv(env_reason, "a,b", 1);
    ::setenv(env_client_id, "bad id", 1);
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"--unlock", id}));
    CHECK_FALSE(check_client_options(options));
    ::unsetenv(env_wait);
    ::unsetenv(env_reason);
    ::unsetenv(env_client_id);
  }
  SECTION("conflicts and missing pieces are usage errors (2)") {
    const auto code = [](std::vector<std::string> args) {
      ClientOptions options;
      return parse_client(options, args);
    };
    CHECK(code({"db", "--ttl", "5", "--keep-alive"}) == 2);
    CHECK(code({"db", "--ttl", "5", "--keep-alive-secs", "3"}) == 2);
    CHECK(code({"db", "--unlock", id}) == 2);
    CHECK(code({"--unlock", id, "--ttl", "5"}) == 2);
    CHECK(code({"--unlock", id, "--renew", id, "--ttl", "5"}) == 2);
    CHECK(code({"--unlock", id, "--fencing"}) == 2);
    CHECK(code({"--unlock", id, "--limit", "2"}) == 2);
    CHECK(code({"--unlock", id, "--keep-alive"}) == 2);
    CHECK(code({"--renew", id}) == 2);  // needs --ttl
    CHECK(code({"--renew", id, "--ttl", "5", "db"}) == 2);
    CHECK(code({"--ttl", "5"}) == 2);  // no lock name
    CHECK(code({}) == 2);
  }
  SECTION("invalid values are reported by check_client_options (exit 4, like an invalid --wait)") {
    const auto problem = [](std::vector<std::string> args) {
      ClientOptions options;
      REQUIRE_FALSE(parse_client(options, args));
      return check_client_options(options);
    };
    CHECK(problem({"db", "--ttl", "0"}));
    CHECK(problem({"db", "--ttl", "-5"}));
    CHECK(problem({"db", "--ttl", "31536001"}));
    CHECK(problem({"db", "--ttl", "1h-5m"}));
    CHECK_FALSE(problem({"db", "--ttl", "1h"}));  // durations with units
    CHECK(problem({"--unlock", "db"}));
    CHECK(problem({"--renew", "nope", "--ttl", "5"}));
    CHECK(problem({"--renew", id, "--ttl", "0"}));
    CHECK(*problem({"db", "--ttl", "x"}) ==
          "invalid --ttl 'x': give a duration from 100ms to 365d or 'inf'; a duration is seconds (10, 0.5) or "
          "numbers with units ms, s, m, h, d, largest first (500ms, 90s, 10m, 1h30m, 2d)");
  }
}

}  // namespace TNL_UNITY_ID
