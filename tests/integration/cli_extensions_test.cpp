// The clients' extensions against the real server: --wait (and --timeout, --nowait,
// TCPNETLOCK_WAIT), --fencing, --limit, --reason, the lost-lock handling of tcpnetlock_do
// and the status line shown while waiting on a terminal.
#include <signal.h>
#include <sys/types.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "cli_helpers.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
namespace fs = std::filesystem;

namespace {

/// The `.locks,name:NAME` answer (without its "locks," prefix); empty on failure.
std::string locks_json(const ServerProcess& server, const std::string& name) {
  LineClient query(server.port());
  const auto answer = query.request(".locks,name:" + name);
  if (!answer || answer->rfind("locks,", 0) != 0) return {};
  return answer->substr(6);
}

/// True once the server reports exactly `n` waiters for `name`.
bool waiters_are(const ServerProcess& server, const std::string& name, int n) {
  return wait_until([&] { return locks_json(server, name).find("\"waiters\":" + std::to_string(n)) != std::string::npos; });
}

/// Pids written one per line into `file`.
std::vector<pid_t> read_pids(const fs::path& file) {
  std::istringstream in(read_file(file));
  std::vector<pid_t> pids;
  for (pid_t pid = 0; in >> pid;) pids.push_back(pid);
  return pids;
}

/// A --shell command that starts a grandchild (`sleep 300 &`), writes its own pid and the
/// grandchild's to `dir/pids`, creates `dir/ready` and waits. `prelude` runs first.
std::string family(const TempDir& dir, const std::string& prelude = "") {
  const std::string d = dir.path().string();
  return prelude + "sleep 300 & echo $$ > '" + d + "/pids.tmp'; echo $! >> '" + d + "/pids.tmp'; mv '" + d +
         "/pids.tmp' '" + d + "/pids'; touch '" + d + "/ready'; while :; do sleep 0.05; done";
}

/// Waits for `dir/pids` with two live processes and returns them.
std::vector<pid_t> family_pids(const TempDir& dir) {
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  const auto pids = read_pids(dir.path() / "pids");
  REQUIRE(pids.size() == 2);
  CHECK(alive(pids[0]));
  CHECK(alive(pids[1]));
  return pids;
}

bool all_gone(const std::vector<pid_t>& pids) {
  return wait_until([&] {
    for (pid_t pid : pids) {
      if (alive(pid)) return false;
    }
    return true;
  });
}

}  // namespace

TEST_CASE("do: --wait queues behind the holder and runs right after the release", "[cli][do][wait]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:queued") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(do_argv(server, {"--wait", "30", "--lock-name", "queued", "touch", marker.string()}),
                               clean_env());
  REQUIRE(waiters_are(server, "queued", 1));
  CHECK_FALSE(fs::exists(marker));
  CHECK(p.running());
  holder.reset();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(fs::exists(marker));
  CHECK(p.stderr_text().empty());  // no status line: stderr is not a terminal
}

TEST_CASE("do: --nowait and --wait 0 are not-granted at once", "[cli][do][wait]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
  const auto args = GENERATE(std::vector<std::string>{"--nowait"}, std::vector<std::string>{"--wait", "0"});
  std::vector<std::string> argv = args;
  argv.insert(argv.end(), {"--lock-name", "busy", "true"});
  // With TCPNETLOCK_WAIT set, --nowait and --wait 0 still win.
  auto p = ChildProcess::start(do_argv(server, argv), clean_env({{"TCPNETLOCK_WAIT", "60"}}));
  const auto status = p.wait_for_exit(5s);
  REQUIRE(status);
  CHECK(status->exited(123));
  CHECK(p.stderr_text().find("lock 'busy' not granted") != std::string::npos);
}

