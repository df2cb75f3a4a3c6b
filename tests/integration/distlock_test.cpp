// tcpnetlock_distlock against the real server, as real child processes: distlock's
// command line, variables, config file and exit statuses (README, "Coming from distlock").
// Part of the cli/ suite, so it runs again against a server on etcd (etcd/cli/).
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_helpers.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Spawn options with no DISTLOCK_* (nor TCPNETLOCK_*) variable but those of `env`.
SpawnOptions distlock_env(std::map<std::string, std::optional<std::string>> env = {}) {
  std::map<std::string, std::optional<std::string>> all{{"DISTLOCK_LOCKNAME", std::nullopt},
                                                        {"DISTLOCK_REASON", std::nullopt},
                                                        {"DISTLOCK_TIMEOUT", std::nullopt},
                                                        {"DISTLOCK_ENDPOINTS", std::nullopt},
                                                        {"DISTLOCK_PREFIX", std::nullopt},
                                                        {"DISTLOCK_ADMIN_TOKEN_FILE", std::nullopt},
                                                        // No /etc/distlock/distlock.yaml of this machine's.
                                                        {"DISTLOCK_CONFIG", "/dev/null"}};
  for (auto& [name, value] : env) all[name] = value;
  return clean_env(all);
}

/// argv of tcpnetlock_distlock with `--endpoints` at `server`, followed by `args`.
std::vector<std::string> distlock_argv(const ServerProcess& server, const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary("tcpnetlock_distlock"), "--endpoints", "127.0.0.1:" + server.port_string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// The holders of our lock `lock_name` in `.locks` (an empty array when it is free).
json holders_of(const ServerProcess& server, const std::string& lock_name) {
  const json locks = query_json(server.port(), ".locks,name:" + lock_name, "locks,")["locks"];
  return locks.empty() ? json::array() : locks[0]["holders"];
}

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

TEST_CASE("distlock: -- COMMAND runs holding the lock, releases it, and passes the command's status through",
          "[distlock]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(distlock_argv(server, {"--lock-name=percona_prod", "--reason=yum upgrade", "--", "sh",
                                                      "-c", ready_then_wait_for_go(dir) + "; exit 3"}),
                               distlock_env());
  REQUIRE(wait_until([&] { return std::filesystem::exists(dir.path() / "ready"); }));
  const json holders = holders_of(server, "__distlock__-percona_prod");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["kind"] == "connection");
  CHECK(holders[0]["reason"] == "yum upgrade");
  CHECK(holders[0]["client_id"] == hostname());
  // Busy meanwhile: --nowait fails at once with 1.
  const Finished busy =
      finish(distlock_argv(server, {"--lock-name=percona_prod", "--nowait", "--", "true"}), distlock_env());
  CHECK(busy.exited(1));
  touch(dir.path() / "go");
  const auto status = p.wait_for_exit(20s);
  REQUIRE(status);
  CHECK(status->exited(3));
  CHECK(lock_is_free(server.port(), "__distlock__-percona_prod"));
  const Finished ok = finish(distlock_argv(server, {"--lock-name=percona_prod", "--", "echo", "done"}), distlock_env());
  CHECK(ok.exited(0));
  CHECK(ok.out == "done\n");
}

TEST_CASE("distlock: a COMMAND holder killed with kill -9 frees the lock at once", "[distlock]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(distlock_argv(server, {"--lock-name=k9", "--", "sh", "-c", ready_then_wait_for_go(dir)}),
                               distlock_env());
  REQUIRE(wait_until([&] { return std::filesystem::exists(dir.path() / "ready"); }));
  REQUIRE(holders_of(server, "__distlock__-k9").size() == 1);
  p.signal(SIGKILL);
  REQUIRE(p.wait_for_exit(10s));
  // Its guardian ends the command, then lets the connection, and so the lock, go.
  CHECK(wait_until([&] { return lock_is_free(server.port(), "__distlock__-k9"); }, 15s));
  touch(dir.path() / "go");
}

