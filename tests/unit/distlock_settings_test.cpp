// tcpnetlock_distlock's settings: command line > DISTLOCK_* > config file > defaults, and
// the values each takes (client/distlock_settings.hpp, client/distlock_config.hpp).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <variant>

#include "distlock_config.hpp"
#include "distlock_settings.hpp"
#include "process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::distlock;

namespace {

Settings resolved(Mode mode, bool nowait, const SourceValues& flags, const SourceValues& env,
                  const SourceValues& config) {
  auto result = resolve_settings(mode, nowait, flags, env, config);
  if (const auto* problem = std::get_if<std::string>(&result)) FAIL(*problem);
  return std::get<Settings>(result);
}

std::string problem_of(Mode mode, const SourceValues& flags, const SourceValues& env = {},
                       const SourceValues& config = {}) {
  auto result = resolve_settings(mode, false, flags, env, config);
  REQUIRE(std::holds_alternative<std::string>(result));
  return std::get<std::string>(result);
}

SourceValues values(const char* name, const char* reason, const char* timeout, const char* endpoints,
                    const char* prefix) {
  SourceValues v;
  if (name) v.lock_name = name;
  if (reason) v.reason = reason;
  if (timeout) v.timeout = timeout;
  if (endpoints) v.endpoints = endpoints;
  if (prefix) v.prefix = prefix;
  return v;
}

SourceValues config_of(const std::string& yaml) {
  auto parsed = parse_config(yaml, "test.yaml");
  if (const auto* problem = std::get_if<std::string>(&parsed)) FAIL(*problem);
  return std::get<SourceValues>(parsed);
}

}  // namespace

TEST_CASE("distlock settings: the defaults", "[distlock][settings]") {
  const Settings s = resolved(Mode::run, false, values("db", nullptr, nullptr, nullptr, nullptr), {}, {});
  CHECK(s.name == "db");
  CHECK(s.lock_name == "__distlock__-db");
  CHECK(s.prefix == "/distlock/");
  CHECK_FALSE(s.wait_seconds);  // -1: for ever
  CHECK(s.reason.empty());
  REQUIRE(s.endpoints.size() == 1);
  CHECK(s.endpoints[0] == Endpoint{"localhost", 7654});
}

TEST_CASE("distlock settings: flags beat the environment, which beats the config file", "[distlock][settings]") {
  const SourceValues config = values("c-name", "c-reason", "30", "cfg:1", "/c/");
  const SourceValues env = values("e-name", "e-reason", "20", "env:2", "/e/");
  const SourceValues flags = values("f-name", "f-reason", "10", "flag:3", "/f/");
  const Settings all = resolved(Mode::lock, false, flags, env, config);
  CHECK(all.name == "f-name");
  CHECK(all.reason == "f-reason");
  CHECK(all.wait_seconds == std::optional<double>(10));
  CHECK(all.endpoints[0] == Endpoint{"flag", 3});
  CHECK(all.prefix == "/f/");
  CHECK(all.lock_name == "__f__-f-name");

  const Settings no_flags = resolved(Mode::lock, false, {}, env, config);
  CHECK(no_flags.name == "e-name");
  CHECK(no_flags.reason == "e-reason");
  CHECK(no_flags.wait_seconds == std::optional<double>(20));
  CHECK(no_flags.endpoints[0] == Endpoint{"env", 2});
  CHECK(no_flags.prefix == "/e/");

  const Settings config_only = resolved(Mode::lock, false, {}, {}, config);
  CHECK(config_only.name == "c-name");
  CHECK(config_only.reason == "c-reason");
  CHECK(config_only.wait_seconds == std::optional<double>(30));
  CHECK(config_only.endpoints[0] == Endpoint{"cfg", 1});
  CHECK(config_only.prefix == "/c/");

  // Each setting on its own: a source that says nothing about it passes it on.
  const Settings mixed = resolved(Mode::lock, false, values(nullptr, "f-reason", nullptr, nullptr, nullptr),
                                  values(nullptr, nullptr, "20", nullptr, nullptr), config);
  CHECK(mixed.name == "c-name");
  CHECK(mixed.reason == "f-reason");
  CHECK(mixed.wait_seconds == std::optional<double>(20));
  CHECK(mixed.prefix == "/c/");
}

