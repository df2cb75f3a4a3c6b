// tcpnetlock_server as an operator runs it: two servers on one host with default HTTP
// addresses, options from a config file and the environment, --version, JSON and journal logs.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "server_process.hpp"
#include "socket_address.hpp"
#include "version.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::ChildProcess;
using tnl::test::HttpClient;
using tnl::test::LineClient;
using tnl::test::TempDir;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A socket listening on 127.0.0.1:`port` (0: a free one), closed on destruction.
class Listener {
 public:
  explicit Listener(std::uint16_t port = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    const auto address = tnl::test::numeric_address("127.0.0.1", port);
    ok_ = fd_ >= 0 && ::bind(fd_, address.get(), address.length) == 0 && ::listen(fd_, 8) == 0;
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::uint16_t port() const {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
  }

 private:
  int fd_;
  bool ok_ = false;
};

/// A lock port P the system just showed free together with P + 1 (the kernel hands out
/// ephemeral ports away from each other, so someone may take one before the server does:
/// callers retry a bounded number of times).
std::uint16_t free_port_pair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const Listener probe;
    const std::uint16_t port = probe.port();
    if (port == 0 || port == 65535) continue;
    const Listener next(static_cast<std::uint16_t>(port + 1));
    if (next.ok()) return port;
  }
  throw std::runtime_error("no two free consecutive ports on 127.0.0.1");
}

/// The real server started with exactly `args` (no --http added, unlike ServerProcess) plus
/// port files, waited for until it listens or exits.
struct RawServer {
  TempDir dir;
  ChildProcess process;
  std::optional<std::uint16_t> port;

  explicit RawServer(std::vector<std::string> args, const tnl::test::SpawnOptions& spawn = {})
      : process(ChildProcess::start(with_binary(std::move(args), dir), spawn)) {
    tnl::test::wait_until([&] { return tnl::test::read_port_file(dir.path() / "port") || !process.running(); });
    port = tnl::test::read_port_file(dir.path() / "port");
  }
  /// The HTTP port written to --http-port-file: right after the lock port's, so a short wait
  /// tells that there is none.
  [[nodiscard]] std::optional<std::uint16_t> http_port(std::chrono::milliseconds timeout = 2s) const {
    tnl::test::wait_until([&] { return tnl::test::read_port_file(dir.path() / "http-port").has_value(); }, timeout);
    return tnl::test::read_port_file(dir.path() / "http-port");
  }

 private:
  static std::vector<std::string> with_binary(std::vector<std::string> args, const TempDir& dir) {
    args.insert(args.begin(), {tnl::test::binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port-file",
                               (dir.path() / "port").string(), "--http-port-file", (dir.path() / "http-port").string()});
    return args;
  }
};

/// Whether a lock can be taken and released on `port`.
bool serves_locks(std::uint16_t port) {
  LineClient client(port);
  return client.request("lock,name:config-test") == std::optional<std::string>("ok") &&
         client.request("release") == std::optional<std::string>("released");
}

}  // namespace

TEST_CASE("two servers on one host with default HTTP addresses: each on its lock port + 1", "[config][http-default]") {
  for (int attempt = 1;; ++attempt) {
    const std::uint16_t first_port = free_port_pair();
    const std::uint16_t second_port = free_port_pair();
    if (second_port == first_port || second_port == first_port + 1 || first_port == second_port + 1) continue;
    RawServer first({"--port", std::to_string(first_port)});
    RawServer second({"--port", std::to_string(second_port)});
    if ((!first.port || !second.port) && attempt < 5 &&
        contains(first.process.stderr_text() + second.process.stderr_text(), "in use")) {
      continue;  // someone took a port between the probe and the server
    }
    INFO(first.process.stderr_text() << second.process.stderr_text());
    REQUIRE(first.port == first_port);
    REQUIRE(second.port == second_port);
    CHECK(serves_locks(first_port));
    CHECK(serves_locks(second_port));
    CHECK(first.http_port() == first_port + 1);
    CHECK(second.http_port() == second_port + 1);
    CHECK(HttpClient(static_cast<std::uint16_t>(first_port + 1)).get("/healthz").status == 200);
    CHECK(HttpClient(static_cast<std::uint16_t>(second_port + 1)).get("/healthz").status == 200);
    break;
  }
}

