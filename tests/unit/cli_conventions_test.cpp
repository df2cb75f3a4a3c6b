// flock(1)'s conventions on tcpnetlock_do and tcpnetlock_client (-w, -n, -E, -c, -V,
// --verbose) and durations with units in every client duration option.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "admin_commands.hpp"
#include "cli_support.hpp"
#include "client_options.hpp"
#include "client_test_support.hpp"
#include "do_options.hpp"
#include "scoped_env.hpp"
#include "version.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::cli;

namespace {

using tnl::test::ScopedEnv;
using tnl::test::client::no_client_env;
using tnl::test::client::parse_client;

/// Parses tcpnetlock_do arguments; the exit code when parsing says to exit; `out` gets help
/// and version text, `err` the errors.
std::optional<int> parse_do(DoOptions& options, const std::vector<std::string>& args, std::string* out = nullptr,
                            std::string* err = nullptr) {
  CLI::App app{"", "tcpnetlock_do"};
  add_do_options(app, options);
  std::ostringstream out_stream;
  std::ostringstream err_stream;
  const auto code = parse(app, args, out_stream, err_stream);
  if (out) *out = out_stream.str();
  if (err) *err = err_stream.str();
  return code;
}

/// Parses and checks tcpnetlock_do arguments; the problem, if any.
std::optional<std::string> do_problem(DoOptions& options, const std::vector<std::string>& args) {
  if (parse_do(options, args)) return "parse error";
  return finalize_do_options(options);
}

}  // namespace

TEST_CASE("flock: -w is --wait, with units", "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(do_problem(options, {"-w", "10m", "true"}));
  CHECK(options.lock.wait_seconds == std::optional<double>(600.0));
  DoOptions plain;
  REQUIRE_FALSE(do_problem(plain, {"-w", "0.5", "true"}));
  CHECK(plain.lock.wait_seconds == std::optional<double>(0.5));
  DoOptions forever;
  REQUIRE_FALSE(do_problem(forever, {"-w", "inf", "true"}));
  CHECK_FALSE(forever.lock.wait_seconds);
  ClientOptions client;
  REQUIRE_FALSE(parse_client(client, {"-w", "1h30m", "x"}));
  REQUIRE_FALSE(check_client_options(client));
  CHECK(client.lock.wait_seconds == std::optional<double>(5400.0));
}

TEST_CASE("flock: the default is not to wait, and -n and its long names say so explicitly", "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(do_problem(options, {"true"}));
  CHECK(options.lock.wait_seconds == std::optional<double>(0.0));
  const std::string name = GENERATE(as<std::string>{}, "-n", "--nowait", "--no-wait", "--nonblock");
  INFO(name);
  DoOptions nowait;
  REQUIRE_FALSE(do_problem(nowait, {"-w", "10m", name, "true"}));
  CHECK(nowait.lock.wait_seconds == std::optional<double>(0.0));
  ClientOptions client;
  REQUIRE_FALSE(parse_client(client, {name, "-w", "5", "x"}));
  REQUIRE_FALSE(check_client_options(client));
  CHECK(client.lock.wait_seconds == std::optional<double>(0.0));
}

TEST_CASE("flock: -E sets the exit status of a lock not granted", "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  SECTION("the default stays tcpnetlock's 123") {
    DoOptions options;
    REQUIRE_FALSE(do_problem(options, {"true"}));
    CHECK(options.lock.conflict_exit_code == 123);
    ClientOptions client;
    REQUIRE_FALSE(parse_client(client, {"x"}));
    CHECK(client.lock.conflict_exit_code == 123);
  }
  SECTION("0 to 255") {
    for (const int code : {0, 1, 99, 255}) {
      DoOptions options;
      REQUIRE_FALSE(do_problem(options, {"-E", std::to_string(code), "true"}));
      CHECK(options.lock.conflict_exit_code == code);
      ClientOptions client;
      REQUIRE_FALSE(parse_client(client, {"--conflict-exit-code", std::to_string(code), "x"}));
      CHECK(client.lock.conflict_exit_code == code);
    }
  }
  SECTION("anything else is an invalid option") {
    for (const std::string value : {"-1", "256", "x", "1.5", ""}) {
      INFO(value);
      DoOptions options;
      CHECK(parse_do(options, {"-E", value, "true"}) == 2);
      ClientOptions client;
      CHECK(parse_client(client, {"-E", value, "x"}) == 2);
    }
  }
  SECTION("not with --unlock or --renew, which take no lock") {
    ClientOptions client;
    CHECK(parse_client(client, {"-E", "1", "--unlock", "00000000-0000-4000-8000-000000000000"}) == 2);
  }
}