TEST_CASE("distlock: --lock persists after it exits, and --unlock from another node releases it", "[distlock]") {
  ServerProcess server;
  const Finished locked = finish(
      distlock_argv(server, {"--lock-name=percona_prod", "--lock", "--reason=Upgrade RPMs on node-3"}), distlock_env());
  REQUIRE(locked.exited(0));
  const json holders = holders_of(server, "__distlock__-percona_prod");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["kind"] == "detached");
  CHECK(holders[0]["expires"].is_null());  // no TTL, as distlock's
  CHECK(holders[0]["reason"] == "Upgrade RPMs on node-3");
  // "Another node": another process, its settings from variables only.
  const auto other_node = distlock_env(
      {{"DISTLOCK_ENDPOINTS", "127.0.0.1:" + server.port_string()}, {"DISTLOCK_LOCKNAME", "percona_prod"}});
  const Finished busy = finish({binary("tcpnetlock_distlock"), "--lock", "--nowait"}, other_node);
  CHECK(busy.exited(1));
  CHECK(busy.err.find("Upgrade RPMs on node-3") != std::string::npos);
  const Finished unlocked = finish({binary("tcpnetlock_distlock"), "--unlock"}, other_node);
  CHECK(unlocked.exited(0));
  CHECK(wait_until([&] { return holders_of(server, "__distlock__-percona_prod").empty(); }));
  const Finished again = finish({binary("tcpnetlock_distlock"), "--unlock"}, other_node);
  CHECK(again.exited(1));
  CHECK(again.err.find("lock 'percona_prod' not found") != std::string::npos);
}

TEST_CASE("distlock: --unlock does not take a lock that a running COMMAND holds", "[distlock]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(
      distlock_argv(server, {"--lock-name=busy", "--", "sh", "-c", ready_then_wait_for_go(dir)}), distlock_env());
  REQUIRE(wait_until([&] { return std::filesystem::exists(dir.path() / "ready"); }));
  const Finished refused = finish(distlock_argv(server, {"--lock-name=busy", "--unlock"}), distlock_env());
  CHECK(refused.exited(1));
  CHECK(refused.err.find("running command") != std::string::npos);
  CHECK(p.running());
  CHECK(holders_of(server, "__distlock__-busy").size() == 1);
  touch(dir.path() / "go");
  REQUIRE(p.wait_for_exit(20s));
}

TEST_CASE("distlock: --timeout gives up after its seconds, and a waiter gets the lock once it is unlocked",
          "[distlock]") {
  ServerProcess server;
  REQUIRE(finish(distlock_argv(server, {"--lock-name=t", "--lock"}), distlock_env()).exited(0));
  const auto started = std::chrono::steady_clock::now();
  const Finished timed_out =
      finish(distlock_argv(server, {"--lock-name=t", "--timeout=1", "--", "true"}), distlock_env());
  CHECK(timed_out.exited(1));
  CHECK(std::chrono::steady_clock::now() - started >= 1s);
  // The default, -1, waits for ever: until --unlock.
  auto waiter = ChildProcess::start(distlock_argv(server, {"--lock-name=t", "--", "echo", "got it"}), distlock_env());
  REQUIRE(wait_until([&] { return stats(server.port()).at("waiter_count") == 1; }));
  CHECK(waiter.running());
  REQUIRE(finish(distlock_argv(server, {"--lock-name=t", "--unlock"}), distlock_env()).exited(0));
  const auto status = waiter.wait_for_exit(20s);
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(waiter.stdout_text() == "got it\n");
}