TEST_CASE("do: a wait that runs out is not-granted (123), --timeout is --wait", "[cli][do][wait]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
  const std::string option = GENERATE(std::string("--wait"), std::string("--timeout"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  const auto start = std::chrono::steady_clock::now();
  auto p = ChildProcess::start(do_argv(server, {option, "0.3", "--lock-name", "busy", "touch", marker.string()}),
                               clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(123));
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("do: --retry retries after a wait ran out", "[cli][do][wait]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:rewait") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(
      do_argv(server, {"--info", "--wait", "0.05", "--retry", "1000", "--retry-wait", "0", "--lock-name", "rewait", "true"}),
      clean_env());
  REQUIRE(wait_until([&] { return count(p.stderr_text(), "not granted;") >= 2; }));
  holder.reset();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("do: TCPNETLOCK_WAIT is the default wait", "[cli][do][wait]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:envwait") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "envwait", "true"}),
                               clean_env({{"TCPNETLOCK_WAIT", "inf"}}));
  REQUIRE(waiters_are(server, "envwait", 1));
  holder.reset();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("do: invalid extension options exit 2", "[cli][do][wait]") {
  const auto args = GENERATE(std::vector<std::string>{"--wait", "-1"}, std::vector<std::string>{"--wait", "soon"},
                             std::vector<std::string>{"--limit", "0"}, std::vector<std::string>{"--reason", "a,b"},
                             std::vector<std::string>{"--on-lost", "ignore"},
                             std::vector<std::string>{"--kill-grace", "x"});
  std::vector<std::string> argv{binary("tcpnetlock_do")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("true");
  auto p = ChildProcess::start(argv, clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(2));
}

TEST_CASE("do: --fencing gives the command TCPNETLOCK_TOKEN and TCPNETLOCK_LOCK_NAME, tokens rise", "[cli][do]") {
  ServerProcess server;
  const auto run = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = extra;
    args.insert(args.end(), {"--lock-name", "fenced", "--shell",
                             "echo \"${TCPNETLOCK_LOCK_NAME-unset} ${TCPNETLOCK_TOKEN-unset}\""});
    // An outer tcpnetlock_do's token must not leak into a command without --fencing.
    auto p = ChildProcess::start(do_argv(server, args), clean_env({{"TCPNETLOCK_TOKEN", "999"}}));
    const auto status = p.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(0));
    return p.stdout_text();
  };
  const auto token_of = [](const std::string& out) {
    REQUIRE(out.rfind("fenced ", 0) == 0);
    const std::string digits = out.substr(7, out.size() - 8);
    REQUIRE(!digits.empty());
    REQUIRE(digits.find_first_not_of("0123456789") == std::string::npos);
    return std::stoull(digits);
  };
  const auto first = token_of(run({"--fencing"}));
  const auto second = token_of(run({"--fencing"}));
  CHECK(first > 0);
  CHECK(second > first);
  CHECK(run({}) == "fenced unset\n");
}

TEST_CASE("do: --limit 2 lets two commands run at once, a third waits", "[cli][do][limit]") {
  ServerProcess server;
  TempDir dir;
  std::vector<ChildProcess> processes;
  for (int i = 0; i < 3; ++i) {
    processes.push_back(ChildProcess::start(
        do_argv(server, {"--limit", "2", "--wait", "30", "--lock-name", "pool", "--shell",
                         ready_then_wait_for_go(dir, std::to_string(i))}),
        clean_env()));
    if (i < 2) REQUIRE(wait_until([&] { return fs::exists(dir.path() / ("ready" + std::to_string(i))); }));
  }
  REQUIRE(waiters_are(server, "pool", 1));
  CHECK_FALSE(fs::exists(dir.path() / "ready2"));
  touch(dir.path() / "go");
  for (auto& p : processes) {
    const auto status = p.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(0));
  }
  CHECK(fs::exists(dir.path() / "ready2"));
}

TEST_CASE("do and client: a limit mismatch is an error with the server's text", "[cli][limit]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:sem,limit:3") == std::optional<std::string>("ok"));
  auto d = ChildProcess::start(do_argv(server, {"--limit", "2", "--lock-name", "sem", "true"}), clean_env());
  auto c = ChildProcess::start(client_argv(server, {"--limit", "2", "sem"}), clean_env());
  const auto d_status = d.wait_for_exit();
  const auto c_status = c.wait_for_exit();
  REQUIRE(d_status);
  REQUIRE(c_status);
  CHECK(d_status->exited(124));
  CHECK(c_status->exited(4));
  CHECK(d.stderr_text().find("limit mismatch") != std::string::npos);
  CHECK(c.stderr_text().find("limit mismatch") != std::string::npos);
}

TEST_CASE("do and client: --reason and TCPNETLOCK_REASON show in .locks", "[cli][reason]") {
  ServerProcess server;
  TempDir dir;
  auto d = ChildProcess::start(
      do_argv(server, {"--client-id", "ci-7", "--reason", "deploy 42", "--lock-name", "why", "--shell",
                       ready_then_wait_for_go(dir)}),
      clean_env());
  auto c = ChildProcess::start(client_argv(server, {"why-too"}), clean_env({{"TCPNETLOCK_REASON", "from env"}}));
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  const std::string json = locks_json(server, "why");
  CHECK(json.find("\"reason\":\"deploy 42\"") != std::string::npos);
  CHECK(json.find("\"client_id\":\"ci-7\"") != std::string::npos);
  REQUIRE(wait_until([&] { return locks_json(server, "why-too").find("\"reason\":\"from env\"") != std::string::npos; }));
  touch(dir.path() / "go");
  REQUIRE(d.wait_for_exit());
  CHECK(d.wait_for_exit()->exited(0));
  c.signal(SIGTERM);
  REQUIRE(c.wait_for_exit());
}