TEST_CASE("flock: -c runs a string with /bin/sh -c", "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(do_problem(options, {"-c", "echo hi; echo there"}));
  CHECK(options.shell);
  CHECK(command_argv(options) == std::vector<std::string>{"/bin/sh", "-c", "echo hi; echo there"});
  CHECK(options.lock_name == "echo_hi_echo_there");
  DoOptions named;
  REQUIRE_FALSE(do_problem(named, {"--lock-name", "n", "--command", "make"}));
  CHECK(command_argv(named) == std::vector<std::string>{"/bin/sh", "-c", "make"});
  DoOptions both;
  CHECK(parse_do(both, {"-c", "make", "--", "ls"}) == 2);  // a command string, or a command
  DoOptions none;
  CHECK(parse_do(none, {"--lock-name", "n"}) == 2);  // still one of them is required
}

TEST_CASE("flock: -V and --version print the version line and exit 0", "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  const std::string flag = GENERATE(as<std::string>{}, "-V", "--version");
  DoOptions options;
  std::string out;
  CHECK(parse_do(options, {flag}, &out) == 0);
  CHECK(out == tnl::version_line("tcpnetlock_do") + "\n");
  CHECK(out.rfind("tcpnetlock_do ", 0) == 0);
  ClientOptions client;
  CHECK(parse_client(client, {flag}) == 0);
  tnl::admin::AdminOptions admin;
  CLI::App app{"", "tcpnetlock_admin"};
  tnl::admin::add_admin_options(app, admin);
  std::ostringstream admin_out;
  CHECK(parse(app, {flag}, admin_out, admin_out) == 0);  // no subcommand needed
  CHECK(admin_out.str() == tnl::version_line("tcpnetlock_admin") + "\n");
}

TEST_CASE("flock: --verbose is --info", "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  REQUIRE_FALSE(do_problem(options, {"--verbose", "true"}));
  CHECK(options.info);
  ClientOptions client;
  REQUIRE_FALSE(parse_client(client, {"--verbose", "x"}));
  CHECK(client.info);
}

TEST_CASE("durations with units in every client duration option", "[client][options][duration]") {
  ScopedEnv env(no_client_env);
  SECTION("do: --kill-grace, --retry-wait, --keep-alive-secs") {
    DoOptions options;
    REQUIRE_FALSE(do_problem(options, {"--kill-grace", "1m30s", "--retry-wait", "500ms", "--keep-alive-secs", "2d",
                                       "true"}));
    CHECK(options.kill_grace == 90);
    CHECK(options.retry_wait == 0.5);
    CHECK(options.keep_alive_secs == 172800);
    DoOptions year;
    REQUIRE_FALSE(do_problem(year, {"--kill-grace", "365d", "-w", "365d", "true"}));
    CHECK(year.kill_grace == 31536000);
    CHECK(year.lock.wait_seconds == std::optional<double>(31536000.0));
  }
  SECTION("client: --ttl and --keep-alive-secs") {
    ClientOptions options;
    REQUIRE_FALSE(parse_client(options, {"--ttl", "1h30m", "x"}));
    REQUIRE_FALSE(check_client_options(options));
    CHECK(options.ttl_value.seconds == std::optional<double>(5400.0));
    ClientOptions year;
    REQUIRE_FALSE(parse_client(year, {"--ttl", "365d", "x"}));
    REQUIRE_FALSE(check_client_options(year));
    CHECK(year.ttl_value.seconds == std::optional<double>(31536000.0));
    ClientOptions inf;
    REQUIRE_FALSE(parse_client(inf, {"--ttl", "inf", "x"}));
    REQUIRE_FALSE(check_client_options(inf));
    CHECK_FALSE(inf.ttl_value.seconds);
    ClientOptions keep_alive;
    REQUIRE_FALSE(parse_client(keep_alive, {"--keep-alive", "--keep-alive-secs", "1.5s", "x"}));
    CHECK(keep_alive.keep_alive_secs == 1.5);
  }
  SECTION("TCPNETLOCK_WAIT takes units too") {
    ScopedEnv wait(std::map<std::string, std::optional<std::string>>{{env_wait, "2m"}});
    DoOptions options;
    REQUIRE_FALSE(do_problem(options, {"true"}));
    CHECK(options.lock.wait_seconds == std::optional<double>(120.0));
  }
  SECTION("admin: --timeout and renew --ttl") {
    tnl::admin::AdminOptions admin;
    CLI::App app{"", "tcpnetlock_admin"};
    tnl::admin::add_admin_options(app, admin);
    std::ostringstream quiet;
    REQUIRE_FALSE(parse(app, {"--timeout", "1m", "renew", "00000000-0000-4000-8000-000000000000", "--ttl", "1h30m"},
                        quiet, quiet));
    CHECK(admin.timeout == 60);
    CHECK_FALSE(tnl::admin::check_admin_options(admin));
  }
}

