// Option and environment handling of tcpnetlock_do and tcpnetlock_client.
#include <signal.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "cli_support.hpp"
#include "client_options.hpp"
#include "do_options.hpp"
#include "wait_status.hpp"
#include "client_test_support.hpp"
#include "scoped_env.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::cli;

namespace {

using tnl::test::ScopedEnv;

using tnl::test::client::no_client_env;
using tnl::test::client::parse_client;

/// Parses tcpnetlock_do arguments; the exit code when parsing says to exit.
std::optional<int> parse_do(DoOptions& options, const std::vector<std::string>& args) {
  CLI::App app{"", "tcpnetlock_do"};
  add_do_options(app, options);
  std::ostringstream quiet;
  return parse(app, args, quiet, quiet);
}

}  // namespace

TEST_CASE("do: defaults", "[client][options]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(parse_do(options, {"ls"}));
  CHECK(options.host == "localhost");
  CHECK(options.port == 7654);
  CHECK(options.client_id.empty());
  CHECK(options.retry == 0);
  CHECK(options.retry_wait == 10);
  CHECK(options.keep_alive);  // on by default, unlike tcpnetlock
  CHECK(options.keep_alive_secs == 15);
  CHECK(options.keep_alive_timeout == 5);
  CHECK_FALSE(options.shell);
  CHECK(options.command == std::vector<std::string>{"ls"});
  REQUIRE_FALSE(finalize_do_options(options));
  CHECK(options.lock_name == "ls");
  CHECK(command_argv(options) == std::vector<std::string>{"ls"});
}

TEST_CASE("do: every option", "[client][options]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(parse_do(options, {"--lock-name", "n", "--host", "h", "--port", "1234", "--client-id", "c@d",
                                   "--retry", "3", "--retry-wait", "0.5", "--keep-alive", "--keep-alive-secs", "2",
                                   "--shell", "--info", "--debug", "--", "echo hi"}));
  REQUIRE_FALSE(finalize_do_options(options));
  CHECK(options.lock_name == "n");
  CHECK(options.host == "h");
  CHECK(options.port == 1234);
  CHECK(options.client_id == "c@d");
  CHECK(options.retry == 3);
  CHECK(options.retry_wait == 0.5);
  CHECK(options.keep_alive);
  CHECK(options.keep_alive_secs == 2);
  CHECK(options.info);
  CHECK(options.debug);
  CHECK(command_argv(options) == std::vector<std::string>{"/bin/sh", "-c", "echo hi"});
}

TEST_CASE("do: '--' passes option-like command words through", "[client][options]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(parse_do(options, {"--retry", "1", "--", "ls", "-l", "--retry"}));
  CHECK(options.retry == 1);
  CHECK(options.command == std::vector<std::string>{"ls", "-l", "--retry"});
}

TEST_CASE("do: the environment supplies host, port and client id defaults", "[client][options]") {
  ScopedEnv env({{env_host, "db.example"}, {env_port, "4000"}, {env_client_id, "ci-1"}});
  SECTION("used when no option is given") {
    DoOptions options;
    REQUIRE_FALSE(parse_do(options, {"true"}));
    CHECK(options.host == "db.example");
    CHECK(options.port == 4000);
    CHECK(options.client_id == "ci-1");
  }
  SECTION("options win") {
    DoOptions options;
    REQUIRE_FALSE(parse_do(options, {"--host", "h", "--port", "5", "--client-id", "x", "true"}));
    CHECK(options.host == "h");
    CHECK(options.port == 5);
    CHECK(options.client_id == "x");
  }
}

