// tcpnetlock_server's command line: defaults, the last of repeated options, ranges.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "process.hpp"
#include "server_options.hpp"

using namespace std::chrono_literals;
using tnl::ParsedServerOptions;

namespace {

ParsedServerOptions parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tcpnetlock_server");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  return tnl::parse_server_options(static_cast<int>(argv.size()), argv.data());
}

/// The config of a command line that must be valid.
tnl::ServerConfig config_of(std::vector<std::string> args) {
  const ParsedServerOptions parsed = parse(std::move(args));
  INFO(parsed.error);
  REQUIRE(parsed.options);
  return parsed.options->config;
}

/// The error of a command line that must be refused with exit status 2.
std::string error_of(std::vector<std::string> args) {
  const ParsedServerOptions parsed = parse(std::move(args));
  CHECK(!parsed.options);
  CHECK(parsed.exit_code == 2);
  return parsed.error;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("server options: the defaults", "[server_options]") {
  const auto config = config_of({});
  CHECK(config.port == 7654);
  CHECK(config.first_line_timeout == 30s);
  CHECK(config.holder_timeout == 0s);
  CHECK(config.lock_delay == 0s);  // granted at once, as tcpnetlock (docs/PROTOCOL.md says why)
  CHECK(config.tcp_keepalive.idle == 10s);
  CHECK(config.tcp_keepalive.interval == 5s);
  CHECK(config.tcp_keepalive.count == 3);
  CHECK(config.http_enabled);
  CHECK(config.http_address == "127.0.0.1");
  CHECK(config.http_port == 7655);
  CHECK(config.http_allowed_hosts.empty());
  CHECK(config.http_request_timeout == 5s);
  CHECK(config.http_idle_timeout == 30s);
  CHECK(config.http_write_timeout == 10s);
  CHECK(config.write_timeout == 10s);
  CHECK(config.http_max_connections == 256);
  CHECK(config.admin_token.empty());
}

TEST_CASE("server options: a repeated option takes its last value, as argparse does", "[server_options]") {
  const auto config = config_of({"--port", "1", "--port", "2", "--listen", "a", "--listen", "127.0.0.1",
                                 "--first-line-timeout", "5", "--first-line-timeout", "0.25", "--holder-timeout",
                                 "3", "--holder-timeout", "0", "--tcp-keepalive", "1,1,1", "--tcp-keepalive", "0,0,0",
                                 "--http", "off", "--http", "[::1]:0", "--max-line-length", "100",
                                 "--max-line-length", "200", "--http-request-timeout", "1", "--http-request-timeout",
                                 "2", "--http-max-connections", "9", "--http-max-connections", "10", "--debug",
                                 "--debug", "--info", "--info", "--lock-delay", "20", "--lock-delay", "1.5"});
  CHECK(config.port == 2);
  CHECK(config.listen == "127.0.0.1");
  CHECK(config.first_line_timeout == 250ms);
  CHECK(config.holder_timeout == 0s);
  CHECK(!config.tcp_keepalive.enabled());
  CHECK(config.http_enabled);
  CHECK(config.http_address == "::1");
  CHECK(config.http_port == 0);
  CHECK(config.max_line_length == 200);
  CHECK(config.http_request_timeout == 2s);
  CHECK(config.http_max_connections == 10);
  CHECK(config.lock_delay == 1500ms);
  const auto off = config_of({"--http", "127.0.0.1:1", "--http", "off"});
  CHECK(!off.http_enabled);
}

TEST_CASE("server options: --http-allowed-host adds a name each time", "[server_options]") {
  const auto config = config_of({"--http-allowed-host", "a.example", "--http-allowed-host", "b.example,c.example"});
  CHECK(config.http_allowed_hosts == std::vector<std::string>{"a.example", "b.example", "c.example"});
  CHECK(contains(error_of({"--http-allowed-host", ""}), "--http-allowed-host"));
}

TEST_CASE("server options: durations out of range are refused with the option's name", "[server_options]") {
  struct Case {
    const char* option;
    const char* value;
  };
  for (const Case bad : {Case{"--first-line-timeout", "-1"}, Case{"--first-line-timeout", "1e-9"},
                         Case{"--first-line-timeout", "0.001"}, Case{"--first-line-timeout", "86401"},
                         Case{"--first-line-timeout", "nan"}, Case{"--first-line-timeout", "inf"},
                         Case{"--first-line-timeout", "1e400"}, Case{"--first-line-timeout", "5s"},
                         Case{"--first-line-timeout", ""}, Case{"--holder-timeout", "-0.5"},
                         Case{"--holder-timeout", "1e-9"}, Case{"--holder-timeout", "1e10"},
                         Case{"--http-request-timeout", "0"}, Case{"--http-request-timeout", "3601"},
                         Case{"--http-idle-timeout", "0"}, Case{"--http-idle-timeout", "-3"},
                         Case{"--http-write-timeout", "0"}, Case{"--http-write-timeout", "1e10"},
                         Case{"--write-timeout", "0"}, Case{"--write-timeout", "86401"},
                         Case{"--lock-delay", "-1"}, Case{"--lock-delay", "0.001"}, Case{"--lock-delay", "3601"},
                         Case{"--lock-delay", "nan"}, Case{"--lock-delay", "inf"}, Case{"--lock-delay", "15s"}}) {
    INFO(bad.option << " " << bad.value);
    const std::string error = error_of({bad.option, bad.value});
    CHECK(contains(error, bad.option));
    CHECK(contains(error, "seconds from"));
  }
  // Values in range, including their bounds.
  const auto low = config_of({"--first-line-timeout", "0.01", "--holder-timeout", "0.01", "--http-request-timeout",
                              "0.01", "--http-idle-timeout", "0.01", "--http-write-timeout", "0.01",
                              "--write-timeout", "0.01", "--lock-delay", "0.01"});
  CHECK(low.first_line_timeout == 10ms);
  CHECK(low.holder_timeout == 10ms);
  CHECK(low.http_request_timeout == 10ms);
  CHECK(low.http_idle_timeout == 10ms);
  CHECK(low.http_write_timeout == 10ms);
  CHECK(low.write_timeout == 10ms);
  CHECK(low.lock_delay == 10ms);
  const auto high = config_of({"--first-line-timeout", "86400", "--holder-timeout", "31536000",
                               "--http-request-timeout", "3600", "--http-idle-timeout", "86400",
                               "--http-write-timeout", "3600", "--write-timeout", "86400", "--lock-delay", "3600"});
  CHECK(high.write_timeout == 86400s);
  CHECK(high.first_line_timeout == 86400s);
  CHECK(high.holder_timeout == 31536000s);
  CHECK(high.http_idle_timeout == 86400s);
  CHECK(high.lock_delay == 3600s);
  CHECK(config_of({"--lock-delay", "15", "--lock-delay", "0"}).lock_delay == 0s);
  CHECK(config_of({"--first-line-timeout", "0"}).first_line_timeout == 0s);
  for (const char* bad : {"-1", "0.001", "3601", "nan", "15s"}) {
    INFO("--start-grace " << bad);
    CHECK(contains(error_of({"--start-grace", bad}), "--start-grace"));
  }
}

TEST_CASE("server options: the start grace is the lock-delay plus a silent holder's time, unless --start-grace",
          "[server_options][lock-delay]") {
  CHECK(config_of({}).start_grace == 0s);
  // The keepalive 10,5,3 gives up 21 to 25 s after a peer went silent (spread_keepalive).
  CHECK(config_of({"--lock-delay", "15"}).start_grace == 36s);
  CHECK(config_of({"--lock-delay", "15", "--holder-timeout", "20"}).start_grace == 35s);
  CHECK(config_of({"--lock-delay", "15", "--holder-timeout", "30"}).start_grace == 36s);
  CHECK(config_of({"--lock-delay", "1", "--tcp-keepalive", "2,1,3"}).start_grace == 6s);
  CHECK(config_of({"--lock-delay", "2", "--tcp-keepalive", "0,0,0"}).start_grace == 2s);
  CHECK(config_of({"--lock-delay", "2", "--tcp-keepalive", "0,0,0", "--holder-timeout", "3"}).start_grace == 5s);
  CHECK(config_of({"--holder-timeout", "3"}).start_grace == 0s);  // no lock-delay: as tcpnetlock
  CHECK(config_of({"--start-grace", "15", "--lock-delay", "20"}).start_grace == 15s);
  CHECK(config_of({"--lock-delay", "20", "--start-grace", "0"}).start_grace == 0s);
  CHECK(config_of({"--start-grace", "2.5"}).start_grace == 2500ms);
  CHECK(config_of({"--start-grace", "2.5"}).lock_delay == 0s);
}

TEST_CASE("server options: --tcp-keepalive parts are checked", "[server_options]") {
  const auto config = config_of({"--tcp-keepalive", "20,3,4"});
  CHECK(config.tcp_keepalive.idle == 20s);
  CHECK(config.tcp_keepalive.interval == 3s);
  CHECK(config.tcp_keepalive.count == 4);
  for (const char* bad : {"0,5,3", "10,0,3", "32768,5,3", "10,5,128", "10,5,-1", "10,5", "10,5,3,1", "1e3,5,3",
                          "10, 5,3", "99999999999999999999,5,3", "a,b,c", ""}) {
    INFO(bad);
    CHECK(contains(error_of({"--tcp-keepalive", bad}), "--tcp-keepalive"));
  }
}

TEST_CASE("server options: numbers and addresses out of range", "[server_options]") {
  CHECK(!error_of({"--port", "65536"}).empty());
  CHECK(!error_of({"--port", "-1"}).empty());
  CHECK(!error_of({"--max-line-length", "15"}).empty());
  CHECK(!error_of({"--http-max-connections", "0"}).empty());
  CHECK(!error_of({"--http-max-connections", "100001"}).empty());
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:1x",
                          "127.0.0.1:99999999999999999999"}) {
    INFO(bad);
    CHECK(contains(error_of({"--http", bad}), "--http"));
  }
  CHECK(!error_of({"--no-such-option"}).empty());
}

TEST_CASE("server options: --help is exit 0 with the text on stdout", "[server_options]") {
  const ParsedServerOptions parsed = parse({"--help"});
  CHECK(!parsed.options);
  CHECK(parsed.exit_code == 0);
  CHECK(contains(parsed.output, "--http-allowed-host"));
  CHECK(contains(parsed.output, "--http-request-timeout"));
}

TEST_CASE("server options: the admin token is the file's first line, stripped", "[server_options]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "token";
  std::ofstream(file) << "  tok3n \nsecond\n";
  CHECK(config_of({"--admin-token-file", file.string()}).admin_token == "tok3n");
  std::ofstream(file, std::ios::trunc) << "\n";
  CHECK(contains(error_of({"--admin-token-file", file.string()}), "no token"));
  CHECK(!error_of({"--admin-token-file", (dir.path() / "missing").string()}).empty());
}
