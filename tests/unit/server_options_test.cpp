// tcpnetlock_server's options: defaults, the last of repeated options, ranges, and the
// environment and config file under the command line.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"
#include "scoped_env.hpp"
#include "server_options.hpp"
#include "version.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

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
  CHECK(config.http_default_address);
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

namespace {

/// No TCPNETLOCK_SERVER_* variable from the test's own environment, plus `values`.
tnl::test::Env clean_env(tnl::test::Env values = {}) {
  for (const char* option : {"listen", "port", "lock-delay", "debug", "info", "http", "grpc", "http-allowed-host", "config",
                             "tcp-keepalive", "holder-timeout", "log-format", "state-dir", "start-grace", "backend",
                             "etcd-endpoints", "etcd-prefix", "etcd-lease-ttl"}) {
    values.emplace(tnl::server_environment_name(option), std::nullopt);
  }
  return values;
}

/// A config file holding `text`, in a directory that lives as long as the object.
struct ConfigFile {
  tnl::test::TempDir dir;
  std::string path = (dir.path() / "tcpnetlock-server.conf").string();
  explicit ConfigFile(const std::string& text) { std::ofstream(path) << text; }
};

}  // namespace

TEST_CASE("server options: the default HTTP address follows the lock port", "[server_options][http-default]") {
  tnl::test::ScopedEnv env(clean_env());
  CHECK(tnl::default_http_port(7654) == 7655);
  CHECK(tnl::default_http_port(7000) == 7001);
  CHECK(tnl::default_http_port(0) == 0);      // a free lock port: a free HTTP port
  CHECK(tnl::default_http_port(65535) == 0);  // no next port: a free one
  CHECK(tnl::default_http_port(65534) == 65535);
  const auto second = config_of({"--port", "7000"});
  CHECK(second.http_port == 7001);
  CHECK(second.http_address == "127.0.0.1");
  CHECK(second.http_enabled);
  CHECK(second.http_default_address);
  CHECK(config_of({"--port", "0"}).http_port == 0);
  CHECK(config_of({"--port", "65535"}).http_port == 0);
  // Asked for, anywhere: no longer the default, so failing to bind it is fatal.
  const auto asked = config_of({"--port", "7000", "--http", "127.0.0.1:7655"});
  CHECK(asked.http_port == 7655);
  CHECK(!asked.http_default_address);
  CHECK(!config_of({"--http", "off"}).http_default_address);
  tnl::test::ScopedEnv from_env(tnl::test::Env{{"TCPNETLOCK_SERVER_HTTP", "127.0.0.1:9999"}});
  CHECK(!config_of({}).http_default_address);
  CHECK(config_of({}).http_port == 9999);
}

TEST_CASE("server options: the default gRPC address follows the lock port", "[server_options][grpc-default]") {
  tnl::test::ScopedEnv env(clean_env());
  CHECK(tnl::default_grpc_port(7654) == 7656);
  CHECK(tnl::default_grpc_port(7000) == 7002);
  CHECK(tnl::default_grpc_port(0) == 0);      // a free lock port: a free gRPC port
  CHECK(tnl::default_grpc_port(65534) == 0);  // no port two above: a free one
  CHECK(tnl::default_grpc_port(65535) == 0);
  CHECK(tnl::default_grpc_port(65533) == 65535);
  const auto second = config_of({"--port", "7000"});
  CHECK(second.grpc_port == 7002);
  CHECK(second.grpc_address == "127.0.0.1");
  CHECK(second.grpc_enabled);
  CHECK(second.grpc_default_address);
  // Asked for: no longer the default, so failing to bind it is fatal.
  const auto asked = config_of({"--grpc", "[::1]:8765"});
  CHECK(asked.grpc_address == "::1");
  CHECK(asked.grpc_port == 8765);
  CHECK(!asked.grpc_default_address);
  const auto off = config_of({"--grpc", "off"});
  CHECK(!off.grpc_enabled);
  CHECK(!off.grpc_default_address);
  CHECK(contains(error_of({"--grpc", "127.0.0.1"}), "--grpc"));
  CHECK(contains(error_of({"--grpc", "127.0.0.1:70000"}), "--grpc"));
  tnl::test::ScopedEnv from_env(tnl::test::Env{{"TCPNETLOCK_SERVER_GRPC", "127.0.0.1:9998"}});
  CHECK(!config_of({}).grpc_default_address);
  CHECK(config_of({}).grpc_port == 9998);
}

