// Every client program's duration options are range-checked (no overflow into an instant
// SIGKILL, no thousands of keepalives a second), and an option given twice takes its last
// value, as Python's argparse (and so tcpnetlock) does.
#include <catch2/catch.hpp>

#include "cli_helpers.hpp"
#include "http_port.hpp"
#include "process.hpp"
#include "server_process.hpp"

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
