// flock(1)'s conventions against the real server: -w DURATION waits, -n and the default do
// not, -E sets the status of a lock not granted, -c runs a shell string.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cli_helpers.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
namespace fs = std::filesystem;

namespace {

/// True once the server reports exactly `n` waiters for `name` (`.locks,name:NAME`).
bool waiters_are(const ServerProcess& server, const std::string& name, int n) {
  return wait_until([&] {
    LineClient query(server.port());
    const auto answer = query.request(".locks,name:" + name);
    return answer && answer->find("\"waiters\":" + std::to_string(n)) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("flock: tcpnetlock_do -w 10m queues behind the holder and runs after the release", "[cli][do][flock]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:flockw") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(do_argv(server, {"-w", "10m", "--lock-name", "flockw", "touch", marker.string()}),
                               clean_env());
  REQUIRE(waiters_are(server, "flockw", 1));
  CHECK_FALSE(fs::exists(marker));
  holder.reset();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(fs::exists(marker));
}

TEST_CASE("flock: tcpnetlock_client -w 1h30m queues too", "[cli][client][flock]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:flockc") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(client_argv(server, {"-w", "1h30m", "--fencing", "flockc"}), clean_env());
  REQUIRE(waiters_are(server, "flockc", 1));
  holder.reset();
  CHECK(p.wait_for_stdout("token:"));  // granted after the release
  p.signal(SIGTERM);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->signal == SIGTERM);
}

TEST_CASE("flock: by default, and with -n, a busy lock is not waited for", "[cli][flock]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  const std::vector<std::string> nowait = GENERATE(std::vector<std::string>{}, std::vector<std::string>{"-n"},
                                                   std::vector<std::string>{"-w", "10m", "-n"});
  std::vector<std::string> args = nowait;
  args.insert(args.end(), {"--lock-name", "busy", "touch", marker.string()});
  const auto start = std::chrono::steady_clock::now();
  const Finished done = finish(do_argv(server, args));
  CHECK(done.exited(123));  // tcpnetlock's status, kept
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK_FALSE(fs::exists(marker));
  std::vector<std::string> client_args = nowait;
  client_args.push_back("busy");
  CHECK(finish(client_argv(server, client_args)).exited(123));
}

TEST_CASE("flock: -E N is the exit status of a lock not granted", "[cli][flock]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  SECTION("tcpnetlock_do -n -E 0: the cron idiom, skip quietly when another run holds it") {
    const Finished done = finish(do_argv(server, {"-n", "-E", "0", "--lock-name", "busy", "touch", marker.string()}));
    CHECK(done.exited(0));
    CHECK_FALSE(fs::exists(marker));
  }
  SECTION("tcpnetlock_do -E 7 after a wait runs out") {
    const Finished done =
        finish(do_argv(server, {"-w", "300ms", "-E", "7", "--lock-name", "busy", "touch", marker.string()}));
    CHECK(done.exited(7));
    CHECK_FALSE(fs::exists(marker));
  }
  SECTION("tcpnetlock_do --retry 1 --conflict-exit-code 9") {
    const Finished done = finish(do_argv(
        server, {"--retry", "1", "--retry-wait", "10ms", "--conflict-exit-code", "9", "--lock-name", "busy", "true"}));
    CHECK(done.exited(9));
  }
  SECTION("tcpnetlock_client -E 1, as flock") {
    CHECK(finish(client_argv(server, {"-E", "1", "busy"})).exited(1));
  }
  SECTION("a lock granted is not affected: the command's own status") {
    const Finished done = finish(do_argv(server, {"-E", "0", "--lock-name", "free", "--", "sh", "-c", "exit 5"}));
    CHECK(done.exited(5));
  }
}

TEST_CASE("flock: tcpnetlock_do -c runs a string with /bin/sh -c", "[cli][do][flock]") {
  ServerProcess server;
  const Finished done =
      finish(do_argv(server, {"--lock-name", "shell", "-c", "echo \"$TCPNETLOCK_LOCK_NAME\"; echo two"}));
  CHECK(done.exited(0));
  CHECK(done.out == "shell\ntwo\n");
  const Finished derived = finish(do_argv(server, {"-c", "echo derived"}));
  CHECK(derived.exited(0));
  CHECK(derived.out == "derived\n");
  // A command word -c without '--' was an invalid option before -c existed, and still is:
  // it cannot silently become a shell string.
  CHECK(finish(do_argv(server, {"--lock-name", "x", "sh", "-c", "exit 5"})).exited(2));
}

TEST_CASE("flock: tcpnetlock_do refuses its short options after the command's first word", "[cli][do][flock]") {
  ServerProcess server;
  TempDir dir;
  const auto marker = dir.path() / "ran";
  // `touch -n FILE` would otherwise run as `touch FILE`, with -n taken as tcpnetlock_do's.
  const Finished done = finish(do_argv(server, {"--lock-name", "x", "touch", "-n", marker.string()}));
  CHECK(done.exited(2));
  CHECK(done.err.find("put '--' before the command") != std::string::npos);
  CHECK_FALSE(fs::exists(marker));
  const Finished quoted = finish(do_argv(server, {"-n", "--lock-name", "x", "--", "echo", "-n", "hi"}));
  CHECK(quoted.exited(0));
  CHECK(quoted.out == "hi");
}

}  // namespace TNL_UNITY_ID