TEST_CASE("server options: the command line wins over the environment, which wins over the config file",
          "[server_options][config]") {
  const ConfigFile file("# every kind of option\n"
                        "listen = \"0.0.0.0\"\n"
                        "port = 7100\n"
                        "lock-delay = 5\n"
                        "holder_timeout = 60   # underscores too\n"
                        "debug = true\n"
                        "http-allowed-host = [\"a.example\", \"b.example\"]\n"
                        "tcp-keepalive = \"20,3,4\"\n"
                        "log-format = \"json\"\n");
  SECTION("the file over the defaults") {
    tnl::test::ScopedEnv env(clean_env());
    const ParsedServerOptions parsed = parse({"--config", file.path});
    INFO(parsed.error);
    REQUIRE(parsed.options);
    const auto& config = parsed.options->config;
    CHECK(config.listen == "0.0.0.0");
    CHECK(config.port == 7100);
    CHECK(config.http_port == 7101);  // the default HTTP port follows the file's lock port
    CHECK(config.lock_delay == 5s);
    // The lock-delay plus the earliest keepalive give-up of 20,3,4 (30 s; the holder timeout is longer).
    CHECK(config.start_grace == 35s);
    CHECK(config.holder_timeout == 60s);
    CHECK(parsed.options->debug);
    CHECK(!parsed.options->info);
    CHECK(config.http_allowed_hosts == std::vector<std::string>{"a.example", "b.example"});
    CHECK(config.tcp_keepalive.idle == 20s);
    CHECK(config.tcp_keepalive.count == 4);
    CHECK(parsed.options->log_format == tnl::LogFormat::json);
    CHECK(config.write_timeout == 10s);  // not in the file: the default
  }
  SECTION("the environment over the file; a list from the environment replaces the file's") {
    tnl::test::ScopedEnv env(clean_env({{"TCPNETLOCK_SERVER_CONFIG", file.path},
                                        {"TCPNETLOCK_SERVER_LOCK_DELAY", "7.5"},
                                        {"TCPNETLOCK_SERVER_DEBUG", "false"},
                                        {"TCPNETLOCK_SERVER_INFO", "true"},
                                        {"TCPNETLOCK_SERVER_HTTP_ALLOWED_HOST", "c.example,d.example"},
                                        {"TCPNETLOCK_SERVER_LISTEN", ""}}));  // empty: not set
    const ParsedServerOptions parsed = parse({});
    INFO(parsed.error);
    REQUIRE(parsed.options);
    const auto& config = parsed.options->config;
    CHECK(config.lock_delay == 7500ms);
    CHECK(!parsed.options->debug);
    CHECK(parsed.options->info);
    CHECK(config.http_allowed_hosts == std::vector<std::string>{"c.example", "d.example"});
    CHECK(config.listen == "0.0.0.0");  // from the file
    CHECK(config.port == 7100);
  }
  SECTION("the command line over both; a repeated option still takes its last value") {
    tnl::test::ScopedEnv env(clean_env({{"TCPNETLOCK_SERVER_LOCK_DELAY", "7.5"},
                                        {"TCPNETLOCK_SERVER_HTTP_ALLOWED_HOST", "c.example"},
                                        {"TCPNETLOCK_SERVER_PORT", "7200"}}));
    const ParsedServerOptions parsed =
        parse({"--config", file.path, "--lock-delay", "1", "--lock-delay", "0.25", "--http-allowed-host", "e.example",
               "--listen", "127.0.0.1", "--debug", "--log-format", "text"});
    INFO(parsed.error);
    REQUIRE(parsed.options);
    const auto& config = parsed.options->config;
    CHECK(config.lock_delay == 250ms);
    CHECK(config.http_allowed_hosts == std::vector<std::string>{"e.example"});
    CHECK(config.listen == "127.0.0.1");
    CHECK(config.port == 7200);  // the environment over the file
    CHECK(config.http_port == 7201);
    CHECK(parsed.options->debug);
    CHECK(parsed.options->log_format == tnl::LogFormat::text);
  }
  SECTION("--config on the command line over TCPNETLOCK_SERVER_CONFIG") {
    const ConfigFile other("lock-delay = 2\n");
    tnl::test::ScopedEnv env(clean_env({{"TCPNETLOCK_SERVER_CONFIG", file.path}}));
    CHECK(config_of({"--config", other.path}).lock_delay == 2s);
    CHECK(config_of({"--config", other.path}).listen == "localhost");
  }
}

TEST_CASE("server options: a key repeated in the config file takes its last value", "[server_options][config]") {
  tnl::test::ScopedEnv env(clean_env());
  const ConfigFile file("lock-delay = 5\nport = 1\nlock-delay = 6\nhttp = \"off\"\n");
  const auto config = config_of({"--config", file.path});
  CHECK(config.lock_delay == 6s);
  CHECK(!config.http_enabled);
}