TEST_CASE("do: invalid options", "[client][options]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  SECTION("parse errors exit 2") {
    CHECK(parse_do(options, {}) == 2);
    CHECK(parse_do(options, {"--bogus", "ls"}) == 2);
    CHECK(parse_do(options, {"--port", "0", "ls"}) == 2);
    CHECK(parse_do(options, {"--port", "65536", "ls"}) == 2);
    CHECK(parse_do(options, {"--retry", "-1", "ls"}) == 2);
    CHECK(parse_do(options, {"--retry", "x", "ls"}) == 2);
    CHECK(parse_do(options, {"--keep-alive-secs", "0", "ls"}) == 2);
    CHECK(parse_do(options, {"ls", "-l"}) == 2);  // as with tcpnetlock: use '--'
  }
  SECTION("an invalid port in the environment") {
    ScopedEnv bad(std::map<std::string, std::optional<std::string>>{{env_port, "http"}});
    CHECK(parse_do(options, {"ls"}) == 2);
  }
  SECTION("--shell with more than one word") {
    REQUIRE_FALSE(parse_do(options, {"--shell", "echo", "hi"}));
    CHECK(finalize_do_options(options));
  }
  SECTION("no name can be derived") {
    REQUIRE_FALSE(parse_do(options, {"--", "./."}));
    CHECK(finalize_do_options(options));
  }
  SECTION("invalid lock name or client id") {
    REQUIRE_FALSE(parse_do(options, {"--lock-name", "a.b", "ls"}));
    CHECK(finalize_do_options(options));
    DoOptions other;
    REQUIRE_FALSE(parse_do(other, {"--client-id", "a b", "ls"}));
    CHECK(finalize_do_options(other));
  }
  SECTION("--help is not an error") {
    CHECK(parse_do(options, {"--help"}) == 0);
  }
}

TEST_CASE("do: the lock name is derived from the --shell string too", "[client][options]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(parse_do(options, {"--shell", "./migrate.sh --all"}));
  REQUIRE_FALSE(finalize_do_options(options));
  CHECK(options.lock_name == "migrate_sh_--all");
}

TEST_CASE("client: options and environment", "[client][options]") {
  SECTION("defaults") {
    ScopedEnv env(no_client_env);
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"name"}));
    CHECK(options.lock_name == "name");
    CHECK(options.host == "localhost");
    CHECK(options.port == 7654);
    CHECK_FALSE(options.keep_alive);
    CHECK(options.keep_alive_secs == 15);
    CHECK_FALSE(check_client_options(options));
  }
  SECTION("environment") {
    ScopedEnv env({{env_host, "h"}, {env_port, "99"}, {env_client_id, "id-1"}});
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"name", "--keep-alive", "--keep-alive-secs", "1.5"}));
    CHECK(options.host == "h");
    CHECK(options.port == 99);
    CHECK(options.client_id == "id-1");
    CHECK(options.keep_alive);
    CHECK(options.keep_alive_secs == 1.5);
  }
  SECTION("errors") {
    ScopedEnv env(no_client_env);
    ClientOptions options;
    CHECK(parse_client(options, {}) == 2);
    CHECK(parse_client(options, {"a", "b"}) == 2);
    ClientOptions bad_name;
    REQUIRE_FALSE(parse_client(bad_name, {"a/b"}));
    CHECK(check_client_options(bad_name));
  }
}

TEST_CASE("signals that are ignored are left alone", "[client][options]") {
  struct sigaction ignore {};
  struct sigaction fallback {};
  struct sigaction old_hup {};
  struct sigaction old_usr1 {};
  ignore.sa_handler = SIG_IGN;
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&ignore.sa_mask);
  sigemptyset(&fallback.sa_mask);
  ::sigaction(SIGHUP, &ignore, &old_hup);
  ::sigaction(SIGUSR1, &fallback, &old_usr1);
  CHECK(not_ignored({SIGUSR1, SIGHUP}) == std::vector<int>{SIGUSR1});
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
}

TEST_CASE("the wait status line describes the holders", "[client][wait_status]") {
  CHECK(tnl::format_held_for(0.4) == "0s");
  CHECK(tnl::format_held_for(59.9) == "59s");
  CHECK(tnl::format_held_for(83) == "1m23s");
  CHECK(tnl::format_held_for(2 * 3600 + 5 * 60 + 7) == "2h05m");
  const std::string json =
      R"({"locks":[{"name":"db","limit":1,"waiters":2,"holders":[{"client_id":"ci-7","peer":"10.0.0.5:41234",)"
      R"("since":"2024-01-01T00:00:00.000Z","held_seconds":83.2,"token":5,"reason":"migrate"}]}]})";
  CHECK(tnl::describe_wait("db", json) ==
        "waiting for lock 'db': held by ci-7@10.0.0.5:41234 for 1m23s (reason: migrate), 2 waiting");
  const std::string anonymous =
      R"({"locks":[{"name":"db","limit":2,"waiters":1,"holders":[{"client_id":"","peer":"[::1]:5","held_seconds":3,)"
      R"("token":0,"reason":""},{"client_id":"b","peer":"p:1","held_seconds":61,"token":0,"reason":""}]}]})";
  CHECK(tnl::describe_wait("db", anonymous) == "waiting for lock 'db': held by [::1]:5 for 3s, b@p:1 for 1m01s, 1 waiting");
  CHECK(tnl::describe_wait("db", R"({"locks":[]})") == "waiting for lock 'db'");
  CHECK(tnl::describe_wait("db", "not json") == "waiting for lock 'db'");
}