TEST_CASE("a default HTTP address that is taken only warns: locks are served without HTTP",
          "[config][http-default]") {
  for (int attempt = 1;; ++attempt) {
    const std::uint16_t lock_port = free_port_pair();
    const Listener squatter(static_cast<std::uint16_t>(lock_port + 1));
    if (!squatter.ok() && attempt < 5) continue;
    REQUIRE(squatter.ok());
    RawServer server({"--port", std::to_string(lock_port)});
    if (!server.port && attempt < 5 && contains(server.process.stderr_text(), "in use")) continue;
    INFO(server.process.stderr_text());
    REQUIRE(server.port == lock_port);
    CHECK(serves_locks(lock_port));
    CHECK(server.process.wait_for_stderr("not serving HTTP"));
    CHECK(contains(server.process.stderr_text(), "127.0.0.1:" + std::to_string(lock_port + 1)));
    CHECK(!server.http_port(200ms));
    CHECK(server.process.running());
    server.process.signal(SIGTERM);
    const auto status = server.process.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(0));
    break;
  }
}

TEST_CASE("an HTTP address given explicitly that is taken still exits 2", "[config][http-default]") {
  const Listener squatter;
  REQUIRE(squatter.ok());
  const std::string taken = "127.0.0.1:" + std::to_string(squatter.port());
  SECTION("on the command line") {
    RawServer server({"--port", "0", "--http", taken});
    const auto status = server.process.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
    CHECK(contains(server.process.stderr_text(), "cannot serve HTTP on " + taken));
  }
  SECTION("in the environment") {
    tnl::test::SpawnOptions spawn;
    spawn.env["TCPNETLOCK_SERVER_HTTP"] = taken;
    RawServer server({"--port", "0"}, spawn);
    const auto status = server.process.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
  }
}

TEST_CASE("with --port 0 the default HTTP port is a free one too: two such servers side by side",
          "[config][http-default]") {
  RawServer first({"--port", "0"});
  RawServer second({"--port", "0"});
  INFO(first.process.stderr_text() << second.process.stderr_text());
  REQUIRE(first.port);
  REQUIRE(second.port);
  const auto first_http = first.http_port();
  const auto second_http = second.http_port();
  REQUIRE(first_http);
  REQUIRE(second_http);
  CHECK(*first_http != *second_http);
  CHECK(HttpClient(*first_http).get("/healthz").status == 200);
  CHECK(HttpClient(*second_http).get("/healthz").status == 200);
}

TEST_CASE("options from a config file and the environment reach the running server", "[config]") {
  TempDir dir;
  const auto file = dir.path() / "server.conf";
  std::ofstream(file) << "allow-remote-shutdown = true\nhttp = \"off\"\nlock-delay = 30\n";
  tnl::test::SpawnOptions spawn;
  spawn.env["TCPNETLOCK_SERVER_CONFIG"] = file.string();
  spawn.env["TCPNETLOCK_SERVER_LOCK_DELAY"] = "0";  // over the file: no start grace
  RawServer server({"--port", "0"}, spawn);
  INFO(server.process.stderr_text());
  REQUIRE(server.port);
  CHECK(serves_locks(*server.port));  // granted at once: the environment's lock-delay won
  CHECK(!server.http_port(200ms));         // --http off from the file
  LineClient admin(*server.port);
  CHECK(admin.request(".server-shutdown") == std::optional<std::string>("shutting-down"));  // allowed by the file
  admin.close();
  const auto status = server.process.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));

  std::ofstream(file, std::ios::trunc) << "lock-dealy = 5\n";
  RawServer typo({"--port", "0"}, spawn);
  const auto refused = typo.process.wait_for_exit();
  REQUIRE(refused);
  CHECK(refused->exited(2));
  CHECK(contains(typo.process.stderr_text(), "unknown key 'lock-dealy'"));
}

TEST_CASE("tcpnetlock_server --version", "[config]") {
  auto process = ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--version"});
  const auto status = process.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(process.stdout_text() == tnl::version_line("tcpnetlock_server") + "\n");
}

