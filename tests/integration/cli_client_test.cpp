// tcpnetlock_client against the real server.
#include <signal.h>

#include <catch2/catch.hpp>

#include "cli_helpers.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;

namespace {

bool lock_is_held(std::uint16_t port, const std::string& name) {
  LineClient probe(port);
  return probe.request("lock,name:" + name) == std::optional<std::string>("not-granted");
}

}  // namespace

TEST_CASE("client: holds the lock until killed, which frees it", "[cli][client]") {
  const int sig = GENERATE(SIGTERM, SIGINT, SIGHUP);
  ServerProcess server;
  auto p = ChildProcess::start(client_argv(server, {"--info", "held"}), clean_env());
  REQUIRE(p.wait_for_stderr("lock 'held' acquired"));
  CHECK(lock_is_held(server.port(), "held"));
  CHECK(p.running());
  p.signal(sig);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->signal == sig);  // dies of the signal, like a program killed while waiting
  CHECK(wait_until([&] { return lock_is_free(server.port(), "held"); }));
}

TEST_CASE("client: SIGKILL frees the lock too", "[cli][client]") {
  ServerProcess server;
  auto p = ChildProcess::start(client_argv(server, {"--info", "killed"}), clean_env());
  REQUIRE(p.wait_for_stderr("acquired"));
  p.signal(SIGKILL);
  REQUIRE(p.wait_for_exit());
  CHECK(wait_until([&] { return lock_is_free(server.port(), "killed"); }));
}

TEST_CASE("client: not granted exits 123 with the message", "[cli][client]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(client_argv(server, {"busy"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(123));
  CHECK(p.stderr_text() == "ERROR: lock 'busy' not granted by server\n");
}

TEST_CASE("client: exits 122 when the server goes away under it", "[cli][client]") {
  ServerProcess server;
  auto p = ChildProcess::start(client_argv(server, {"--info", "orphan"}), clean_env());
  REQUIRE(p.wait_for_stderr("acquired"));
  server.stop();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("connection to the server broke while holding lock 'orphan'") != std::string::npos);
}

TEST_CASE("client: exits 122 when the connection is closed or gets an unexpected line", "[cli][client]") {
  SECTION("closed") {
    FakeServer fake({"ok"}, true);
    auto p = ChildProcess::start(at_port("tcpnetlock_client", fake.port_string(), {"x"}), clean_env());
    const auto status = p.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(122));
    CHECK(p.stderr_text().find("server closed the connection") != std::string::npos);
  }
  SECTION("unexpected line") {
    // A second `ok` line, unasked for, is something no correct server sends.
    FakeServer fake({"ok\nsurprise"});
    auto p = ChildProcess::start(at_port("tcpnetlock_client", fake.port_string(), {"x"}), clean_env());
    const auto status = p.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(122));
    CHECK(p.stderr_text().find("surprise") != std::string::npos);
  }
}

TEST_CASE("client: --keep-alive sends keepalives and keeps holding", "[cli][client]") {
  ServerProcess server;
  auto p = ChildProcess::start(client_argv(server, {"--debug", "--keep-alive", "--keep-alive-secs", "0.1", "ka"}),
                               clean_env());
  REQUIRE(wait_until([&] { return count(p.stderr_text(), "keepalive answered") >= 3; }));
  CHECK(p.running());
  CHECK(lock_is_held(server.port(), "ka"));
  p.signal(SIGTERM);
  REQUIRE(p.wait_for_exit());
  CHECK(wait_until([&] { return lock_is_free(server.port(), "ka"); }));
}

TEST_CASE("client: --keep-alive sends .keepalive on the held connection", "[cli][client]") {
  FakeServer fake({"ok"});  // answers the lock, then stays silent
  auto p = ChildProcess::start(
      at_port("tcpnetlock_client", fake.port_string(), {"--keep-alive", "--keep-alive-secs", "0.1", "x"}),
      clean_env());
  REQUIRE(wait_until([&] { return fake.requests().size() >= 2; }));
  CHECK(fake.requests()[1] == ".keepalive");
  p.signal(SIGTERM);
  REQUIRE(p.wait_for_exit());
}