TEST_CASE("server options: errors in the environment and the config file name the option and the source",
          "[server_options][config]") {
  tnl::test::ScopedEnv env(clean_env());
  SECTION("an unknown key, a section, --config or --version in the file") {
    for (const char* text : {"lock-dealy = 5\n", "[server]\nport = 1\n", "config = \"x\"\n", "version = true\n",
                             "help = true\n"}) {
      INFO(text);
      const ConfigFile file(text);
      const std::string error = error_of({"--config", file.path});
      CHECK(contains(error, file.path));
      CHECK(contains(error, "unknown key"));
    }
  }
  SECTION("bad values in the file") {
    struct Case {
      const char* text;
      const char* option;
    };
    for (const Case bad : {Case{"lock-delay = 5s\n", "--lock-delay"}, Case{"port = 70000\n", "--port"},
                           Case{"debug = maybe\n", "--debug"}, Case{"tcp-keepalive = \"1,2\"\n", "--tcp-keepalive"},
                           Case{"tcp-keepalive = 10,5,3\n", "--tcp-keepalive"}, Case{"http = \"nowhere\"\n", "--http"},
                           Case{"log-format = \"xml\"\n", "--log-format"},
                           Case{"http-allowed-host = \"\"\n", "--http-allowed-host"},
                           Case{"state-dir = \"/no/such/dir\"\n", "--state-dir"}}) {
      INFO(bad.text);
      const ConfigFile file(bad.text);
      const std::string error = error_of({"--config", file.path});
      CHECK(contains(error, bad.option));
      CHECK(contains(error, "config file " + file.path));
    }
  }
  SECTION("bad values in the environment") {
    struct Case {
      const char* variable;
      const char* value;
      const char* option;
    };
    for (const Case bad : {Case{"TCPNETLOCK_SERVER_LOCK_DELAY", "nan", "--lock-delay"},
                           Case{"TCPNETLOCK_SERVER_PORT", "x", "--port"},
                           Case{"TCPNETLOCK_SERVER_DEBUG", "perhaps", "--debug"},
                           Case{"TCPNETLOCK_SERVER_TCP_KEEPALIVE", "1", "--tcp-keepalive"},
                           Case{"TCPNETLOCK_SERVER_HTTP", "127.0.0.1", "--http"},
                           Case{"TCPNETLOCK_SERVER_LOG_FORMAT", "xml", "--log-format"}}) {
      INFO(bad.variable << "=" << bad.value);
      tnl::test::ScopedEnv variable(tnl::test::Env{{bad.variable, bad.value}});
      const std::string error = error_of({});
      CHECK(contains(error, bad.option));
      CHECK(contains(error, std::string("environment variable ") + bad.variable));
    }
  }
  SECTION("a config file that cannot be read") {
    CHECK(contains(error_of({"--config", "/no/such/file.conf"}), "/no/such/file.conf"));
    tnl::test::ScopedEnv variable(tnl::test::Env{{"TCPNETLOCK_SERVER_CONFIG", "/no/such/file.conf"}});
    CHECK(contains(error_of({}), "TCPNETLOCK_SERVER_CONFIG"));
  }
  SECTION("a directory, an endless file or a huge one: refused, not read whole") {
    // A directory reads as empty (nothing set, silently); /dev/zero took all memory.
    CHECK(contains(error_of({"--config", "/tmp"}), "/tmp is a directory"));
    CHECK(contains(error_of({"--config", "/dev/zero"}), "/dev/zero is larger than 1 MiB"));
    const ConfigFile huge("# " + std::string(1024 * 1024, 'x') + "\nport = 1\n");
    CHECK(contains(error_of({"--config", huge.path}), "larger than 1 MiB"));
    const ConfigFile comments(std::string(100'000, '#') + "\nport = 1\n");
    CHECK(config_of({"--config", comments.path}).port == 1);
  }
  SECTION("a bad value overridden by a higher source is not used") {
    const ConfigFile file("lock-delay = 5s\n");
    tnl::test::ScopedEnv variable(tnl::test::Env{{"TCPNETLOCK_SERVER_LOCK_DELAY", "3"}});
    CHECK(config_of({"--config", file.path}).lock_delay == 3s);
  }
}

TEST_CASE("server options: --version prints the version line, exit 0", "[server_options]") {
  const ParsedServerOptions parsed = parse({"--version"});
  CHECK(!parsed.options);
  CHECK(parsed.exit_code == 0);
  CHECK(parsed.output == tnl::version_line("tcpnetlock_server") + "\n");
  CHECK(contains(parse({"--help"}).output, "TCPNETLOCK_SERVER_"));
}

TEST_CASE("server options: --log-format", "[server_options][log]") {
  tnl::test::ScopedEnv env(clean_env());
  CHECK(parse({}).options->log_format == tnl::LogFormat::text);
  CHECK(parse({"--log-format", "json"}).options->log_format == tnl::LogFormat::json);
  CHECK(contains(error_of({"--log-format", "xml"}), "--log-format"));
}

TEST_CASE("server options: deploy/tcpnetlock-server.conf lists every option with its default", "[server_options][config]") {
  tnl::test::ScopedEnv env(clean_env());
  const std::string example = tnl::test::read_file(std::string(TNL_SOURCE_DIR) + "/deploy/tcpnetlock-server.conf");
  REQUIRE(!example.empty());
  // Every option --help shows is there as a commented "# name = " line.
  const std::string help = parse({"--help"}).output;
  std::size_t listed = 0;
  for (std::size_t at = help.find("\n  --"); at != std::string::npos; at = help.find("\n  --", at + 1)) {
    const std::size_t start = at + 5;
    const std::string name = help.substr(start, help.find_first_of(" \n", start) - start);
    if (name == "help" || name == "version" || name == "config") continue;
    INFO(name);
    CHECK(contains(example, "\n# " + name + " = "));
    ++listed;
  }
  CHECK(listed >= 23);  // every option of today: a new one must be listed too
  // Uncommented, the lines are the defaults (but for the examples of paths and host names,
  // and TLS, which needs files).
  std::string uncommented;
  std::istringstream lines(example);
  for (std::string line; std::getline(lines, line);) {
    const bool setting = line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
                         line.find(' ', 2) == line.find(" = ");
    if (!setting) continue;
    // etcd-*: only with --backend etcd, which is not the default.
    if (contains(line, "state-dir") || contains(line, "admin-token-file") || contains(line, "http-allowed-host") ||
        contains(line, "tls") || contains(line, "etcd")) {
      continue;
    }
    uncommented += line.substr(2) + "\n";
  }
  const ConfigFile file(uncommented);
  const auto from_file = config_of({"--config", file.path});
  const auto defaults = config_of({});
  CHECK(from_file.listen == defaults.listen);
  CHECK(from_file.port == defaults.port);
  CHECK(from_file.max_line_length == defaults.max_line_length);
  CHECK(from_file.first_line_timeout == defaults.first_line_timeout);
  CHECK(from_file.write_timeout == defaults.write_timeout);
  CHECK(from_file.tcp_keepalive.give_up_after() == defaults.tcp_keepalive.give_up_after());
  CHECK(from_file.holder_timeout == defaults.holder_timeout);
  CHECK(from_file.lock_delay == defaults.lock_delay);
  CHECK(from_file.start_grace == defaults.start_grace);
  CHECK(from_file.http_address == defaults.http_address);
  CHECK(from_file.http_port == defaults.http_port);
  CHECK(from_file.http_request_timeout == defaults.http_request_timeout);
  CHECK(from_file.http_idle_timeout == defaults.http_idle_timeout);
  CHECK(from_file.http_write_timeout == defaults.http_write_timeout);
  CHECK(from_file.http_max_connections == defaults.http_max_connections);
  CHECK(from_file.allow_remote_shutdown == defaults.allow_remote_shutdown);
  CHECK(from_file.backend == defaults.backend);
}

namespace {

/// One option's value as a string, from what was parsed (for the table below).
using Reading = std::function<std::string(const tnl::ServerOptions&)>;

std::string ms(std::chrono::milliseconds value) { return std::to_string(value.count()); }
std::string yes_no(bool value) { return value ? "true" : "false"; }

/// How one option is set from each source, and what each gives.
struct Layered {
  std::string option;             ///< its long name
  std::vector<std::string> cli;   ///< on the command line
  std::string env;                ///< TCPNETLOCK_SERVER_<OPTION>
  std::string file;               ///< `option = file` in the config file (TOML)
  std::string from_file;          ///< what the file alone gives
  std::string from_env;           ///< what the environment gives over the file
  std::string from_cli;           ///< what the command line gives over both
  std::optional<std::string> by_default;  ///< nothing set (nullopt: `base` is needed)
  Reading read;
  std::vector<std::string> base = {};  ///< other options it needs, on the command line
  /// More options it needs when the expected value is the one given (--backend etcd needs endpoints).
  std::function<std::vector<std::string>(const std::string& expected)> base_for = {};
};

/// A file holding `text`.
std::string file_with(const tnl::test::TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir.path() / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("server options: every option comes from the command line, else the environment, else the config file, "
          "else its default",
          "[server_options][config]") {
  tnl::test::TempDir dir;
  const std::string d = dir.path().string();
  std::filesystem::create_directories(dir.path() / "s1");
  std::filesystem::create_directories(dir.path() / "s2");
  std::filesystem::create_directories(dir.path() / "s3");
  const std::string t1 = file_with(dir, "t1", "tok-cli\n");
  const std::string t2 = file_with(dir, "t2", "tok-env\n");
  const std::string t3 = file_with(dir, "t3", "tok-file\n");
  const std::string c1 = file_with(dir, "c1.pem", "");
  const std::string c2 = file_with(dir, "c2.pem", "");
  const std::string c3 = file_with(dir, "c3.pem", "");
  const std::string key = file_with(dir, "key.pem", "");
  const auto q = [](const std::string& text) { return "\"" + text + "\""; };
  const std::vector<std::string> cert_and_key{"--tls-cert", c1, "--tls-key", key};

  const std::vector<Layered> table{
      {"listen", {"--listen", "127.0.0.3"}, "127.0.0.2", q("127.0.0.1"), "127.0.0.1", "127.0.0.2", "127.0.0.3",
       "localhost", [](const auto& o) { return o.config.listen; }},
      {"port", {"--port", "7303"}, "7302", "7301", "7301", "7302", "7303", "7654",
       [](const auto& o) { return std::to_string(o.config.port); }},
      {"port-file", {"--port-file", d + "/p3"}, d + "/p2", q(d + "/p1"), d + "/p1", d + "/p2", d + "/p3", "",
       [](const auto& o) { return o.config.port_file; }},
      {"max-line-length", {"--max-line-length", "300"}, "200", "100", "100", "200", "300",
       std::to_string(tnl::ServerConfig{}.max_line_length),
       [](const auto& o) { return std::to_string(o.config.max_line_length); }},
      {"first-line-timeout", {"--first-line-timeout", "3"}, "2", "1", "1000", "2000", "3000", "30000",
       [](const auto& o) { return ms(o.config.first_line_timeout); }},
      {"write-timeout", {"--write-timeout", "3"}, "2", "1", "1000", "2000", "3000", "10000",
       [](const auto& o) { return ms(o.config.write_timeout); }},
      {"tcp-keepalive", {"--tcp-keepalive", "3,3,3"}, "2,2,2", q("1,1,1"), "1", "2", "3", "10",
       [](const auto& o) { return std::to_string(o.config.tcp_keepalive.idle.count()); }},
      {"holder-timeout", {"--holder-timeout", "3"}, "2", "1", "1000", "2000", "3000", "0",
       [](const auto& o) { return ms(o.config.holder_timeout); }},
      {"lock-delay", {"--lock-delay", "3"}, "2", "1", "1000", "2000", "3000", "0",
       [](const auto& o) { return ms(o.config.lock_delay); }},
      {"start-grace", {"--start-grace", "3"}, "2", "1", "1000", "2000", "3000", "0",
       [](const auto& o) { return ms(o.config.start_grace); }},
      {"state-dir", {"--state-dir", d + "/s3"}, d + "/s2", q(d + "/s1"), d + "/s1", d + "/s2", d + "/s3", "",
       [](const auto& o) { return o.config.state_dir; }},
      {"http", {"--http", "127.0.0.1:1003"}, "127.0.0.1:1002", q("127.0.0.1:1001"), "1001", "1002", "1003", "7655",
       [](const auto& o) { return std::to_string(o.config.http_port); }},
      {"http-port-file", {"--http-port-file", d + "/h3"}, d + "/h2", q(d + "/h1"), d + "/h1", d + "/h2", d + "/h3",
       "", [](const auto& o) { return o.config.http_port_file; }},
      {"grpc", {"--grpc", "127.0.0.1:2003"}, "127.0.0.1:2002", q("127.0.0.1:2001"), "2001", "2002", "2003", "7656",
       [](const auto& o) { return std::to_string(o.config.grpc_port); }},
      {"grpc-port-file", {"--grpc-port-file", d + "/g3"}, d + "/g2", q(d + "/g1"), d + "/g1", d + "/g2", d + "/g3",
       "", [](const auto& o) { return o.config.grpc_port_file; }},
      {"http-allowed-host", {"--http-allowed-host", "c3"}, "c2", q("c1"), "c1", "c2", "c3", "",
       [](const auto& o) {
         std::string joined;
         for (const auto& host : o.config.http_allowed_hosts) joined += (joined.empty() ? "" : ",") + host;
         return joined;
       }},
      {"http-request-timeout", {"--http-request-timeout", "3"}, "2", "1", "1000", "2000", "3000", "5000",
       [](const auto& o) { return ms(o.config.http_request_timeout); }},
      {"http-idle-timeout", {"--http-idle-timeout", "3"}, "2", "1", "1000", "2000", "3000", "30000",
       [](const auto& o) { return ms(o.config.http_idle_timeout); }},
      {"http-write-timeout", {"--http-write-timeout", "3"}, "2", "1", "1000", "2000", "3000", "10000",
       [](const auto& o) { return ms(o.config.http_write_timeout); }},
      {"http-max-connections", {"--http-max-connections", "3"}, "2", "1", "1", "2", "3", "256",
       [](const auto& o) { return std::to_string(o.config.http_max_connections); }},
      {"admin-token-file", {"--admin-token-file", t1}, t2, q(t3), "tok-file", "tok-env", "tok-cli", "",
       [](const auto& o) { return o.config.admin_token; }},
      {"allow-remote-shutdown", {"--allow-remote-shutdown"}, "false", "true", "true", "false", "true", "false",
       [](const auto& o) { return yes_no(o.config.allow_remote_shutdown); }},
      {"debug", {"--debug"}, "false", "true", "true", "false", "true", "false",
       [](const auto& o) { return yes_no(o.debug); }},
      {"info", {"--info"}, "false", "true", "true", "false", "true", "false",
       [](const auto& o) { return yes_no(o.info); }},
      {"log-format", {"--log-format", "json"}, "text", q("json"), "json", "text", "json", "text",
       [](const auto& o) { return o.log_format == tnl::LogFormat::json ? "json" : "text"; }},
      {"tls-cert", {"--tls-cert", c1}, c2, q(c3), c3, c2, c1, std::nullopt,
       [](const auto& o) { return o.config.tls.cert_file; }, {"--tls-key", key}},
      {"tls-key", {"--tls-key", c1}, c2, q(c3), c3, c2, c1, std::nullopt,
       [](const auto& o) { return o.config.tls.key_file; }, {"--tls-cert", key}},
      {"tls-client-ca", {"--tls-client-ca", c1}, c2, q(c3), c3, c2, c1, std::nullopt,
       [](const auto& o) { return o.config.tls.client_ca_file; }, cert_and_key},
      {"tls-port", {"--tls-port", "8003"}, "8002", "8001", "8001", "8002", "8003", std::nullopt,
       [](const auto& o) { return std::to_string(o.config.tls.port) + yes_no(o.config.tls.lock_listener); },
       cert_and_key},
      {"tls-port-file", {"--tls-port-file", d + "/l3"}, d + "/l2", q(d + "/l1"), d + "/l1", d + "/l2", d + "/l3", "",
       [](const auto& o) { return o.config.tls.port_file; }},
      {"tls-only", {"--tls-only"}, "false", "true", "true", "false", "true", std::nullopt,
       [](const auto& o) { return yes_no(o.config.tls.only); },
       {"--tls-cert", c1, "--tls-key", key, "--tls-port", "0"}},
      {"http-tls", {"--http-tls"}, "false", "true", "true", "false", "true", std::nullopt,
       [](const auto& o) { return yes_no(o.config.tls.http); }, cert_and_key},
      {"backend", {"--backend", "etcd"}, "local", q("etcd"), "etcd", "local", "etcd", "local",
       [](const auto& o) { return o.config.backend == tnl::BackendKind::etcd ? "etcd" : "local"; }, {},
       [](const std::string& expected) {
         return expected == "etcd" ? std::vector<std::string>{"--etcd-endpoints", "127.0.0.1:2379"}
                                   : std::vector<std::string>{};
       }},
      {"etcd-endpoints", {"--etcd-endpoints", "http://127.0.0.3:2379"}, "127.0.0.2:2379", q("127.0.0.1:2379"),
       "127.0.0.1:2379", "127.0.0.2:2379", "127.0.0.3:2379", std::nullopt,
       [](const auto& o) {
         std::string joined;
         for (const auto& endpoint : o.config.etcd.endpoints) joined += (joined.empty() ? "" : ",") + endpoint;
         return joined;
       },
       {"--backend", "etcd"}},
      {"etcd-prefix", {"--etcd-prefix", "/p3"}, "/p2/", q("/p1"), "/p1/", "/p2/", "/p3/", "/tcpnetlock/",
       [](const auto& o) { return o.config.etcd.prefix; }, {"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379"}},
      {"etcd-lease-ttl", {"--etcd-lease-ttl", "4"}, "3", "2", "2", "3", "4", "10",
       [](const auto& o) { return std::to_string(o.config.etcd.lease_ttl.count()); },
       {"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379"}},
      {"etcd-layout", {"--etcd-layout", "auto"}, "distlock", q("recipe"), "recipe", "distlock", "auto", "auto",
       [](const auto& o) { return o.config.etcd.layout; }, {"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379"}},
  };
  // With the tls-port row's values, "8001true" etc.
  const auto expected = [](const Layered& row, const std::string& value) {
    return row.option == "tls-port" ? value + "true" : value;
  };

  tnl::test::Env unset;
  for (const auto& row : table) unset.emplace(tnl::server_environment_name(row.option), std::nullopt);
  unset.emplace("TCPNETLOCK_SERVER_CONFIG", std::nullopt);
  tnl::test::ScopedEnv clean(unset);

  // Every option --help shows has its row: a new option must say how it is layered.
  const std::string help = parse({"--help"}).output;
  for (std::size_t at = help.find("\n  --"); at != std::string::npos; at = help.find("\n  --", at + 1)) {
    const std::size_t start = at + 5;
    const std::string name = help.substr(start, help.find_first_of(" \n", start) - start);
    if (name == "help" || name == "version" || name == "config") continue;
    INFO("option without a row: --" << name);
    CHECK(std::any_of(table.begin(), table.end(), [&](const Layered& row) { return row.option == name; }));
  }

  for (const auto& row : table) {
    INFO("--" << row.option);
    const ConfigFile file(row.option + " = " + row.file + "\n");
    const auto value = [&](std::vector<std::string> args, const std::string& want) {
      args.insert(args.end(), row.base.begin(), row.base.end());
      if (row.base_for) {
        const auto more = row.base_for(want);
        args.insert(args.end(), more.begin(), more.end());
      }
      const ParsedServerOptions parsed = parse(args);
      INFO(parsed.error);
      REQUIRE(parsed.options);
      return row.read(*parsed.options);
    };
    const std::vector<std::string> with_file{"--config", file.path};
    std::vector<std::string> cli_and_file = row.cli;
    cli_and_file.insert(cli_and_file.end(), with_file.begin(), with_file.end());
    if (row.by_default) CHECK(value({}, *row.by_default) == expected(row, *row.by_default));
    CHECK(value(with_file, row.from_file) == expected(row, row.from_file));
    CHECK(value(cli_and_file, row.from_cli) == expected(row, row.from_cli));
    {
      tnl::test::ScopedEnv env(tnl::test::Env{{tnl::server_environment_name(row.option), row.env}});
      CHECK(value({}, row.from_env) == expected(row, row.from_env));
      CHECK(value(with_file, row.from_env) == expected(row, row.from_env));
      CHECK(value(cli_and_file, row.from_cli) == expected(row, row.from_cli));
      CHECK(value(row.cli, row.from_cli) == expected(row, row.from_cli));
    }
  }
}

TEST_CASE("server options: --help and --version are taken from the command line only", "[server_options][config]") {
  tnl::test::ScopedEnv env(clean_env({{"TCPNETLOCK_SERVER_HELP", "true"}, {"TCPNETLOCK_SERVER_VERSION", "true"}}));
  const ParsedServerOptions parsed = parse({"--port", "7001"});
  INFO(parsed.error);
  REQUIRE(parsed.options);
  CHECK(parsed.output.empty());
  CHECK(parsed.options->config.port == 7001);
}

TEST_CASE("server options: a bad value in the environment is not used when the command line sets the option",
          "[server_options][config]") {
  tnl::test::ScopedEnv env(clean_env({{"TCPNETLOCK_SERVER_LOCK_DELAY", "nan"}, {"TCPNETLOCK_SERVER_PORT", "x"}}));
  const auto config = config_of({"--lock-delay", "2", "--port", "7001"});
  CHECK(config.lock_delay == 2s);
  CHECK(config.port == 7001);
}

TEST_CASE("server options: what an option needs holds whatever source set either", "[server_options][tls]") {
  tnl::test::TempDir dir;
  const std::string cert = file_with(dir, "cert.pem", "");
  const std::string key = file_with(dir, "key.pem", "");
  tnl::test::ScopedEnv clean(clean_env({{"TCPNETLOCK_SERVER_TLS_CERT", std::nullopt},
                                        {"TCPNETLOCK_SERVER_TLS_KEY", std::nullopt},
                                        {"TCPNETLOCK_SERVER_TLS_PORT", std::nullopt},
                                        {"TCPNETLOCK_SERVER_TLS_ONLY", std::nullopt},
                                        {"TCPNETLOCK_SERVER_HTTP_TLS", std::nullopt},
                                        {"TCPNETLOCK_SERVER_TLS_CLIENT_CA", std::nullopt}}));
  SECTION("on the command line (CLI11's own check)") {
    CHECK(contains(error_of({"--http-tls"}), "--http-tls"));
    CHECK(contains(error_of({"--tls-cert", cert}), "--tls-key"));
  }
  SECTION("from the environment: --http-tls without a certificate would serve plain HTTP") {
    tnl::test::ScopedEnv env(tnl::test::Env{{"TCPNETLOCK_SERVER_HTTP_TLS", "true"}});
    const std::string error = error_of({});
    CHECK(contains(error, "--http-tls"));
    CHECK(contains(error, "--tls-cert"));
    CHECK(contains(error, "environment variable TCPNETLOCK_SERVER_HTTP_TLS"));
    // Given the certificate, anywhere, it is fine.
    CHECK(config_of({"--tls-cert", cert, "--tls-key", key}).tls.http);
  }
  SECTION("from the config file: --tls-only without --tls-port would listen for nobody") {
    const ConfigFile file("tls-only = true\n");
    const std::string error = error_of({"--config", file.path, "--tls-cert", cert, "--tls-key", key});
    CHECK(contains(error, "--tls-only"));
    CHECK(contains(error, "--tls-port"));
    CHECK(contains(error, "config file " + file.path));
    const auto config = config_of({"--config", file.path, "--tls-cert", cert, "--tls-key", key, "--tls-port", "0"});
    CHECK(config.tls.only);
    CHECK(config.tls.lock_listener);
  }
  SECTION("a needed option given from a lower source counts") {
    const ConfigFile file("tls-cert = \"" + cert + "\"\ntls-key = \"" + key + "\"\n");
    tnl::test::ScopedEnv env(tnl::test::Env{{"TCPNETLOCK_SERVER_TLS_PORT", "0"}});
    const auto config = config_of({"--config", file.path, "--tls-only"});
    CHECK(config.tls.only);
    CHECK(config.tls.cert_file == cert);
  }
  SECTION("--tls-port and --tls-key from the environment without a certificate") {
    {
      tnl::test::ScopedEnv env(tnl::test::Env{{"TCPNETLOCK_SERVER_TLS_PORT", "0"}});
      CHECK(contains(error_of({}), "--tls-port"));
    }
    tnl::test::ScopedEnv env(tnl::test::Env{{"TCPNETLOCK_SERVER_TLS_KEY", key}});
    CHECK(contains(error_of({}), "--tls-key"));
  }
}

TEST_CASE("server options: ranges of --max-line-length, --state-dir and --tls-port", "[server_options]") {
  CHECK(config_of({"--max-line-length", "16"}).max_line_length == 16);
  CHECK(config_of({"--max-line-length", "1048576"}).max_line_length == 1048576);
  CHECK(contains(error_of({"--max-line-length", "1048577"}), "--max-line-length"));
  CHECK(contains(error_of({"--state-dir", "/no/such/dir"}), "--state-dir"));
  tnl::test::TempDir dir;
  const std::string cert = file_with(dir, "cert.pem", "");
  CHECK(contains(error_of({"--tls-cert", cert, "--tls-key", cert, "--tls-port", "65536"}), "--tls-port"));
  CHECK(contains(error_of({"--tls-cert", (dir.path() / "missing.pem").string(), "--tls-key", cert}), "--tls-cert"));
}

TEST_CASE("server options: the backend's environment variables are TCPNETLOCK_BACKEND and TCPNETLOCK_ETCD_*",
          "[server_options][etcd]") {
  CHECK(tnl::server_environment_name("backend") == "TCPNETLOCK_BACKEND");
  CHECK(tnl::server_environment_name("etcd-endpoints") == "TCPNETLOCK_ETCD_ENDPOINTS");
  CHECK(tnl::server_environment_name("etcd-prefix") == "TCPNETLOCK_ETCD_PREFIX");
  CHECK(tnl::server_environment_name("etcd-lease-ttl") == "TCPNETLOCK_ETCD_LEASE_TTL");
  CHECK(tnl::server_environment_name("etcd-layout") == "TCPNETLOCK_ETCD_LAYOUT");
  CHECK(tnl::server_environment_name("lock-delay") == "TCPNETLOCK_SERVER_LOCK_DELAY");  // the others as before
  const std::string help = parse({"--help"}).output;
  for (const char* name : {"--backend", "--etcd-endpoints", "--etcd-prefix", "--etcd-lease-ttl", "--etcd-layout",
                           "TCPNETLOCK_BACKEND", "TCPNETLOCK_ETCD_ENDPOINTS", "TCPNETLOCK_ETCD_PREFIX",
                           "TCPNETLOCK_ETCD_LEASE_TTL", "TCPNETLOCK_ETCD_LAYOUT"}) {
    INFO(name);
    CHECK(contains(help, name));
  }
}

TEST_CASE("server options: --backend etcd and its settings", "[server_options][etcd]") {
  tnl::test::ScopedEnv env(clean_env());
  SECTION("the local backend is the default") {
    const auto config = config_of({});
    CHECK(config.backend == tnl::BackendKind::local);
    CHECK(config.etcd.endpoints.empty());
    CHECK(config.etcd.prefix == "/tcpnetlock/");
    CHECK(config.etcd.lease_ttl == 10s);
  }
  SECTION("endpoints with and without http://, IPv6 in brackets, a trailing slash, spaces after commas") {
    const auto config =
        config_of({"--backend", "etcd", "--etcd-endpoints", "http://127.0.0.1:2379,etcd-1.example:2380, [::1]:2381/,"
                                                            "http://10.0.0.1:1"});
    CHECK(config.backend == tnl::BackendKind::etcd);
    CHECK(config.etcd.endpoints ==
          std::vector<std::string>{"127.0.0.1:2379", "etcd-1.example:2380", "[::1]:2381", "10.0.0.1:1"});
    CHECK(config.etcd.prefix == "/tcpnetlock/");
    CHECK(config.etcd.lease_ttl == 10s);
  }
  SECTION("the prefix gets its '/'; the TTL is whole seconds from 2 to 3600") {
    const std::vector<std::string> etcd{"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379"};
    const auto with = [&](std::vector<std::string> more) {
      more.insert(more.begin(), etcd.begin(), etcd.end());
      return config_of(more);
    };
    CHECK(with({"--etcd-prefix", "/realm"}).etcd.prefix == "/realm/");
    CHECK(with({"--etcd-prefix", "/realm/"}).etcd.prefix == "/realm/");
    CHECK(with({"--etcd-prefix", "locks"}).etcd.prefix == "locks/");
    CHECK(with({"--etcd-lease-ttl", "2"}).etcd.lease_ttl == 2s);
    // --etcd-layout: auto is distlock's layout for exactly /distlock/ (its default prefix).
    CHECK_FALSE(with({}).etcd.distlock_layout);
    CHECK(with({}).etcd.layout == "auto");
    CHECK(with({"--etcd-prefix", "/distlock/"}).etcd.distlock_layout);
    CHECK(with({"--etcd-prefix", "/distlock"}).etcd.distlock_layout);
    CHECK_FALSE(with({"--etcd-prefix", "/distlock/staging/"}).etcd.distlock_layout);
    CHECK_FALSE(with({"--etcd-prefix", "/distlock/", "--etcd-layout", "recipe"}).etcd.distlock_layout);
    CHECK(with({"--etcd-prefix", "/staging/", "--etcd-layout", "distlock"}).etcd.distlock_layout);
    CHECK(with({"--etcd-lease-ttl", "3600"}).etcd.lease_ttl == 3600s);
  }
  SECTION("no start grace with etcd, whatever the lock-delay; --lock-delay works") {
    const auto config = config_of({"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379", "--lock-delay", "5"});
    CHECK(config.lock_delay == 5s);
    CHECK(config.start_grace == 0s);
  }
  SECTION("all four from the environment") {
    tnl::test::ScopedEnv from_env({{"TCPNETLOCK_BACKEND", "etcd"},
                                   {"TCPNETLOCK_ETCD_ENDPOINTS", "http://127.0.0.1:2379"},
                                   {"TCPNETLOCK_ETCD_PREFIX", "/env"},
                                   {"TCPNETLOCK_ETCD_LEASE_TTL", "3"}});
    const auto config = config_of({});
    CHECK(config.backend == tnl::BackendKind::etcd);
    CHECK(config.etcd.endpoints == std::vector<std::string>{"127.0.0.1:2379"});
    CHECK(config.etcd.prefix == "/env/");
    CHECK(config.etcd.lease_ttl == 3s);
  }
}

TEST_CASE("server options: what the etcd backend refuses, each with its reason", "[server_options][etcd]") {
  tnl::test::ScopedEnv env(clean_env());
  const std::vector<std::string> etcd{"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379"};
  const auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), etcd.begin(), etcd.end());
    return error_of(more);
  };
  SECTION("etcd without endpoints, from any source") {
    CHECK(contains(error_of({"--backend", "etcd"}), "--backend etcd needs --etcd-endpoints"));
    tnl::test::ScopedEnv from_env(tnl::test::Env{{"TCPNETLOCK_BACKEND", "etcd"}});
    const std::string error = error_of({});
    CHECK(contains(error, "needs --etcd-endpoints"));
    CHECK(contains(error, "(from the environment variable TCPNETLOCK_BACKEND)"));
  }
  SECTION("--state-dir and --start-grace are the local backend's") {
    tnl::test::TempDir dir;
    const std::string state = with({"--state-dir", dir.path().string()});
    CHECK(contains(state, "--state-dir"));
    CHECK(contains(state, "detached locks are kept in etcd"));
    CHECK(contains(with({"--start-grace", "1"}), "--start-grace"));
    CHECK(config_of({"--backend", "etcd", "--etcd-endpoints", "a:1", "--start-grace", "0"}).start_grace == 0s);
    tnl::test::ScopedEnv from_env(tnl::test::Env{{"TCPNETLOCK_SERVER_START_GRACE", "5"}});
    CHECK(contains(with({}), "--start-grace (from the environment variable TCPNETLOCK_SERVER_START_GRACE)"));
  }
  SECTION("https and other schemes are refused") {
    const std::string https = error_of({"--backend", "etcd", "--etcd-endpoints", "https://127.0.0.1:2379"});
    CHECK(contains(https, "--etcd-endpoints"));
    CHECK(contains(https, "https is not supported yet"));
    CHECK(contains(error_of({"--backend", "etcd", "--etcd-endpoints", "127.0.0.1:2379,https://a:1"}), "https"));
    CHECK(contains(error_of({"--backend", "etcd", "--etcd-endpoints", "unix://a:1"}), "only http://"));
    CHECK(contains(error_of({"--backend", "etcd", "--etcd-endpoints", "HTTPS://a:1"}), "only http://"));
  }
  SECTION("malformed endpoints") {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":2379", "127.0.0.1:0", "127.0.0.1:65536", "a:b",
                            "::1:2379", "[::1]", "[]:2379", "a b:1", "http://a:1/x", "a:1,,b:2", "a:1,",
                            "user@a:1"}) {
      INFO("'" << bad << "'");
      const std::string error = error_of({"--backend", "etcd", "--etcd-endpoints", bad});
      CHECK(contains(error, "--etcd-endpoints"));
    }
    tnl::test::ScopedEnv from_env(tnl::test::Env{{"TCPNETLOCK_ETCD_ENDPOINTS", "a:1,b"}});
    CHECK(contains(error_of({"--backend", "etcd"}), "(from the environment variable TCPNETLOCK_ETCD_ENDPOINTS)"));
  }
  SECTION("a TTL that is not a whole number of seconds from 2 to 3600") {
    for (const char* bad : {"1", "0", "-3", "2.5", "3601", "x", "", " 5", "99999999999999999999"}) {
      INFO("'" << bad << "'");
      CHECK(contains(with({"--etcd-lease-ttl", bad}), "--etcd-lease-ttl"));
    }
    const ConfigFile file("etcd-lease-ttl = 1\n");
    const std::string error = with({"--config", file.path});
    CHECK(contains(error, "--etcd-lease-ttl"));
    CHECK(contains(error, file.path));
  }
  SECTION("an empty prefix, or one with spaces or control characters") {
    CHECK(contains(with({"--etcd-layout", "distlok"}), "--etcd-layout"));
    for (const char* bad : {"", "/a b/", "/a\tb/", "/a\nb"}) {
      INFO("'" << bad << "'");
      CHECK(contains(with({"--etcd-prefix", bad}), "--etcd-prefix"));
    }
  }
  SECTION("etcd settings with the local backend: replicas meant to share etcd must not each run alone") {
    for (const auto& args : std::vector<std::vector<std::string>>{{"--etcd-endpoints", "127.0.0.1:2379"},
                                                                   {"--etcd-prefix", "/x/"},
                                                                   {"--etcd-lease-ttl", "5"},
                                                                   {"--etcd-layout", "distlock"},
                                                                   {"--backend", "local", "--etcd-prefix", "/x/"}}) {
      INFO(args.front());
      const std::string error = error_of(args);
      CHECK(contains(error, "is for --backend etcd"));
    }
    tnl::test::ScopedEnv from_env(tnl::test::Env{{"TCPNETLOCK_ETCD_ENDPOINTS", "127.0.0.1:2379"}});
    CHECK(contains(error_of({}), "--etcd-endpoints (from the environment variable TCPNETLOCK_ETCD_ENDPOINTS)"));
  }
  SECTION("an unknown backend") { CHECK(contains(error_of({"--backend", "zookeeper"}), "--backend")); }
}

TEST_CASE("server options: --tls-only leaves no plain gRPC listener", "[server_options][grpc-default]") {
  tnl::test::ScopedEnv env(clean_env());
  tnl::test::TempDir dir;
  const std::string cert = file_with(dir, "cert.pem", "");
  const std::string key = file_with(dir, "key.pem", "");
  const std::vector<std::string> tls_only{"--tls-cert", cert, "--tls-key", key, "--tls-port", "0", "--tls-only"};
  // The default gRPC listener is off with --tls-only (mutual TLS would be bypassed there).
  CHECK(!config_of(tls_only).grpc_enabled);
  // One asked for is refused, naming the option; --grpc off is fine.
  auto asked = tls_only;
  asked.insert(asked.end(), {"--grpc", "127.0.0.1:0"});
  CHECK(contains(error_of(asked), "--grpc"));
  CHECK(contains(error_of(asked), "--tls-only"));
  auto off = tls_only;
  off.insert(off.end(), {"--grpc", "off"});
  CHECK(!config_of(off).grpc_enabled);
  // Without --tls-only the default gRPC listener stays.
  CHECK(config_of({"--tls-cert", cert, "--tls-key", key, "--tls-port", "0"}).grpc_enabled);
}

}  // namespace TNL_UNITY_ID
