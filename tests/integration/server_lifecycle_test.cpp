// Starting, listening and stopping the real server: addresses, exit codes, signals.
#include <catch2/catch.hpp>

#include <csignal>

#include "holder_swarm.hpp"
#include "line_client.hpp"
#include "server_process.hpp"

using tnl::test::ChildProcess;
using tnl::test::LineClient;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

TEST_CASE("SIGTERM and SIGINT shut down gracefully: shutting-down to everyone, exit 0", "[lifecycle]") {
  for (const int sig : {SIGTERM, SIGINT}) {
    INFO("signal " << sig);
    ServerProcess server;
    LineClient holder(server.port());
    REQUIRE(holder.request("lock,name:abc") == "ok");
    LineClient idle(server.port());  // connected, nothing sent yet
    REQUIRE(tnl::test::wait_until([&] {
      LineClient probe(server.port());
      return probe.request(".stats").value_or("").find("\"connection_count\":3") != std::string::npos;
    }));
    server.process().signal(sig);
    CHECK(holder.read_line() == "shutting-down");
    CHECK(holder.wait_closed());
    CHECK(idle.read_line() == "shutting-down");
    CHECK(idle.wait_closed());
    holder.close();
    idle.close();
    const auto status = server.process().wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(0));
  }
}

TEST_CASE("shutdown does not wait for clients that never close", "[lifecycle]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  server.process().signal(SIGTERM);
  CHECK(holder.read_line() == "shutting-down");
  // The holder keeps its end open; the server still exits, within its linger time.
  const auto status = server.process().wait_for_exit(10s);
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("shutdown does not wait out the write timeout of a long answer nobody reads", "[lifecycle]") {
  ServerProcess server({"--write-timeout", "60"});
  tnl::test::HolderSwarm holders(server.port());
  REQUIRE(holders.open(2'000, 200, "busy-", std::chrono::steady_clock::now() + 30s).empty());
  LineClient reader(server.port());
  REQUIRE(reader.send(".locks\n"));  // about 0.5 MiB, never read
  REQUIRE(tnl::test::wait_until([&] {
    LineClient probe(server.port());
    return probe.request(".stats").value_or("").find("\"connection_count\":2002") != std::string::npos;
  }));
  const auto stopping = std::chrono::steady_clock::now();
  server.process().signal(SIGTERM);
  // Within the linger time (2 s) and some slack, not the 60 s write timeout.
  const auto status = server.process().wait_for_exit(15s);
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(std::chrono::steady_clock::now() - stopping < 10s);
}

TEST_CASE("the server stops accepting once shutting down", "[lifecycle]") {
  ServerProcess server;
  const auto port = server.port();
  LineClient holder(port);
  REQUIRE(holder.request("lock,name:abc") == "ok");
  server.process().signal(SIGTERM);
  REQUIRE(holder.read_line() == "shutting-down");
  CHECK_THROWS(LineClient(port));
}

TEST_CASE("a port in use exits 2", "[lifecycle]") {
  ServerProcess first;
  auto second = ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port",
                                     first.port_string()});
  const auto status = second.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(2));
  CHECK(second.stderr_text().find("in use") != std::string::npos);
}

TEST_CASE("an address that cannot be resolved or bound exits 2", "[lifecycle]") {
  for (const char* listen : {"no-such-host.invalid", "192.0.2.1"}) {
    INFO(listen);
    auto server =
        ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--listen", listen, "--port", "0"});
    const auto status = server.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
  }
}

TEST_CASE("invalid options exit 2, --help exits 0", "[lifecycle]") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--port", "notaport"}, {"--port", "70000"}, {"--no-such-option"}, {"--max-line-length", "1"}}) {
    std::vector<std::string> argv{tnl::test::binary("tcpnetlock_server")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto server = ChildProcess::start(argv);
    const auto status = server.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
  }
  auto help = ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--help"});
  const auto status = help.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(help.stdout_text().find("--listen") != std::string::npos);
}

TEST_CASE("listening on :: serves IPv6 and IPv4 clients", "[lifecycle]") {
  ServerProcess server({}, "::");
  LineClient v6("::1", server.port());
  CHECK(v6.request("lock,name:dual") == "ok");
  LineClient v4("127.0.0.1", server.port());
  CHECK(v4.request("lock,name:dual") == "not-granted");
}

TEST_CASE("listening on 0.0.0.0 serves IPv4 clients", "[lifecycle]") {
  ServerProcess server({}, "0.0.0.0");
  LineClient v4("127.0.0.1", server.port());
  CHECK(v4.request(".ping") == "pong");
}

TEST_CASE("listening on localhost serves both loopback families, whichever resolves first", "[lifecycle]") {
  ServerProcess server({}, "localhost");
  LineClient v4("127.0.0.1", server.port());
  CHECK(v4.request("lock,name:local") == "ok");
  // ::1 is served too when this machine resolves localhost to it.
  try {
    LineClient v6("::1", server.port());
    CHECK(v6.request("lock,name:local") == "not-granted");
  } catch (const std::system_error& e) {
    // Acceptable only on a machine where localhost has no IPv6 address.
    auto getent = ChildProcess::start({"getent", "ahostsv6", "localhost"});
    REQUIRE(getent.wait_for_exit());
    INFO("connect to ::1 failed: " << e.what() << "; localhost resolves to: " << getent.stdout_text());
    CHECK(getent.stdout_text().find("::1") == std::string::npos);
  }
}

TEST_CASE("the short name tnl_server is the same server", "[lifecycle]") {
  auto help = ChildProcess::start({tnl::test::binary("tnl_server"), "--help"});
  const auto status = help.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
}