TEST_CASE("client: connection refused exits 2 and says so", "[cli][client]") {
  RefusingPort port;
  auto p = ChildProcess::start(at_port("tcpnetlock_client", port.port_string(), {"x"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(2));
  CHECK(p.stderr_text().find("refused") != std::string::npos);
}

TEST_CASE("client: an unexpected answer exits 4", "[cli][client]") {
  FakeServer fake({"err,something went wrong"});
  auto p = ChildProcess::start(at_port("tcpnetlock_client", fake.port_string(), {"x"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(4));
  CHECK(p.stderr_text().find("err,something went wrong") != std::string::npos);
}

TEST_CASE("client: an invalid lock name exits 4, as in tcpnetlock", "[cli][client]") {
  ServerProcess server;
  auto p = ChildProcess::start(client_argv(server, {"not/valid"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(4));
  CHECK(p.stderr_text().find("invalid lock name") != std::string::npos);
}

TEST_CASE("client: invalid options exit 2, --help exits 0", "[cli][client]") {
  SECTION("missing lock name") {
    auto p = ChildProcess::start({binary("tcpnetlock_client")}, clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("unknown option") {
    auto p = ChildProcess::start({binary("tcpnetlock_client"), "--bogus", "x"}, clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("bad keep-alive-secs") {
    auto p = ChildProcess::start({binary("tcpnetlock_client"), "--keep-alive-secs", "0", "x"}, clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("--help") {
    auto p = ChildProcess::start({binary("tcpnetlock_client"), "--help"}, clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(0));
    CHECK(p.stdout_text().find("--keep-alive-secs") != std::string::npos);
  }
}

TEST_CASE("client: TCPNETLOCK_HOST, TCPNETLOCK_PORT and TCPNETLOCK_CLIENT_ID are the defaults", "[cli][client]") {
  SECTION("host and port") {
    ServerProcess server;
    auto p = ChildProcess::start({binary("tcpnetlock_client"), "--info", "envlock"},
                                 clean_env({{"TCPNETLOCK_HOST", "127.0.0.1"}, {"TCPNETLOCK_PORT", server.port_string()}}));
    REQUIRE(p.wait_for_stderr("acquired"));
    CHECK(lock_is_held(server.port(), "envlock"));
    p.signal(SIGTERM);
    REQUIRE(p.wait_for_exit());
  }
  SECTION("client id") {
    FakeServer fake({"ok"});
    auto p = ChildProcess::start({binary("tcpnetlock_client"), "envlock"},
                                 clean_env({{"TCPNETLOCK_HOST", "127.0.0.1"},
                                            {"TCPNETLOCK_PORT", fake.port_string()},
                                            {"TCPNETLOCK_CLIENT_ID", "worker-7"}}));
    REQUIRE(wait_until([&] { return !fake.requests().empty(); }));
    CHECK(fake.requests()[0] == "lock,name:envlock,client-id:worker-7");
    p.signal(SIGTERM);
    REQUIRE(p.wait_for_exit());
  }
}

TEST_CASE("client: the short name tnl_client works", "[cli][client]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:short") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(at_port("tnl_client", server.port_string(), {"short"}), clean_env());
  REQUIRE(p.wait_for_exit());
  CHECK(p.wait_for_exit()->exited(123));
}

TEST_CASE("client: a keepalive unanswered for --keep-alive-timeout means the lock is lost (exit 122)",
          "[cli][client][keepalive]") {
  // A server that granted the lock and then went silent (its machine gone, a partition):
  // the server may give the lock away meanwhile, so the holder must not go on believing.
  FakeServer fake({"ok"});
  auto p = ChildProcess::start(at_port("tcpnetlock_client", fake.port_string(),
                                       {"--keep-alive", "--keep-alive-secs", "0.1", "--keep-alive-timeout", "0.5", "x"}),
                               clean_env());
  const auto status = p.wait_for_exit(std::chrono::seconds(20));
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("no answer to keepalive within 0.5 s") != std::string::npos);
}

}  // namespace TNL_UNITY_ID