TEST_CASE("do: the command's process group is killed when the server shuts down under it", "[cli][do][lost]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "doomed", "--shell", family(dir)}), clean_env());
  const auto pids = family_pids(dir);
  server.stop();  // SIGTERM: the server sends `shutting-down` to every holder
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("tcpnetlock_do: lost lock 'doomed': server is shutting down; terminating the command") !=
        std::string::npos);
  CHECK(all_gone(pids));  // the grandchild too
}

TEST_CASE("do: the command is killed when the connection breaks (server SIGKILLed)", "[cli][do][lost]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "broken", "--shell", family(dir)}), clean_env());
  const auto pids = family_pids(dir);
  server.process().signal(SIGKILL);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("lost lock 'broken'") != std::string::npos);
  CHECK(all_gone(pids));
}

TEST_CASE("do: lost,holder timeout kills the command, keepalives (the default) prevent it", "[cli][do][lost]") {
  ServerProcess server({"--holder-timeout", "0.5"});
  TempDir dir;
  SECTION("--no-keep-alive: the server takes the lock away") {
    auto p = ChildProcess::start(
        do_argv(server, {"--no-keep-alive", "--lock-name", "silent", "--shell", family(dir)}), clean_env());
    const auto pids = family_pids(dir);
    const auto status = p.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(122));
    CHECK(p.stderr_text().find("lost lock 'silent'") != std::string::npos);
    CHECK(p.stderr_text().find("holder timeout") != std::string::npos);
    CHECK(all_gone(pids));
  }
  SECTION("keepalives every 0.1 s keep the lock") {
    auto p = ChildProcess::start(
        do_argv(server, {"--debug", "--keep-alive-secs", "0.1", "--lock-name", "chatty", "--shell",
                         ready_then_wait_for_go(dir)}),
        clean_env());
    REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
    // Well past the holder timeout.
    REQUIRE(wait_until([&] { return count(p.stderr_text(), "keepalive answered") >= 10; }));
    CHECK(p.running());
    touch(dir.path() / "go");
    const auto status = p.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(0));
  }
}

TEST_CASE("do: a command that ignores SIGTERM is SIGKILLed after --kill-grace", "[cli][do][lost]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(
      do_argv(server, {"--kill-grace", "0.5", "--lock-name", "stubborn", "--shell", family(dir, "trap '' TERM; ")}),
      clean_env());
  const auto pids = family_pids(dir);
  const auto start = std::chrono::steady_clock::now();
  server.stop();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(std::chrono::steady_clock::now() - start >= 500ms);
  CHECK(p.stderr_text().find("SIGKILL") != std::string::npos);
  CHECK(all_gone(pids));
}

TEST_CASE("do: twenty --wait 60 processes run their commands one after another", "[cli][do][wait]") {
  ServerProcess server;
  TempDir dir;
  const auto log = dir.path() / "log";
  std::vector<ChildProcess> processes;
  for (int i = 0; i < 20; ++i) {
    const std::string id = std::to_string(i);
    processes.push_back(ChildProcess::start(
        do_argv(server, {"--wait", "60", "--lock-name", "one-by-one", "--shell",
                         "echo start " + id + " >> '" + log.string() + "'; sleep 0.01; echo end " + id + " >> '" +
                             log.string() + "'"}),
        clean_env()));
  }
  for (auto& p : processes) {
    const auto status = p.wait_for_exit(60s);
    REQUIRE(status);
    CHECK(status->exited(0));
  }
  std::istringstream lines(read_file(log));
  std::string kind;
  std::string id;
  std::string open;
  int sections = 0;
  while (lines >> kind >> id) {
    INFO(kind << " " << id);
    if (kind == "start") {
      CHECK(open.empty());  // nobody else inside
      open = id;
      ++sections;
    } else {
      CHECK(open == id);
      open.clear();
    }
  }
  CHECK(sections == 20);
  CHECK(open.empty());
}

TEST_CASE("do: while waiting on a terminal, a status line names the holder and is erased on grant",
          "[cli][do][wait][tty]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:shown,client-id:holder-7,reason:nightly") == std::optional<std::string>("ok"));
  // script(1) runs tcpnetlock_do on a pseudo-terminal and copies what it writes to stdout.
  const std::string command = binary("tcpnetlock_do") + " --host 127.0.0.1 --port " + server.port_string() +
                              " --wait 30 --lock-name shown -- sh -c 'echo command-ran'";
  auto p = ChildProcess::start({"script", "-qfec", command, "/dev/null"}, clean_env());
  REQUIRE(p.wait_for_stdout("holder-7"));
  const std::string waiting = p.stdout_text();
  CHECK(waiting.find("waiting for lock 'shown': held by holder-7@") != std::string::npos);
  CHECK(waiting.find("(reason: nightly), 1 waiting") != std::string::npos);
  CHECK(waiting.find("command-ran") == std::string::npos);
  holder.reset();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  const std::string out = p.stdout_text();
  const auto erased = out.rfind("\r\x1b[K");
  REQUIRE(erased != std::string::npos);
  CHECK(erased > out.rfind("holder-7"));
  CHECK(out.find("command-ran") > erased);  // erased before the command ran
}

