// tcpnetlock_server with --backend etcd as a whole process: what it does before its lease is
// granted (etcd out of reach), and that a graceful shutdown revokes its lease before it exits.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "refusing_port.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::ChildProcess;
using tnl::test::HttpClient;
using tnl::test::LineClient;
using tnl::test::TempDir;
using namespace std::chrono_literals;

namespace {

/// The port `what` ("listening on" or "HTTP admin API on") that the server logged (--info).
std::uint16_t logged_port(const ChildProcess& server, const std::string& what) {
  REQUIRE(server.wait_for_stderr(what + " 127.0.0.1:"));
  std::smatch match;
  const std::string text = server.stderr_text();
  REQUIRE(std::regex_search(text, match, std::regex(what + " 127\\.0\\.0\\.1:([0-9]+)")));
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

/// The endpoint of the etcd of the etcd/ reruns (tests/support/etcd_fixture.sh).
std::string fixture_endpoint() {
  const char* file = std::getenv("TNL_TEST_ETCD_ENDPOINTS_FILE");
  REQUIRE(file != nullptr);  // [etcd-only]: registered only where the fixture runs
  std::string endpoint = tnl::test::read_file(file);
  while (!endpoint.empty() && endpoint.back() == '\n') endpoint.pop_back();
  REQUIRE(!endpoint.empty());
  return endpoint;
}

}  // namespace

TEST_CASE("etcd out of reach at start: requests are refused in words, no port file, /readyz 503, SIGTERM ends it",
          "[etcd-wiring]") {
  const tnl::test::RefusingPort etcd;  // nothing listens there: every call to etcd fails at once
  TempDir dir;
  const auto port_file = dir.path() / "port";
  auto server = ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port", "0",
                                     "--port-file", port_file.string(), "--http", "127.0.0.1:0", "--info", "--backend",
                                     "etcd", "--etcd-endpoints", "127.0.0.1:" + etcd.port_string(), "--etcd-prefix",
                                     "/unreachable/"});
  const std::uint16_t port = logged_port(server, "listening on");
  const std::uint16_t http_port = logged_port(server, "HTTP admin API on");

  // Nothing can be granted without a lease: said so, not `ok`, not silence.
  CHECK(LineClient(port).request("lock,name:a") == "err,backend unavailable");
  CHECK(LineClient(port).request("lock,name:a,wait:1") == "err,backend unavailable");
  CHECK(LineClient(port).request(".locks") == "err,backend unavailable");
  CHECK(LineClient(port).request(".stats") == "err,backend unavailable");
  const HttpClient http(http_port);
  const auto ready = http.get("/readyz");
  CHECK(ready.status == 503);
  CHECK(ready.json() == nlohmann::json{{"status", "backend unavailable"}});
  const auto list = http.get("/api/v1alpha1/locks/list");
  CHECK(list.status == 503);
  CHECK(list.json() == nlohmann::json{{"error", "backend unavailable"}});
  const auto metrics = http.get("/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("tcpnetlock_etcd_available 0") != std::string::npos);
  // The port file says "served here": not yet.
  CHECK_FALSE(std::filesystem::exists(port_file));
  CHECK(server.running());

  const auto stopping = std::chrono::steady_clock::now();
  server.signal(SIGTERM);
  const auto status = server.wait_for_exit(15s);
  REQUIRE(status);
  CHECK(status->exited(0));
  // Nothing to revoke: it does not wait for etcd (the client's call deadline at most).
  CHECK(std::chrono::steady_clock::now() - stopping < 6s);
}

// [etcd-only]: needs the etcd of the etcd/ reruns (two replicas in one realm of it).
TEST_CASE("a replica that shuts down gracefully frees its connections' locks at once: its lease is revoked first",
          "[etcd-wiring][etcd-only]") {
  const std::string endpoint = fixture_endpoint();
  std::mt19937_64 random{std::random_device{}()};
  const std::string realm = "/shared-" + std::to_string(random()) + "/";
  // A long TTL: were the lease not revoked, its keys would stay for 60 s.
  const std::vector<std::string> args{"--backend", "etcd", "--etcd-endpoints", endpoint, "--etcd-prefix", realm,
                                      "--etcd-lease-ttl", "60"};
  tnl::test::ServerProcess a(args);
  tnl::test::ServerProcess b(args);
  LineClient holder(a.port());
  REQUIRE(holder.request("lock,name:job") == "ok");
  CHECK(LineClient(b.port()).request("lock,name:job") == "not-granted");

  const auto status = a.stop();  // SIGTERM, the holder's connection still open
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(holder.read_line(5s) == "shutting-down");
  // Granted on the other replica right away (1 s: a few etcd round trips), not after 60 s.
  const auto asked = std::chrono::steady_clock::now();
  CHECK(LineClient(b.port()).request("lock,name:job,wait:1") == "ok");
  CHECK(std::chrono::steady_clock::now() - asked < 1s);
}

}  // namespace TNL_UNITY_ID
