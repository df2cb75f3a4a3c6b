// Every client program's duration options are range-checked (no overflow into an instant
// SIGKILL, no thousands of keepalives a second) and take units (10m, 1h30m); an option given
// twice takes its last value, as Python's argparse (and so tcpnetlock) does; every program's
// --help fits under 100 columns without CLI11's clutter; --version.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "cli_helpers.hpp"
#include "http_port.hpp"
#include "process.hpp"
#include "server_process.hpp"
#include "version.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("do: every duration option is range-checked (exit 2, the command not run)", "[cli][do][options]") {
  RefusingPort nothing;  // none of these may get as far as connecting
  TempDir dir;
  const auto marker = dir.path() / "ran";
  const auto [option, value] = GENERATE(table<std::string, std::string>({
      {"--kill-grace", "1e10"},  // overflowed the duration: an immediate SIGKILL
      {"--kill-grace", "-1"},
      {"--kill-grace", "nan"},
      {"--kill-grace", "inf"},
      {"--kill-grace", "x"},
      {"--retry-wait", "1e10"},
      {"--retry-wait", "-0.5"},
      {"--retry-wait", "nan"},
      {"--retry-wait", "inf"},
      {"--keep-alive-secs", "1e-9"},  // about 10,000 keepalives a second
      {"--keep-alive-secs", "0.05"},
      {"--keep-alive-secs", "0"},
      {"--keep-alive-secs", "-1"},
      {"--keep-alive-secs", "nan"},
      {"--keep-alive-secs", "inf"},
      {"--keep-alive-secs", "1e10"},
      {"--wait", "1e10"},
      {"--wait", "-1"},
      {"--wait", "nan"},
      {"--wait", "1e3"},  // the server takes no exponent
      {"--timeout", "99999999999"},
  }));
  INFO(option << " " << value);
  const Finished done =
      finish(at_port("tcpnetlock_do", nothing.port_string(), {option, value, "--", "touch", marker.string()}));
  CHECK(done.exited(2));
  CHECK((contains(done.err, option) || contains(done.err, "wait")));
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("do: the smallest and largest durations allowed are taken", "[cli][do][options]") {
  ServerProcess server;
  const Finished done = finish(do_argv(server, {"--kill-grace", "31536000", "--retry-wait", "0", "--keep-alive-secs",
                                                "0.1", "--wait", "31536000", "--lock-name", "edges", "true"}));
  CHECK(done.exited(0));
  CHECK(done.err.empty());
}

TEST_CASE("client: every duration option is range-checked", "[cli][client][options]") {
  RefusingPort nothing;
  SECTION("--keep-alive-secs: an invalid option (2)") {
    const std::string value = GENERATE(as<std::string>{}, "1e-9", "0.05", "0", "-1", "nan", "inf", "1e10");
    INFO(value);
    const Finished done =
        finish(at_port("tcpnetlock_client", nothing.port_string(), {"--keep-alive", "--keep-alive-secs", value, "x"}));
    CHECK(done.exited(2));
    CHECK(contains(done.err, "--keep-alive-secs"));
    CHECK_FALSE(contains(done.err, "refused"));
  }
  SECTION("--wait and --ttl: 4, as tcpnetlock_client reports every invalid value it checks itself") {
    const auto [option, value] = GENERATE(table<std::string, std::string>({
        {"--wait", "1e10"},
        {"--wait", "-1"},
        {"--wait", "nan"},
        {"--timeout", "1e10"},
        {"--ttl", "1e10"},
        {"--ttl", "nan"},
        {"--ttl", "-1"},
        {"--ttl", "0.0000001"},
    }));
    INFO(option << " " << value);
    const Finished done = finish(at_port("tcpnetlock_client", nothing.port_string(), {option, value, "x"}));
    CHECK(done.exited(4));
    CHECK(contains(done.err, "invalid"));
  }
}