TEST_CASE("distlock settings: --nowait is a --timeout of 0 on the command line", "[distlock][settings]") {
  const SourceValues env = values("db", nullptr, "20", nullptr, nullptr);
  CHECK(resolved(Mode::run, true, {}, env, {}).wait_seconds == std::optional<double>(0));
  CHECK(resolved(Mode::run, false, {}, env, {}).wait_seconds == std::optional<double>(20));
}

TEST_CASE("distlock settings: an empty flag value still counts as given", "[distlock][settings]") {
  // --prefix= is the empty prefix, not the default one.
  const Settings s = resolved(Mode::run, false, values("db", nullptr, nullptr, nullptr, ""),
                              values(nullptr, nullptr, nullptr, nullptr, "/e/"), {});
  CHECK(s.prefix.empty());
  CHECK(s.lock_name == "-db");
}

TEST_CASE("distlock settings: the environment, empty variables unset", "[distlock][settings]") {
  const std::map<std::string, std::string> vars{
      {"DISTLOCK_LOCKNAME", "n"}, {"DISTLOCK_REASON", ""}, {"DISTLOCK_TIMEOUT", "5"}, {"DISTLOCK_PREFIX", "p"}};
  const Getenv getenv = [&](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  const SourceValues env = environment_values(getenv);
  CHECK(env.lock_name == std::optional<std::string>("n"));
  CHECK_FALSE(env.reason);
  CHECK(env.timeout == std::optional<std::string>("5"));
  CHECK_FALSE(env.endpoints);
  CHECK(env.prefix == std::optional<std::string>("p"));
  CHECK(config_path(std::nullopt, getenv).path == "/etc/distlock/distlock.yaml");
  CHECK_FALSE(config_path(std::nullopt, getenv).named);
  CHECK(config_path(std::string("/x.yaml"), getenv).path == "/x.yaml");
  const Getenv with_config = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "DISTLOCK_CONFIG") return std::string("/env.yaml");
    return std::nullopt;
  };
  CHECK(config_path(std::nullopt, with_config).path == "/env.yaml");
  CHECK(config_path(std::nullopt, with_config).named);
  CHECK(config_path(std::string("/flag.yaml"), with_config).path == "/flag.yaml");
}

TEST_CASE("distlock settings: timeouts", "[distlock][settings]") {
  CHECK(std::get<std::optional<double>>(parse_timeout("-1")) == std::nullopt);
  CHECK(std::get<std::optional<double>>(parse_timeout("0")) == std::optional<double>(0));
  CHECK(std::get<std::optional<double>>(parse_timeout("15")) == std::optional<double>(15));
  CHECK(std::get<std::optional<double>>(parse_timeout(" 2.5 ")) == std::optional<double>(2.5));
  CHECK(std::get<std::optional<double>>(parse_timeout("10m")) == std::optional<double>(600));
  for (const char* bad : {"", "-2", "-0.5", "abc", "1e3", "inf", "nan", "400d", "-1s"}) {
    INFO(bad);
    CHECK(std::holds_alternative<std::string>(parse_timeout(bad)));
  }
}

TEST_CASE("distlock settings: endpoints", "[distlock][settings]") {
  const auto endpoints =
      std::get<std::vector<Endpoint>>(parse_endpoints("a, b:1 ,tcp://c:65535,[::1]:9,[fe80::1], ::1 127.0.0.1:80"));
  REQUIRE(endpoints.size() == 7);
  CHECK(endpoints[0] == Endpoint{"a", 7654});
  CHECK(endpoints[1] == Endpoint{"b", 1});
  CHECK(endpoints[2] == Endpoint{"c", 65535});
  CHECK(endpoints[3] == Endpoint{"::1", 9});
  CHECK(endpoints[4] == Endpoint{"fe80::1", 7654});
  CHECK(endpoints[5] == Endpoint{"::1", 7654});
  CHECK(endpoints[6] == Endpoint{"127.0.0.1", 80});
  for (const char* bad : {"", " , ", "a:", "a:0", "a:65536", "a:x", ":80", "http://127.0.0.1:2379", "[::1", "[::1]x",
                          "[]:1", "a:123456"}) {
    INFO(bad);
    CHECK(std::holds_alternative<std::string>(parse_endpoints(bad)));
  }
}