TEST_CASE("distlock: prefixes are realms: --list shows its own, and one realm's lock does not block another's",
          "[distlock]") {
  ServerProcess server;
  REQUIRE(finish(distlock_argv(server, {"--lock-name=db", "--lock", "--reason=staging work", "--prefix=/staging/"}),
                 distlock_env())
              .exited(0));
  REQUIRE(finish(distlock_argv(server, {"--lock-name=db", "--lock", "--nowait"}),
                 distlock_env({{"DISTLOCK_PREFIX", "/testing/"}}))
              .exited(0));
  LineClient plain(server.port());
  REQUIRE(plain.request("lock,name:not-distlock") == "ok");

  const Finished staging = finish(distlock_argv(server, {"--list", "--prefix=/staging/"}), distlock_env());
  CHECK(staging.exited(0));
  INFO(staging.out);
  CHECK(staging.out.find("NAME") == 0);
  CHECK(count(staging.out, "\n") == 2);
  CHECK(staging.out.find("db  ") != std::string::npos);
  CHECK(staging.out.find(hostname()) != std::string::npos);
  CHECK(staging.out.find("staging work") != std::string::npos);
  const Finished default_realm = finish(distlock_argv(server, {"--list"}), distlock_env());
  CHECK(default_realm.exited(0));
  CHECK(count(default_realm.out, "\n") == 1);  // the header only
  REQUIRE(
      finish(distlock_argv(server, {"--lock-name=db", "--unlock", "--prefix=/staging/"}), distlock_env()).exited(0));
  CHECK(holders_of(server, "__testing__-db").size() == 1);
}

TEST_CASE("distlock: the config file, overridden by variables and flags", "[distlock]") {
  ServerProcess server;
  TempDir dir;
  const auto config = dir.path() / "distlock.yaml";
  std::ofstream(config) << "lockname: from_config\nreason: config reason\nendpoints:\n  - 127.0.0.1:"
                        << server.port_string() << "\ntimeout: 0\nprefix: /cfg/\n";
  const auto with_config = distlock_env({{"DISTLOCK_CONFIG", config.string()}});
  REQUIRE(finish({binary("tcpnetlock_distlock"), "--lock"}, with_config).exited(0));
  json holders = holders_of(server, "__cfg__-from_config");
  REQUIRE(holders.size() == 1);
  CHECK(holders[0]["reason"] == "config reason");
  // timeout: 0 from the file: not waiting.
  CHECK(finish({binary("tcpnetlock_distlock"), "--lock"}, with_config).exited(1));
  // A variable beats the file, a flag beats both.
  REQUIRE(finish({binary("tcpnetlock_distlock"), "--lock"},
                 distlock_env({{"DISTLOCK_CONFIG", config.string()}, {"DISTLOCK_LOCKNAME", "from_env"}}))
              .exited(0));
  CHECK(holders_of(server, "__cfg__-from_env").size() == 1);
  REQUIRE(finish({binary("tcpnetlock_distlock"), "--lock", "--lock-name=from_flag", "--config", config.string()},
                 distlock_env({{"DISTLOCK_LOCKNAME", "from_env2"}}))
              .exited(0));
  CHECK(holders_of(server, "__cfg__-from_flag").size() == 1);
  // A named config file that is missing or invalid is a failure.
  const Finished missing = finish({binary("tcpnetlock_distlock"), "--list"},
                                  distlock_env({{"DISTLOCK_CONFIG", (dir.path() / "nope.yaml").string()}}));
  CHECK(missing.exited(1));
  CHECK(missing.err.find("nope.yaml") != std::string::npos);
  std::ofstream(dir.path() / "bad.yaml") << "lockname: [a\n";
  CHECK(finish({binary("tcpnetlock_distlock"), "--list"},
               distlock_env({{"DISTLOCK_CONFIG", (dir.path() / "bad.yaml").string()}}))
            .exited(1));
}

// Only replicas of one shared store (--backend etcd) may be listed together: the etcd rerun.
// With --backend local, see the next test.
TEST_CASE("distlock: endpoints are tried in turn", "[distlock]") {
  if (!etcd_backend()) {
    SUCCEED("--backend local: refused in a list of several endpoints, tested below");
    return;
  }
  ServerProcess server;
  RefusingPort refusing;
  const std::string endpoints = "127.0.0.1:" + refusing.port_string() + ",127.0.0.1:" + server.port_string();
  const auto env = distlock_env({{"DISTLOCK_ENDPOINTS", endpoints}, {"DISTLOCK_LOCKNAME", "ep"}});
  CHECK(finish({binary("tcpnetlock_distlock"), "--", "true"}, env).exited(0));
  CHECK(finish({binary("tcpnetlock_distlock"), "--lock"}, env).exited(0));
  CHECK(finish({binary("tcpnetlock_distlock"), "--list"}, env).out.find("ep ") != std::string::npos);
  CHECK(finish({binary("tcpnetlock_distlock"), "--unlock"}, env).exited(0));
  // None reachable: 1, naming each.
  const Finished none = finish(
      {binary("tcpnetlock_distlock"), "--lock"},
      distlock_env({{"DISTLOCK_ENDPOINTS", "127.0.0.1:" + refusing.port_string()}, {"DISTLOCK_LOCKNAME", "ep"}}));
  CHECK(none.exited(1));
  CHECK(none.err.find("refused") != std::string::npos);
}