TEST_CASE("json logs: every stderr line is a JSON object, whatever a client sent", "[config][log]") {
  RawServer server({"--port", "0", "--http", "127.0.0.1:0", "--info", "--log-format", "json"});
  INFO(server.process.stderr_text());
  REQUIRE(server.port);
  const auto http_port = server.http_port();
  REQUIRE(http_port);
  CHECK(serves_locks(*server.port));
  // The Host header is logged as sent when refused: quotes, a backslash, a tab and bytes
  // that are not UTF-8.
  const std::string host = "ev\"il\\\thost\xff\xfe.example";
  const auto reply = HttpClient(*http_port).raw("GET /healthz HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  REQUIRE(reply.connected);
  REQUIRE(server.process.wait_for_stderr("is not a name of this server"));
  server.process.signal(SIGTERM);
  REQUIRE(server.process.wait_for_exit());
  std::istringstream lines(server.process.stderr_text());
  std::string line;
  int count = 0;
  bool saw_host = false;
  bool saw_grant = false;
  while (std::getline(lines, line)) {
    INFO(line);
    ++count;
    nlohmann::json object;
    REQUIRE_NOTHROW(object = nlohmann::json::parse(line));  // the parser refuses invalid UTF-8 too
    CHECK(object.at("logger") == "tcpnetlock_server");
    CHECK(object.at("time").is_string());
    const std::string message = object.at("message");
    if (contains(message, "Host")) {
      saw_host = true;
      CHECK(object.at("level") == "warning");
      CHECK(contains(message, "ev\"il\\\thost\xef\xbf\xbd\xef\xbf\xbd.example"));
    }
    if (contains(message, "granted")) saw_grant = object.at("level") == "info";
  }
  CHECK(count >= 3);
  CHECK(saw_host);
  CHECK(saw_grant);
}

TEST_CASE("under systemd (JOURNAL_STREAM is stderr) lines carry a priority and no timestamp", "[config][log]") {
  TempDir dir;
  const auto log = dir.path() / "journal";
  std::ofstream(log).flush();
  struct stat status {};
  REQUIRE(::stat(log.c_str(), &status) == 0);
  const std::string journal_stream = std::to_string(status.st_dev) + ":" + std::to_string(status.st_ino);
  for (const bool journal : {true, false}) {
    INFO("journal " << journal);
    std::ofstream(log, std::ios::trunc).flush();
    tnl::test::SpawnOptions spawn;
    spawn.env["JOURNAL_STREAM"] = journal ? journal_stream : "1:1";
    // stderr onto the file whose device and inode JOURNAL_STREAM names, as systemd does.
    auto process = ChildProcess::start({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>>" + log.string(),
                                        tnl::test::binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port",
                                        "0", "--http", "off", "--info"},
                                       spawn);
    REQUIRE(tnl::test::wait_until([&] { return contains(tnl::test::read_file(log), "listening on"); }));
    process.signal(SIGTERM);
    REQUIRE(process.wait_for_exit());
    const std::string text = tnl::test::read_file(log);
    INFO(text);
    std::istringstream lines(text);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
      ++count;
      if (journal) {
        CHECK((line.rfind("<6>[info] ", 0) == 0 || line.rfind("<4>[warning] ", 0) == 0));
      } else {
        CHECK(line.rfind("[20", 0) == 0);  // spdlog's "[2024-05-01 12:00:00.123] ..."
      }
    }
    CHECK(count >= 2);
  }
}

TEST_CASE("TCPNETLOCK_TEST_DEFER_BACKEND: a bad value refuses to start, a good one serves and warns of its test-only mode",
          "[config][deferred]") {
  constexpr const char* variable = "TCPNETLOCK_TEST_DEFER_BACKEND";
  SECTION("a bad value: exit 2, naming the variable") {
    const std::string value = GENERATE(as<std::string>{}, "x", "-1", "2:", ":5", "2:x", "1.5", "60001");
    INFO(value);
    tnl::test::SpawnOptions spawn;
    spawn.env[variable] = value;
    RawServer server({"--port", "0", "--http", "off"}, spawn);
    const auto status = server.process.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
    CHECK(contains(server.process.stderr_text(), std::string(variable) + "=" + value + ": expected MAX_MS or MAX_MS:SEED"));
  }
  SECTION("a good value: it serves, and says it runs in a test-only mode, with its seed") {
    tnl::test::SpawnOptions spawn;
    spawn.env[variable] = "3:77";
    RawServer server({"--port", "0", "--http", "off"}, spawn);
    REQUIRE(server.port);
    CHECK(serves_locks(*server.port));
    CHECK(contains(server.process.stderr_text(), "TEST-ONLY MODE"));
    CHECK(contains(server.process.stderr_text(), "seed 77"));
  }
  SECTION("empty: the normal mode") {
    tnl::test::SpawnOptions spawn;
    spawn.env[variable] = "";
    RawServer server({"--port", "0", "--http", "off"}, spawn);
    REQUIRE(server.port);
    CHECK(serves_locks(*server.port));
    CHECK_FALSE(contains(server.process.stderr_text(), "TEST-ONLY"));
  }
}

}  // namespace TNL_UNITY_ID