TEST_CASE("distlock settings: what is refused", "[distlock][settings]") {
  CHECK(problem_of(Mode::run, {}).find("no lock name") != std::string::npos);
  CHECK(problem_of(Mode::unlock, values("a b", nullptr, nullptr, nullptr, nullptr)).find("invalid lock name") !=
        std::string::npos);
  CHECK(problem_of(Mode::lock, values("a/b", nullptr, nullptr, nullptr, nullptr)).find("invalid lock name") !=
        std::string::npos);
  CHECK(problem_of(Mode::lock, values("a", "x,y", nullptr, nullptr, nullptr)).find("invalid reason") !=
        std::string::npos);
  CHECK(problem_of(Mode::lock, values("a", nullptr, "soon", nullptr, nullptr)).find("invalid timeout") !=
        std::string::npos);
  CHECK(problem_of(Mode::lock, {}, {}, values("a", nullptr, nullptr, "http://etcd:2379", nullptr)).find("not URLs") !=
        std::string::npos);
  // --list needs no name.
  CHECK(resolved(Mode::list, false, {}, {}, {}).name.empty());
}

TEST_CASE("distlock config: the YAML keys", "[distlock][config]") {
  const SourceValues all = config_of(
      "lockname: percona_prod\nreason: Upgrade RPMs\nendpoints:\n  - 10.0.0.1:7654\n  - 10.0.0.2\ntimeout: 30\n"
      "prefix: /staging/\nunknown_key: ignored\n");
  CHECK(all.lock_name == std::optional<std::string>("percona_prod"));
  CHECK(all.reason == std::optional<std::string>("Upgrade RPMs"));
  CHECK(all.endpoints == std::optional<std::string>("10.0.0.1:7654,10.0.0.2"));
  CHECK(all.timeout == std::optional<std::string>("30"));
  CHECK(all.prefix == std::optional<std::string>("/staging/"));
  CHECK(config_of("endpoints: a:1,b:2\n").endpoints == std::optional<std::string>("a:1,b:2"));
  CHECK(config_of("timeout: -1\n").timeout == std::optional<std::string>("-1"));
  const SourceValues empty = config_of("");
  CHECK_FALSE(empty.lock_name);
  CHECK_FALSE(empty.endpoints);
  CHECK_FALSE(config_of("lockname:\n").lock_name);  // null: not given
  for (const char* bad : {"- a\n- b\n", "lockname: [a, b]\n", "endpoints: {a: 1}\n", "endpoints: [[a]]\n",
                          "lockname: [a\n", "a: b: c\n", "just text\n"}) {
    INFO(bad);
    CHECK(std::holds_alternative<std::string>(parse_config(bad, "test.yaml")));
  }
}

TEST_CASE("distlock config: files", "[distlock][config]") {
  tnl::test::TempDir dir;
  const auto missing = (dir.path() / "missing.yaml").string();
  CHECK(std::holds_alternative<SourceValues>(read_config(missing, false)));  // the default may be absent
  const auto problem = read_config(missing, true);
  REQUIRE(std::holds_alternative<std::string>(problem));
  CHECK(std::get<std::string>(problem).find(missing) != std::string::npos);
  CHECK(std::holds_alternative<std::string>(read_config(dir.path().string(), false)));  // a directory
  const auto file = dir.path() / "distlock.yaml";
  std::ofstream(file) << "lockname: from_file\n";
  const auto read = read_config(file.string(), true);
  REQUIRE(std::holds_alternative<SourceValues>(read));
  CHECK(std::get<SourceValues>(read).lock_name == std::optional<std::string>("from_file"));
  std::ofstream(file) << std::string(2 << 20, '#');
  CHECK(std::holds_alternative<std::string>(read_config(file.string(), true)));  // over 1 MiB
}

}  // namespace TNL_UNITY_ID