// Replicas of two realms (another --etcd-prefix, or another etcd cluster) in one endpoint
// list would each grant the same lock on a failover, as two local servers would: every
// server of the list that answers must report the same store (`.stats` "store").
TEST_CASE("distlock: replicas of two etcd realms in one endpoint list are refused", "[distlock]") {
  if (!etcd_backend()) {
    SUCCEED("--backend local: refused in a list of several endpoints, tested below");
    return;
  }
  ServerProcess first;   // each in a realm of its own (tests/support: a fresh --etcd-prefix)
  ServerProcess second;
  const std::string both = "127.0.0.1:" + first.port_string() + ",127.0.0.1:" + second.port_string();
  const auto env = distlock_env({{"DISTLOCK_ENDPOINTS", both}, {"DISTLOCK_LOCKNAME", "realms"}});
  const Finished locked = finish({binary("tcpnetlock_distlock"), "--lock"}, env);
  CHECK(locked.exited(1));
  CHECK(locked.err.find("different places") != std::string::npos);
  const Finished ran = finish({binary("tcpnetlock_distlock"), "--", "echo", "ran"}, env);
  CHECK(ran.exited(1));
  CHECK(ran.out.empty());
  CHECK(lock_is_free(first.port(), "__distlock__-realms"));
  CHECK(lock_is_free(second.port(), "__distlock__-realms"));
  // The same replica twice is one store: accepted.
  const std::string twice = "127.0.0.1:" + first.port_string() + ",127.0.0.1:" + first.port_string();
  const Finished one = finish({binary("tcpnetlock_distlock"), "--", "echo", "ran"},
                              distlock_env({{"DISTLOCK_ENDPOINTS", twice}, {"DISTLOCK_LOCKNAME", "realms"}}));
  CHECK(one.exited(0));
  CHECK(one.out == "ran\n");
}

// Two servers that each keep their own locks (--backend local) in one endpoint list give two
// holders of one lock: while the first is unreachable (restarting, or cut off from some
// clients only) the next one grants the lock again, and the first still grants it to those
// that reach it. With several endpoints each server must say it is a replica of a shared
// store, else nothing is taken (a configuration error, exit 1) on any of them.
TEST_CASE("distlock: a --backend local server in a list of several endpoints is refused", "[distlock][local-only]") {
  ServerProcess first;
  ServerProcess second;
  RefusingPort down;
  const std::string both = "127.0.0.1:" + first.port_string() + ",127.0.0.1:" + second.port_string();
  const std::string failover = "127.0.0.1:" + down.port_string() + ",127.0.0.1:" + second.port_string();
  for (const std::string& endpoints : {both, failover}) {
    INFO(endpoints);
    const auto env = distlock_env({{"DISTLOCK_ENDPOINTS", endpoints}, {"DISTLOCK_LOCKNAME", "two"}});
    const Finished locked = finish({binary("tcpnetlock_distlock"), "--lock"}, env);
    CHECK(locked.exited(1));
    CHECK(locked.err.find("--backend local") != std::string::npos);
    const Finished ran = finish({binary("tcpnetlock_distlock"), "--", "echo", "ran"}, env);
    CHECK(ran.exited(1));
    CHECK(ran.out.empty());
    CHECK(finish({binary("tcpnetlock_distlock"), "--unlock"}, env).exited(1));
    CHECK(lock_is_free(first.port(), "__distlock__-two"));
    CHECK(lock_is_free(second.port(), "__distlock__-two"));
  }
  // One endpoint is one server: nothing to fail over to, so it may keep its locks itself.
  const Finished one = finish(distlock_argv(second, {"--lock-name=two", "--", "echo", "ran"}), distlock_env());
  CHECK(one.exited(0));
  CHECK(one.out == "ran\n");
}