TEST_CASE("the lock extension options of both programs", "[client][options]") {
  ScopedEnv env({{env_host, std::nullopt},
                 {env_port, std::nullopt},
                 {env_client_id, std::nullopt},
                 {env_wait, std::nullopt},
                 {env_reason, std::nullopt}});
  SECTION("do: defaults are tcpnetlock's plain lock") {
    DoOptions options;
    REQUIRE_FALSE(parse_do(options, {"true"}));
    REQUIRE_FALSE(finalize_do_options(options));
    CHECK(options.lock.wait_seconds == std::optional<double>(0.0));
    CHECK_FALSE(options.lock.fencing);
    CHECK(options.lock.limit == 1);
    CHECK(options.lock.reason.empty());
    CHECK(options.on_lost == "kill");
    CHECK(options.kill_grace == 10);
  }
  SECTION("do: every extension option") {
    DoOptions options;
    REQUIRE_FALSE(parse_do(options, {"--wait", "2.5", "--reason", "deploy 42", "--fencing", "--limit", "3",
                                     "--on-lost", "warn", "--kill-grace", "0.5", "--no-keep-alive", "true"}));
    REQUIRE_FALSE(finalize_do_options(options));
    CHECK(options.lock.wait_seconds == std::optional<double>(2.5));
    CHECK(options.lock.reason == "deploy 42");
    CHECK(options.lock.fencing);
    CHECK(options.lock.limit == 3);
    CHECK(options.on_lost == "warn");
    CHECK(options.kill_grace == 0.5);
    CHECK_FALSE(options.keep_alive);
  }
  SECTION("--timeout is --wait; inf waits forever; --nowait is 0") {
    DoOptions options;
    REQUIRE_FALSE(parse_do(options, {"--timeout", "inf", "true"}));
    REQUIRE_FALSE(finalize_do_options(options));
    CHECK_FALSE(options.lock.wait_seconds);
    DoOptions nowait;
    REQUIRE_FALSE(parse_do(nowait, {"--wait", "5", "--nowait", "true"}));
    REQUIRE_FALSE(finalize_do_options(nowait));
    CHECK(nowait.lock.wait_seconds == std::optional<double>(0.0));
  }
  SECTION("the environment supplies --wait and --reason; the command line wins") {
    ScopedEnv more({{env_wait, "7"}, {env_reason, "from env"}});
    DoOptions options;
    REQUIRE_FALSE(parse_do(options, {"true"}));
    REQUIRE_FALSE(finalize_do_options(options));
    CHECK(options.lock.wait_seconds == std::optional<double>(7.0));
    CHECK(options.lock.reason == "from env");
    DoOptions given;
    REQUIRE_FALSE(parse_do(given, {"--wait", "1", "--reason", "cli", "true"}));
    REQUIRE_FALSE(finalize_do_options(given));
    CHECK(given.lock.wait_seconds == std::optional<double>(1.0));
    CHECK(given.lock.reason == "cli");
    ClientOptions client;
    REQUIRE_FALSE(parse_client(client, {"x"}));
    REQUIRE_FALSE(check_client_options(client));
    CHECK(client.lock.wait_seconds == std::optional<double>(7.0));
    CHECK(client.lock.reason == "from env");
  }
  SECTION("invalid values") {
    for (const std::string wait : {"-1", "abc", "1e3", "nan", ""}) {
      DoOptions options;
      INFO("wait " << wait);
      if (parse_do(options, {"--wait", wait, "true"})) continue;  // refused by CLI11 already
      CHECK(finalize_do_options(options));
    }
    DoOptions comma;
    REQUIRE_FALSE(parse_do(comma, {"--reason", "a,b", "true"}));
    CHECK(finalize_do_options(comma));
    DoOptions limit;
    CHECK(parse_do(limit, {"--limit", "0", "true"}) == 2);
    DoOptions on_lost;
    CHECK(parse_do(on_lost, {"--on-lost", "ignore", "true"}) == 2);
    DoOptions grace;
    CHECK(parse_do(grace, {"--kill-grace", "-1", "true"}) == 2);
    ClientOptions client;
    REQUIRE_FALSE(parse_client(client, {"--reason", std::string(300, 'x'), "x"}));
    CHECK(check_client_options(client));
  }
}