TEST_CASE("do: no status line without --wait, even on a terminal", "[cli][do][wait][tty]") {
  ServerProcess server;
  const std::string command = binary("tcpnetlock_do") + " --host 127.0.0.1 --port " + server.port_string() +
                              " --lock-name quiet -- sh -c 'echo command-ran'";
  auto p = ChildProcess::start({"script", "-qfec", command, "/dev/null"}, clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(p.stdout_text() == "command-ran\r\n");
}

TEST_CASE("do: on a terminal the command gets it as its foreground process group", "[cli][do][tty]") {
  ServerProcess server;
  // The command is in its own process group, and that group owns the terminal.
  const std::string command = binary("tcpnetlock_do") + " --host 127.0.0.1 --port " + server.port_string() +
                              " --lock-name fg -- sh -c 'ps -o pgid= -o tpgid= -p $$'";
  auto p = ChildProcess::start({"script", "-qfec", command, "/dev/null"}, clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  std::istringstream fields(p.stdout_text());
  long pgid = 0;
  long tpgid = 0;
  REQUIRE(fields >> pgid >> tpgid);
  CHECK(pgid == tpgid);
}

TEST_CASE("client: --fencing prints token:N, --wait queues, --nowait does not", "[cli][client][wait]") {
  ServerProcess server;
  auto first = ChildProcess::start(client_argv(server, {"--fencing", "tok"}), clean_env());
  REQUIRE(first.wait_for_stdout("\n"));
  const std::string line = first.stdout_text();
  REQUIRE(line.rfind("token:", 0) == 0);
  const auto token = std::stoull(line.substr(6));
  CHECK(token > 0);

  auto nowait = ChildProcess::start(client_argv(server, {"--nowait", "tok"}), clean_env({{"TCPNETLOCK_WAIT", "60"}}));
  REQUIRE(nowait.wait_for_exit());
  CHECK(nowait.wait_for_exit()->exited(123));

  auto second = ChildProcess::start(client_argv(server, {"--fencing", "--timeout", "30", "tok"}), clean_env());
  REQUIRE(waiters_are(server, "tok", 1));
  CHECK(second.stdout_text().empty());
  first.signal(SIGTERM);
  REQUIRE(first.wait_for_exit());
  REQUIRE(second.wait_for_stdout("\n"));
  CHECK(std::stoull(second.stdout_text().substr(6)) > token);
  second.signal(SIGTERM);
  REQUIRE(second.wait_for_exit());
}

TEST_CASE("client: a wait that runs out exits 123", "[cli][client][wait]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:held") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(client_argv(server, {"held"}), clean_env({{"TCPNETLOCK_WAIT", "0.2"}}));
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(123));
  CHECK(p.stderr_text().find("not granted") != std::string::npos);
}

TEST_CASE("client: lost,holder timeout exits 122 naming the reason", "[cli][client][lost]") {
  ServerProcess server({"--holder-timeout", "0.3"});
  auto p = ChildProcess::start(client_argv(server, {"quiet"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("holder timeout") != std::string::npos);
}

TEST_CASE("a tcpnetlock_do killed with SIGKILL takes its command down with it", "[do][lost]") {
  ServerProcess server;
  tnl::test::TempDir dir;
  const auto pid_file = dir.path() / "pid";
  // `exec` so that the command's process is the sleeping one.
  auto holder = ChildProcess::start({tnl::test::binary("tcpnetlock_do"), "--host", "127.0.0.1", "--port",
                                     server.port_string(), "--lock-name", "pdeath", "--shell", "--",
                                     "echo $$ > '" + pid_file.string() + "'; exec sleep 300"});
  REQUIRE(tnl::test::wait_until([&] { return !tnl::test::read_file(pid_file).empty(); }));
  const pid_t command = std::stoi(tnl::test::read_file(pid_file));
  holder.signal(SIGKILL);
  REQUIRE(holder.wait_for_exit());
  // The guardian ends the command (SIGTERM), then lets the lock go: the command is gone
  // rather than running unguarded by the time the next holder has the lock.
  LineClient next(server.port());
  CHECK(next.request("lock,name:pdeath,wait:10") == "ok");
  CHECK_FALSE(alive(command));
}

}  // namespace TNL_UNITY_ID
