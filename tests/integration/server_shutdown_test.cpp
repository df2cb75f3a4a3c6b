// Shutting down and signals (issue 10): once shutdown begins nothing more is granted, and
// SIGHUP does not stop the server.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <csignal>
#include <string>
#include <vector>

#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::LineClient;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

namespace {

/// Raises this process's open-file limit to at least `wanted` (up to the hard limit).
void raise_open_files(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  INFO("this test needs " << wanted << " open files; the hard limit is " << limit.rlim_max);
  REQUIRE(limit.rlim_cur >= wanted);
}

}  // namespace

TEST_CASE("SIGTERM with 1,000 holders and 1,000 waiters: no waiter is granted, each is told shutting-down",
          "[shutdown]") {
  // Issue 10, finding 4: as the holders' connections were closed their locks passed to the
  // waiters, and about a tenth of them got `ok` just before `shutting-down`.
  constexpr int pairs = 1000;
  raise_open_files(2 * pairs + 100);
  ServerProcess server;
  std::vector<LineClient> holders;
  std::vector<LineClient> waiters;
  holders.reserve(pairs);
  waiters.reserve(pairs);
  for (int i = 0; i < pairs; ++i) {
    holders.emplace_back(server.port());
    REQUIRE(holders.back().request("lock,name:n" + std::to_string(i)) == "ok");
  }
  for (int i = 0; i < pairs; ++i) {
    waiters.emplace_back(server.port());
    REQUIRE(waiters.back().send_line("lock,name:n" + std::to_string(i) + ",wait:60"));
  }
  REQUIRE(tnl::test::wait_until([&] { return tnl::test::stats(server.port()).at("waiter_count") == pairs; }));

  server.process().signal(SIGTERM);
  int told = 0;
  std::vector<std::string> granted;
  for (int i = 0; i < pairs; ++i) {
    const auto answer = waiters[static_cast<std::size_t>(i)].read_line();
    if (answer == "shutting-down") {
      ++told;
    } else {
      granted.push_back("n" + std::to_string(i) + ": " + answer.value_or("(nothing)"));
    }
  }
  CHECK(told == pairs);
  CHECK(granted.empty());
  for (std::size_t i = 0; i < granted.size() && i < 5; ++i) WARN(granted[i]);
  int holders_told = 0;
  for (auto& holder : holders) holders_told += holder.read_line() == "shutting-down";
  CHECK(holders_told == pairs);
  const auto status = server.process().wait_for_exit(20s);
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("SIGHUP is logged and ignored: the server keeps serving and every lock", "[shutdown][signals]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:hup") == "ok");
  server.process().signal(SIGHUP);
  REQUIRE(server.process().wait_for_stderr("SIGHUP"));
  CHECK(server.process().running());
  CHECK(LineClient(server.port()).request(".ping") == "pong");
  CHECK(LineClient(server.port()).request("lock,name:hup") == "not-granted");
  CHECK(holder.request(".keepalive") == "alive");
  // Twice: it is waited past each time.
  server.process().signal(SIGHUP);
  const auto hangups = [&] {
    const std::string log = server.process().stderr_text();
    std::size_t count = 0;
    for (auto at = log.find("SIGHUP"); at != std::string::npos; at = log.find("SIGHUP", at + 1)) ++count;
    return count;
  };
  REQUIRE(tnl::test::wait_until([&] { return hangups() == 2; }));
  CHECK(LineClient(server.port()).request(".ping") == "pong");
  CHECK(holder.request(".keepalive") == "alive");
  const auto status = server.stop();
  REQUIRE(status);
  CHECK(status->exited(0));
}

}  // namespace TNL_UNITY_ID