TEST_CASE("admin: every duration option is range-checked (exit 2)", "[cli][admin][options]") {
  RefusingPort nothing;
  const std::string url = "http://127.0.0.1:" + nothing.port_string();
  SECTION("--timeout") {
    const std::string value = GENERATE(as<std::string>{}, "1e10", "nan", "inf", "0", "-1", "0.0001");
    INFO(value);
    const Finished done = finish(admin_argv(url, {"--timeout", value, "stats"}));
    CHECK(done.exited(2));
    CHECK(contains(done.err, "--timeout"));
  }
  SECTION("renew --ttl") {
    const std::string value = GENERATE(as<std::string>{}, "1e10", "nan", "inf", "0", "-1", "31536001");
    INFO(value);
    const Finished done =
        finish(admin_argv(url, {"renew", "00000000-0000-4000-8000-000000000000", "--ttl", value}));
    CHECK(done.exited(2));
    CHECK(contains(done.err, "ttl"));
  }
}

TEST_CASE("every client program takes the last of a repeated option", "[cli][options]") {
  HttpServerProcess server;
  RefusingPort nothing;
  SECTION("tcpnetlock_do --port 1 --port P, --lock-name a --lock-name b") {
    const Finished done =
        finish({binary("tcpnetlock_do"), "--host", "127.0.0.1", "--port", nothing.port_string(), "--port",
                server.port_string(), "--lock-name", "a", "--lock-name", "b", "--kill-grace", "5", "--kill-grace",
                "1", "--", "sh", "-c", "echo $TCPNETLOCK_LOCK_NAME"});
    CHECK(done.exited(0));
    CHECK(done.out == "b\n");
  }
  SECTION("tcpnetlock_client --port 1 --port P") {
    const Finished done = finish({binary("tcpnetlock_client"), "--host", "127.0.0.1", "--port", nothing.port_string(),
                                  "--port", server.port_string(), "--ttl", "60", "--ttl", "5", "twice"});
    CHECK(done.exited(0));
    CHECK(done.out.size() == 37);  // the lock's id and a newline
  }
  SECTION("tcpnetlock_admin --url A --url B") {
    const Finished done = finish({binary("tcpnetlock_admin"), "--url", "http://127.0.0.1:" + nothing.port_string(),
                                  "--url", server.url(), "--timeout", "0.5", "--timeout", "5", "stats"});
    CHECK(done.exited(0));
    CHECK(contains(done.out, "lock_count"));
  }
}

namespace {

/// The lines of `text` of 100 columns or more.
std::vector<std::string> long_lines(const std::string& text) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() >= 100) found.push_back(line);
  }
  return found;
}

/// `text` with every line break and the indentation after it made one space.
std::string flatten(const std::string& text) {
  std::string flat;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n') {
      flat += text[i];
      continue;
    }
    flat += ' ';
    while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
  }
  return flat;
}

}  // namespace

TEST_CASE("every program's --help: lines under 100 columns, no CLI11 type/range clutter", "[cli][options][help]") {
  const auto [program, args] = GENERATE(table<std::string, std::vector<std::string>>({
      {"tcpnetlock_do", {"--help"}},
      {"tcpnetlock_client", {"--help"}},
      {"tcpnetlock_admin", {"--help"}},
      {"tcpnetlock_admin", {"list", "--help"}},
      {"tcpnetlock_admin", {"show", "--help"}},
      {"tcpnetlock_admin", {"release", "--help"}},
      {"tcpnetlock_admin", {"renew", "--help"}},
      {"tcpnetlock_admin", {"stats", "--help"}},
      {"tcpnetlock_server", {"--help"}},
  }));
  std::vector<std::string> argv{binary(program)};
  argv.insert(argv.end(), args.begin(), args.end());
  const Finished done = finish(argv);
  INFO(program << " " << args.front() << "\n" << done.out);
  CHECK(done.exited(0));
  CHECK(contains(done.out, "Usage:"));
  CHECK(long_lines(done.out).empty());
  // CLI11's clutter: ":INT in [1 - 65535]", ":FLOAT", "SECONDS in [0 - 3.1536e+07]", "{false}"...
  for (const char* clutter : {" in [", ":INT", ":UINT", ":FLOAT", ":TEXT", ":SECONDS", "e+0", "{false}", "{true}",
                              "Excludes:", "Needs:", ":NONNEGATIVE"}) {
    INFO("clutter: " << clutter);
    CHECK_FALSE(contains(done.out, clutter));
  }
}