TEST_CASE("durations: range-checked options, and conversions that never overflow", "[client][options]") {
  ScopedEnv env(no_client_env);
  SECTION("seconds() stays within what a duration holds") {
    CHECK(seconds(0.5) == std::chrono::milliseconds(500));
    CHECK(seconds(1e10) > std::chrono::hours(24 * 365 * 30));  // cut, not wrapped into the past
    CHECK(seconds(1e300) == seconds(1e10));
    CHECK(seconds(-1) == std::chrono::steady_clock::duration::zero());
    CHECK(seconds(std::nan("")) == std::chrono::steady_clock::duration::zero());
    CHECK(std::chrono::steady_clock::now() + seconds(1e300) > std::chrono::steady_clock::now());
  }
  SECTION("do: --kill-grace, --retry-wait and --keep-alive-secs") {
    for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
             {"--kill-grace", "1e10"},
             {"--kill-grace", "nan"},
             {"--kill-grace", "inf"},
             {"--kill-grace", "-0.001"},
             {"--retry-wait", "1e10"},
             {"--retry-wait", "nan"},
             {"--retry-wait", "-1"},
             {"--keep-alive-secs", "1e-9"},
             {"--keep-alive-secs", "0.099"},
             {"--keep-alive-secs", "nan"},
             {"--keep-alive-secs", "31536001"}}) {
      INFO(option << " " << value);
      DoOptions options;
      CHECK(parse_do(options, {option, value, "true"}) == 2);
    }
    DoOptions edges;
    REQUIRE_FALSE(parse_do(edges, {"--kill-grace", "0", "--retry-wait", "31536000", "--keep-alive-secs", "0.1", "true"}));
    CHECK(edges.kill_grace == 0);
    CHECK(edges.retry_wait == 31536000);
    CHECK(edges.keep_alive_secs == 0.1);
  }
  SECTION("client: --keep-alive-secs") {
    for (const std::string value : {"1e-9", "0", "nan", "inf", "1e10"}) {
      INFO(value);
      ClientOptions options;
      CHECK(parse_client(options, {"--keep-alive-secs", value, "x"}) == 2);
    }
  }
}

TEST_CASE("a repeated option takes its last value, as with argparse", "[client][options]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(parse_do(options, {"--port", "1", "--port", "2", "--lock-name", "a", "--lock-name", "b", "--wait", "1",
                                   "--wait", "2", "--kill-grace", "3", "--kill-grace", "4", "--fencing", "--fencing",
                                   "--leave-background", "--", "echo", "hi"}));
  REQUIRE_FALSE(finalize_do_options(options));
  CHECK(options.port == 2);
  CHECK(options.lock_name == "b");
  CHECK(options.lock.wait_seconds == std::optional<double>(2.0));
  CHECK(options.kill_grace == 4);
  CHECK(options.lock.fencing);
  CHECK(options.leave_background);
  CHECK(options.command == std::vector<std::string>{"echo", "hi"});  // a list is still a list
  ClientOptions client;
  REQUIRE_FALSE(parse_client(client, {"--port", "1", "--port", "2", "--host", "a", "--host", "b", "x"}));
  CHECK(client.port == 2);
  CHECK(client.host == "b");
  CHECK(client.lock_name == "x");
}

}  // namespace TNL_UNITY_ID