TEST_CASE("invalid durations: the error names the option and the accepted forms", "[client][options][duration]") {
  ScopedEnv env(no_client_env);
  const auto [option, value] = GENERATE(table<std::string, std::string>({
      {"--kill-grace", "1h-5m"},
      {"--kill-grace", "m"},
      {"--kill-grace", ""},
      {"--kill-grace", "366d"},  // over a year
      {"--retry-wait", "1e3"},
      {"--retry-wait", "99999999999999999999999999999d"},
      {"--keep-alive-secs", "50ms"},  // under the 100ms minimum
      {"--keep-alive-secs", "1h 30m"},
  }));
  INFO(option << " '" << value << "'");
  DoOptions options;
  std::string err;
  CHECK(parse_do(options, {option, value, "true"}, nullptr, &err) == 2);
  CHECK(err.find(option) != std::string::npos);
  CHECK(err.find("1h30m") != std::string::npos);  // the accepted forms
}

TEST_CASE("invalid --wait and --ttl: the message names the option and the forms", "[client][options][duration]") {
  ScopedEnv env(no_client_env);
  for (const std::string value : {"1h-5m", "m", "", "366d", "-1", "1.5.h"}) {
    INFO("'" << value << "'");
    DoOptions options;
    const auto problem = do_problem(options, {"-w", value, "true"});
    REQUIRE(problem);
    CHECK(problem->find("--wait") != std::string::npos);
    CHECK(problem->find("1h30m") != std::string::npos);
    ClientOptions client;
    REQUIRE_FALSE(parse_client(client, {"--ttl", value, "x"}));
    const auto ttl_problem = check_client_options(client);
    REQUIRE(ttl_problem);
    CHECK(ttl_problem->find("--ttl") != std::string::npos);
    CHECK(ttl_problem->find("1h30m") != std::string::npos);
  }
  ClientOptions tiny;  // under the 100ms minimum lease
  REQUIRE_FALSE(parse_client(tiny, {"--ttl", "50ms", "x"}));
  CHECK(check_client_options(tiny));
}

TEST_CASE("flock: our short options after the command's first word are refused, not taken",
          "[client][options][flock]") {
  ScopedEnv env(no_client_env);
  DoOptions options;
  CLI::App app{"", "tcpnetlock_do"};
  add_do_options(app, options);
  const auto problem = [&app](const std::vector<std::string>& args) {
    return check_short_options_after_command(app, args);
  };
  SECTION("refused: they would be dropped from the command") {
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"sort", "-n", "file"},
             {"echo", "-n", "hi"},
             {"--lock-name", "x", "grep", "-V"},
             {"make", "-w", "5"},
             {"make", "-w5"},
             {"sh", "-c", "exit 5"},
             {"-w", "10m", "tool", "-E", "3"},
         }) {
      INFO(args.front() << " " << args.back());
      const auto found = problem(args);
      REQUIRE(found);
      CHECK(found->find("put '--' before the command") != std::string::npos);
    }
  }
  SECTION("fine: before the command, after '--', values, long options (argparse's way), -h") {
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"-n", "-w", "10m", "-E", "0", "sort", "file"},
             {"-w10m", "--lock-name", "x", "--", "sort", "-n", "file"},
             {"--lock-name", "-n", "true"},        // a value, even one that looks like an option
             {"--reason", "x", "-w", "-5m", "true"},  // -5m: -w's (invalid) value, reported later
             {"ls", "--retry", "1"},                // long options may follow, as with tcpnetlock
             {"ls", "--port=1", "-h"},
             {"sleep", "-1"},                       // not one of ours: CLI11 reports it
             {"-c", "echo -n hi"},
         }) {
      INFO(args.front() << " " << args.back());
      CHECK(problem(args).value_or("fine") == "fine");
    }
  }
}

}  // namespace TNL_UNITY_ID