TEST_CASE("the clients' --help says plainly that the default is not to wait, and shows -w", "[cli][options][help]") {
  const std::string program = GENERATE(as<std::string>{}, "tcpnetlock_do", "tcpnetlock_client");
  const Finished done = finish({binary(program), "--help"});
  INFO(done.out);
  CHECK(done.exited(0));
  CHECK(contains(flatten(done.out), "Without --wait (-w) it does not wait for a busy lock"));
  CHECK(contains(flatten(done.out), "The default is 0: not to wait"));
  CHECK(contains(done.out, "-w,--wait,--timeout DURATION"));
  CHECK(contains(done.out, "-n,--nowait"));
  CHECK(contains(done.out, "-E,--conflict-exit-code N"));
  CHECK(contains(done.out, "-w 10m"));
  CHECK(contains(done.out, "1h30m"));
}

TEST_CASE("version: --version and -V on tcpnetlock_do, tcpnetlock_client and tcpnetlock_admin", "[cli][options][version]") {
  const std::string program = GENERATE(as<std::string>{}, "tcpnetlock_do", "tcpnetlock_client", "tcpnetlock_admin");
  const std::string flag = GENERATE(as<std::string>{}, "--version", "-V");
  RefusingPort nothing;  // nothing is contacted
  const Finished done = finish({binary(program), flag});
  INFO(program << " " << flag << ": " << done.out << done.err);
  CHECK(done.exited(0));
  CHECK(done.out == tnl::version_line(program) + "\n");
  CHECK(done.out.rfind(program + " " + std::string(tnl::version()) + " (commit ", 0) == 0);
  CHECK(done.err.empty());
}

TEST_CASE("durations with units: invalid ones exit 2 naming the option and the forms", "[cli][options][duration]") {
  RefusingPort nothing;  // none of these may get as far as connecting
  TempDir dir;
  const auto marker = dir.path() / "ran";
  const auto [option, value] = GENERATE(table<std::string, std::string>({
      {"--kill-grace", "1h-5m"},
      {"--kill-grace", "366d"},
      {"--retry-wait", "m"},
      {"--keep-alive-secs", "50ms"},
      {"-w", "1h-5m"},
      {"--wait", "1.5.h"},
  }));
  INFO(option << " " << value);
  const Finished done =
      finish(at_port("tcpnetlock_do", nothing.port_string(), {option, value, "--", "touch", marker.string()}));
  CHECK(done.exited(2));
  CHECK((contains(done.err, option) || (option == "-w" && contains(done.err, "--wait"))));
  CHECK(contains(done.err, "1h30m"));  // the accepted forms
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("durations with units are taken by every client program", "[cli][options][duration]") {
  HttpServerProcess server;
  SECTION("tcpnetlock_do") {
    const Finished done =
        finish(at_port("tcpnetlock_do", server.port_string(),
                       {"--kill-grace", "1m30s", "--retry-wait", "500ms", "--keep-alive-secs", "2d", "-w", "1h",
                        "--lock-name", "units", "true"}));
    CHECK(done.exited(0));
    CHECK(done.err.empty());
  }
  SECTION("tcpnetlock_client --ttl 1h30m, then tcpnetlock_admin renew --ttl 365d") {
    const Finished taken = finish(at_port("tcpnetlock_client", server.port_string(), {"--ttl", "1h30m", "detached-units"}));
    REQUIRE(taken.exited(0));
    REQUIRE(taken.out.size() == 37);
    const std::string id = taken.out.substr(0, 36);
    const Finished renewed = finish(admin_argv(server.url(), {"--timeout", "30s", "renew", id, "--ttl", "365d"}));
    INFO(renewed.out << renewed.err);
    CHECK(renewed.exited(0));
    CHECK(contains(renewed.out, "expires in 36"));  // 365d00h, or 364d23h a moment later
    const Finished unlocked = finish(at_port("tcpnetlock_client", server.port_string(), {"--unlock", id}));
    CHECK(unlocked.exited(0));
  }
}

}  // namespace TNL_UNITY_ID