// The timeout is the whole wait: a server that ends while we queue on it does not start the
// next one's wait from zero. Replicas only (several endpoints): the etcd rerun, with two
// replicas of one realm (a list must name one store), the lock held through the second.
TEST_CASE("distlock: --timeout bounds the whole wait, over every endpoint tried", "[distlock]") {
  if (!etcd_backend()) {
    SUCCEED("--backend local: several endpoints are refused");
    return;
  }
  std::string etcd = read_file(std::getenv("TNL_TEST_ETCD_ENDPOINTS_FILE"));
  while (!etcd.empty() && (etcd.back() == '\n' || etcd.back() == ' ')) etcd.pop_back();
  const std::string realm = "/t-distlock-tw-" + std::to_string(::getpid()) + "/";
  const std::vector<std::string> replica{"--backend", "etcd", "--etcd-endpoints", etcd, "--etcd-prefix", realm};
  ServerProcess first(replica);
  ServerProcess second(replica);
  LineClient on_second(second.port());
  REQUIRE(on_second.request("lock,name:__distlock__-tw") == "ok");
  const std::string endpoints = "127.0.0.1:" + first.port_string() + ",127.0.0.1:" + second.port_string();
  const auto started = std::chrono::steady_clock::now();
  auto p = ChildProcess::start({binary("tcpnetlock_distlock"), "--lock-name=tw", "--timeout=4", "--lock"},
                               distlock_env({{"DISTLOCK_ENDPOINTS", endpoints}}));
  REQUIRE(wait_until([&] { return stats(first.port())["waiter_count"] == 1; }));
  // Most of the timeout spent queued on the first server, which then shuts down.
  std::this_thread::sleep_until(started + 3s);
  first.stop();
  const auto status = p.wait_for_exit(20s);
  REQUIRE(status);
  CHECK(status->exited(1));
  CHECK(std::chrono::steady_clock::now() - started < 5500ms);  // 4 s and some slack; 7 s before
}

TEST_CASE("distlock: every failure exits 1", "[distlock]") {
  ServerProcess server;
  const auto env = distlock_env();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},                                           // nothing to do
           {"--lock-name=x"},                            // still nothing to do
           {"--lock", "--unlock", "--lock-name=x"},      // two things
           {"--lock"},                                   // no name
           {"--lock-name=a b", "--lock"},                // invalid name
           {"--lock-name=x", "--timeout=-5", "--lock"},  // invalid timeout
           {"--lock-name=x", "--nowait", "--timeout=3", "--lock"},
           {"--lock-name=x", "--bogus"},
           {"--lock-name=x", "--reason=a,b", "--lock"},
           {"--lock-name=x", "--", "/nonexistent/command"},
       }) {
    std::string line;
    for (const auto& arg : args) line += arg + " ";
    INFO(line);
    const Finished f = finish(distlock_argv(server, args), env);
    CHECK(f.exited(1));
    CHECK_FALSE(f.err.empty());
  }
  CHECK(lock_is_free(server.port(), "__distlock__-x"));
  // --help is no failure.
  CHECK(finish(distlock_argv(server, {"--help"}), env).exited(0));
}

TEST_CASE("distlock: --unlock with the admin token the server needs", "[distlock]") {
  TempDir dir;
  const auto token = dir.path() / "token";
  std::ofstream(token) << "s3cret\n";
  ServerProcess server({"--admin-token-file", token.string()});
  REQUIRE(finish(distlock_argv(server, {"--lock-name=adm", "--lock"}), distlock_env()).exited(0));
  const Finished refused = finish(distlock_argv(server, {"--lock-name=adm", "--unlock"}), distlock_env());
  CHECK(refused.exited(1));
  CHECK(refused.err.find("admin token") != std::string::npos);
  CHECK(finish(distlock_argv(server, {"--lock-name=adm", "--unlock"}),
               distlock_env({{"DISTLOCK_ADMIN_TOKEN_FILE", token.string()}}))
            .exited(0));
}

}  // namespace TNL_UNITY_ID
