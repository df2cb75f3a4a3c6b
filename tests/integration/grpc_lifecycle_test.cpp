// The gRPC front end's life: where it listens (--grpc, its default, off), UNAVAILABLE when
// the backend cannot serve and while shutting down, and no call left hanging.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "grpc_helpers.hpp"
#include "line_client.hpp"
#include "refusing_port.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace std::chrono_literals;
using grpc::StatusCode;
using tnl::test::GrpcServerProcess;
using tnl::test::TrackerClient;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// The gRPC port the server logged (--info: "gRPC API (...) on 127.0.0.1:PORT"), or 0.
std::uint16_t logged_grpc_port(tnl::test::ChildProcess& process) {
  if (!process.wait_for_stderr("gRPC API (tracker.lock.v1alpha1.LockService) on ")) return 0;
  std::smatch match;
  const std::string text = process.stderr_text();
  if (!std::regex_search(text, match, std::regex(R"(LockService\) on 127\.0\.0\.1:(\d+))"))) return 0;
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

}  // namespace

TEST_CASE("an explicit --grpc that cannot be bound is fatal, a default one only warns", "[grpc][local-only]") {
  // [local-only]: starts servers on fixed ports without the suites' etcd options.
  GrpcServerProcess first;
  SECTION("explicit: exit 2, and no second server on the first one's port (no SO_REUSEPORT)") {
    auto second = tnl::test::ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--port", "0", "--http",
                                                  "off", "--grpc", first.grpc_target()});
    const auto status = second.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
    CHECK(contains(second.stderr_text(), "cannot serve gRPC"));
  }
  SECTION("default (the lock port + 2): a warning, and the server serves") {
    // A lock port two below a port that is taken (bound by another socket).
    bool tried = false;
    for (int attempt = 0; attempt < 10 && !tried; ++attempt) {
      tnl::test::RefusingPort taken;
      const int lock_port = std::stoi(taken.port_string()) - 2;
      if (lock_port < 1024) continue;
      tnl::test::TempDir dir;
      auto server = tnl::test::ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--port",
                                                    std::to_string(lock_port), "--port-file",
                                                    (dir.path() / "port").string(), "--http", "off"});
      if (!tnl::test::wait_until([&] { return !tnl::test::read_file(dir.path() / "port").empty() || !server.running(); })) {
        FAIL("server neither started nor ended");
      }
      if (!server.running() && contains(server.stderr_text(), "cannot listen on")) continue;  // lock port taken: retry
      tried = true;
      CHECK(server.running());
      CHECK(server.wait_for_stderr("not serving gRPC: its default address 127.0.0.1:" + taken.port_string()));
      server.signal(15);
      const auto status = server.wait_for_exit();
      REQUIRE(status);
      CHECK(status->exited(0));
    }
    CHECK(tried);
  }
}

TEST_CASE("off: with --grpc off nothing listens, the rest serves", "[grpc]") {
  tnl::test::ServerProcess server({"--grpc", "off", "--info"});
  CHECK(!contains(server.process().stderr_text(), "gRPC API"));
  CHECK(server.stop()->exited(0));
}

TEST_CASE("a non-loopback --grpc needs the admin token", "[grpc][local-only]") {
  auto server = tnl::test::ChildProcess::start(
      {tnl::test::binary("tcpnetlock_server"), "--port", "0", "--http", "off", "--grpc", "0.0.0.0:0"});
  const auto status = server.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(2));
  CHECK(contains(server.stderr_text(), "refusing to serve gRPC on 0.0.0.0 without --admin-token-file"));
}

TEST_CASE("UNAVAILABLE while the backend is unavailable (etcd out of reach)", "[grpc][local-only]") {
  // [local-only]: its own --backend, an etcd nobody answers at.
  tnl::test::RefusingPort etcd;
  auto server = tnl::test::ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--port", "0", "--http", "off",
                                                "--grpc", "127.0.0.1:0", "--info", "--backend", "etcd",
                                                "--etcd-endpoints", "127.0.0.1:" + etcd.port_string()});
  const std::uint16_t port = logged_grpc_port(server);
  REQUIRE(port != 0);
  TrackerClient client("127.0.0.1:" + std::to_string(port));
  const auto created = client.create("svc", "who");
  INFO("answer: " << created.status.error_message() << "; server: " << server.stderr_text());
  CHECK(created.code() == StatusCode::UNAVAILABLE);
  CHECK(contains(created.status.error_message(), "backend unavailable"));
  CHECK(client.list().code() == StatusCode::UNAVAILABLE);
  CHECK(client.get("0cf8bcd7-30f3-42a0-abc4-d40e586aa569").code() == StatusCode::UNAVAILABLE);
  server.signal(15);
  const auto status = server.wait_for_exit(20s);
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("shutdown: calls get an answer (OK or UNAVAILABLE), none hangs, and the server exits", "[grpc]") {
  // CANCELLED too: gRPC's own answer to a call that reaches it in the instant it stops.
  GrpcServerProcess server;
  // A holder that does not close when told `shutting-down`: the server waits for it (its
  // linger time), and gRPC calls meanwhile hear why they are refused.
  tnl::test::LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:lingering") == "ok");
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::atomic<int> said_shutting_down{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      TrackerClient client(server.grpc_target());
      for (int n = 0; n < 2000 && !stop; ++n) {
        const auto answer = client.create("shutdown-" + std::to_string(i) + "-" + std::to_string(n), "caller");
        if (answer.ok()) {
          ++ok;
        } else if (answer.code() == StatusCode::UNAVAILABLE || answer.code() == StatusCode::CANCELLED) {
          if (answer.code() == StatusCode::UNAVAILABLE && contains(answer.status.error_message(), "shutting down")) {
            ++said_shutting_down;
          }
          ++unavailable;
          if (unavailable > 20) return;  // the server is gone: enough
        } else {
          ++other;
          std::fprintf(stderr, "unexpected: %d %s\n", static_cast<int>(answer.code()),
                       answer.status.error_message().c_str());
        }
      }
    });
  }
  REQUIRE(tnl::test::wait_until([&] { return ok > 20; }));
  server.server().process().signal(15);
  const auto status = server.server().process().wait_for_exit(15s);
  stop = true;
  for (auto& caller : callers) caller.join();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(other == 0);
  CHECK(ok > 20);
  // While the lock port's connections closed, the front end said why.
  CHECK(said_shutting_down > 0);
}

}  // namespace TNL_UNITY_ID
