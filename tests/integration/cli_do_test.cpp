// tcpnetlock_do against the real server, with real child commands.
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "cli_helpers.hpp"
#include "line_client.hpp"
#include "lock_name.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
namespace fs = std::filesystem;

TEST_CASE("do: passes the command's exit status and output through", "[cli][do]") {
  ServerProcess server;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "t1", "--", "sh", "-c", "echo out; echo err >&2; exit 7"}),
                               clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(7));
  CHECK(p.stdout_text() == "out\n");
  CHECK(p.stderr_text() == "err\n");  // nothing of ours at the default log level
}

TEST_CASE("do: success is 0 and the lock is free afterwards", "[cli][do]") {
  ServerProcess server;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "t2", "true"}), clean_env());
  REQUIRE(p.wait_for_exit());
  CHECK(p.wait_for_exit()->exited(0));
  CHECK(lock_is_free(server.port(), "t2"));
}

TEST_CASE("do: --shell runs a pipeline through /bin/sh -c", "[cli][do]") {
  ServerProcess server;
  auto p = ChildProcess::start(do_argv(server, {"--shell", "echo hi | tr a-z A-Z"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(p.stdout_text() == "HI\n");
}

TEST_CASE("do: stdin is inherited", "[cli][do]") {
  ServerProcess server;
  SpawnOptions options = clean_env();
  options.stdin_data = "from stdin\n";
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "t3", "cat"}), options);
  REQUIRE(p.wait_for_exit());
  CHECK(p.wait_for_exit()->exited(0));
  CHECK(p.stdout_text() == "from stdin\n");
}

TEST_CASE("do: --shell with more than one COMMAND word is an invalid option", "[cli][do]") {
  ServerProcess server;
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(do_argv(server, {"--shell", "touch", marker.string()}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(2));
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("do: invalid options exit 2, --help exits 0", "[cli][do]") {
  ServerProcess server;
  SECTION("unknown option") {
    auto p = ChildProcess::start(do_argv(server, {"--no-such-option", "true"}), clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("no command") {
    auto p = ChildProcess::start(do_argv(server, {"--lock-name", "x"}), clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("no lock name can be derived") {
    auto p = ChildProcess::start(do_argv(server, {"--", "..."}), clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
    CHECK(p.stderr_text().find("--lock-name") != std::string::npos);
  }
  SECTION("invalid lock name") {
    auto p = ChildProcess::start(do_argv(server, {"--lock-name", "a b", "true"}), clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("invalid client id") {
    auto p = ChildProcess::start(do_argv(server, {"--client-id", "a b", "true"}), clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("port out of range") {
    auto p = ChildProcess::start({binary("tcpnetlock_do"), "--port", "70000", "true"}, clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
  SECTION("--help") {
    auto p = ChildProcess::start({binary("tcpnetlock_do"), "--help"}, clean_env());
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(0));
    CHECK(p.stdout_text().find("--retry-wait") != std::string::npos);
  }
}

TEST_CASE("do: not granted exits 123 without running the command", "[cli][do]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "busy", "touch", marker.string()}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(123));
  CHECK(p.stderr_text().find("ERROR: lock 'busy' not granted by server") != std::string::npos);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("do: --retry gets the lock once the holder lets go", "[cli][do]") {
  ServerProcess server;
  auto holder = std::make_unique<LineClient>(server.port());
  REQUIRE(holder->request("lock,name:retried") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(
      do_argv(server, {"--info", "--retry", "1000", "--retry-wait", "0.02", "--lock-name", "retried", "touch",
                       marker.string()}),
      clean_env());
  // Let it be refused at least twice, then release the lock.
  REQUIRE(wait_until([&] { return count(p.stderr_text(), "not granted;") >= 2; }));
  CHECK_FALSE(fs::exists(marker));
  holder.reset();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(fs::exists(marker));
}

TEST_CASE("do: --retry N tries N more times, then exits 123", "[cli][do]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:exhausted") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(
      do_argv(server, {"--info", "--retry", "3", "--retry-wait", "0.01", "--lock-name", "exhausted", "true"}),
      clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(123));
  CHECK(count(p.stderr_text(), "not granted;") == 3);  // one log line per retry
  CHECK(p.stderr_text().find("ERROR: lock 'exhausted' not granted by server") != std::string::npos);
}

TEST_CASE("do: connection refused exits 125", "[cli][do]") {
  RefusingPort port;
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(at_port("tcpnetlock_do", port.port_string(), {"touch", marker.string()}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(125));
  CHECK(p.stderr_text().find("refused") != std::string::npos);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("do: command not found exits 127 and releases the lock", "[cli][do]") {
  ServerProcess server;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "nf", "no-such-command-tnl-test"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(127));
  CHECK(p.stderr_text().find("ERROR: command not found: 'no-such-command-tnl-test'") != std::string::npos);
  CHECK(wait_until([&] { return lock_is_free(server.port(), "nf"); }));
}

TEST_CASE("do: a command that cannot be executed exits 124", "[cli][do]") {
  ServerProcess server;
  TempDir dir;
  const auto script = dir.path() / "not-executable.sh";
  std::ofstream{script} << "#!/bin/sh\nexit 0\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "ne", script.string()}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(124));
}

TEST_CASE("do: a command exiting 127 itself is not 'command not found'", "[cli][do]") {
  ServerProcess server;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "own127", "--", "sh", "-c", "exit 127"}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(127));
  CHECK(p.stderr_text().find("command not found") == std::string::npos);
}

TEST_CASE("do: the lock is held while the command runs and released right after", "[cli][do]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "guarded", "--shell", ready_then_wait_for_go(dir)}), clean_env());
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  {
    LineClient contender(server.port());
    CHECK(contender.request("lock,name:guarded") == std::optional<std::string>("not-granted"));
  }
  touch(dir.path() / "go");
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  // tcpnetlock_do waited for `released`, so the lock is free now, not eventually.
  CHECK(lock_is_free(server.port(), "guarded"));
}

TEST_CASE("do: the lock name is derived from the command", "[cli][do]") {
  ServerProcess server;
  TempDir dir;
  const std::vector<std::string> command{"sh", "-c", ready_then_wait_for_go(dir)};
  const std::string derived = tnl::lock_name_from_command(command);
  REQUIRE_FALSE(derived.empty());
  std::vector<std::string> args{"--"};
  args.insert(args.end(), command.begin(), command.end());
  auto p = ChildProcess::start(do_argv(server, args), clean_env());
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  {
    LineClient contender(server.port());
    CHECK(contender.request("lock,name:" + derived) == std::optional<std::string>("not-granted"));
  }
  touch(dir.path() / "go");
  REQUIRE(p.wait_for_exit());
  CHECK(p.wait_for_exit()->exited(0));
}

TEST_CASE("do: the contract's derivation example", "[cli][do]") {
  // "./manage.py migrate" -> "__manage_py_migrate" -> "manage_py_migrate"
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:manage_py_migrate") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(do_argv(server, {"./manage.py", "migrate"}), clean_env());
  REQUIRE(p.wait_for_exit());
  CHECK(p.wait_for_exit()->exited(123));
  CHECK(p.stderr_text().find("lock 'manage_py_migrate'") != std::string::npos);
}

TEST_CASE("do: TCPNETLOCK_HOST, TCPNETLOCK_PORT and TCPNETLOCK_CLIENT_ID are the defaults", "[cli][do]") {
  SECTION("host and port from the environment") {
    ServerProcess server;
    auto p = ChildProcess::start({binary("tcpnetlock_do"), "--lock-name", "env", "true"},
                                 clean_env({{"TCPNETLOCK_HOST", "127.0.0.1"}, {"TCPNETLOCK_PORT", server.port_string()}}));
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(0));
  }
  SECTION("options win over the environment") {
    ServerProcess server;
    RefusingPort refusing;
    auto p = ChildProcess::start(do_argv(server, {"--lock-name", "env", "true"}),
                                 clean_env({{"TCPNETLOCK_HOST", "localhost"}, {"TCPNETLOCK_PORT", refusing.port_string()}}));
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(0));
  }
  SECTION("the environment's port is used (refused there)") {
    RefusingPort refusing;
    auto p = ChildProcess::start({binary("tcpnetlock_do"), "--lock-name", "env", "true"},
                                 clean_env({{"TCPNETLOCK_HOST", "127.0.0.1"}, {"TCPNETLOCK_PORT", refusing.port_string()}}));
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(125));
  }
  SECTION("client id sent to the server") {
    FakeServer fake({"ok", "released"});
    auto p = ChildProcess::start({binary("tcpnetlock_do"), "--lock-name", "env", "true"},
                                 clean_env({{"TCPNETLOCK_HOST", "127.0.0.1"},
                                            {"TCPNETLOCK_PORT", fake.port_string()},
                                            {"TCPNETLOCK_CLIENT_ID", "ci-runner@host.example"}}));
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(0));
    const auto requests = fake.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0] == "lock,name:env,client-id:ci-runner@host.example");
    CHECK(requests[1] == "release");
  }
  SECTION("an invalid client id from the environment is an invalid option") {
    ServerProcess server;
    auto p = ChildProcess::start(do_argv(server, {"--lock-name", "env", "true"}),
                                 clean_env({{"TCPNETLOCK_CLIENT_ID", "not valid!"}}));
    REQUIRE(p.wait_for_exit());
    CHECK(p.wait_for_exit()->exited(2));
  }
}

TEST_CASE("do: forwards SIGTERM, SIGINT and SIGHUP to the command", "[cli][do]") {
  const auto [sig, name] = GENERATE(std::pair{SIGTERM, "TERM"}, std::pair{SIGINT, "INT"}, std::pair{SIGHUP, "HUP"});
  ServerProcess server;
  TempDir dir;
  const std::string d = dir.path().string();
  // The trap runs between two short sleeps; the command then exits 3 on its own.
  const std::string script = std::string("trap 'echo got > \"") + d + "/marker\"; exit 3' " + name + "; touch '" + d +
                             "/ready'; while :; do sleep 0.01; done";
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "sig", "--shell", script}), clean_env());
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  p.signal(sig);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(3));
  CHECK(read_file(dir.path() / "marker") == "got\n");
  CHECK(lock_is_free(server.port(), "sig"));
}

TEST_CASE("do: exits 128+N when the command dies of signal N", "[cli][do]") {
  const int sig = GENERATE(SIGTERM, SIGINT, SIGHUP);
  ServerProcess server;
  TempDir dir;
  // exec: the signal goes straight to sleep, which dies of it.
  const std::string script = "touch '" + dir.path().string() + "/ready'; exec sleep 60";
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "dies", "--shell", script}), clean_env());
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  p.signal(sig);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(128 + sig));
  CHECK(lock_is_free(server.port(), "dies"));
}

TEST_CASE("do: a signal before the command starts exits 124", "[cli][do]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:early") == std::optional<std::string>("ok"));
  TempDir dir;
  const auto marker = dir.path() / "ran";
  auto p = ChildProcess::start(
      do_argv(server, {"--info", "--retry", "100", "--retry-wait", "60", "--lock-name", "early", "touch", marker.string()}),
      clean_env());
  REQUIRE(p.wait_for_stderr("not granted;"));  // now waiting 60 s before the next try
  p.signal(SIGTERM);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(124));
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("do: --keep-alive sends keepalives while the command runs", "[cli][do]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(
      do_argv(server, {"--debug", "--keep-alive", "--keep-alive-secs", "0.1", "--lock-name", "ka", "--shell",
                       ready_then_wait_for_go(dir)}),
      clean_env());
  REQUIRE(wait_until([&] { return count(p.stderr_text(), "keepalive answered") >= 3; }));
  touch(dir.path() / "go");
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(p.stderr_text().find("lock 'ka' released") != std::string::npos);
}

TEST_CASE("do: --on-lost warn reports a lost lock and lets the command finish", "[cli][do]") {
  ServerProcess server;
  TempDir dir;
  auto p = ChildProcess::start(
      do_argv(server, {"--on-lost", "warn", "--lock-name", "lost", "--shell", ready_then_wait_for_go(dir)}), clean_env());
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  server.stop();
  REQUIRE(p.wait_for_stderr("lost lock 'lost'"));
  CHECK(p.running());  // the command is left to finish
  touch(dir.path() / "go");
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
}

TEST_CASE("do: the short name tnl_do works", "[cli][do]") {
  ServerProcess server;
  auto p = ChildProcess::start(at_port("tnl_do", server.port_string(), {"--lock-name", "short", "--", "sh", "-c", "exit 5"}),
                               clean_env());
  REQUIRE(p.wait_for_exit());
  CHECK(p.wait_for_exit()->exited(5));
}

TEST_CASE("do: a keepalive unanswered for --keep-alive-timeout stops the command (exit 122)", "[cli][do][keepalive]") {
  // The server granted the lock and went silent: after its lock-delay it may hand the lock
  // on, so the command must be stopped within keep-alive-secs + keep-alive-timeout + kill-grace.
  FakeServer fake({"ok"});
  TempDir dir;
  const std::string ticks = (dir.path() / "ticks").string();
  auto p = ChildProcess::start({binary("tcpnetlock_do"), "--host", "127.0.0.1", "--port", fake.port_string(),
                                "--lock-name", "silent", "--keep-alive-secs", "0.2", "--keep-alive-timeout", "0.5",
                                "--kill-grace", "0.2", "--shell", "while :; do echo t >> '" + ticks + "'; sleep 0.05; done"},
                               clean_env());
  const auto status = p.wait_for_exit(std::chrono::seconds(20));
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("no answer to keepalive") != std::string::npos);
  CHECK(std::filesystem::file_size(ticks) > 0);  // it ran until then (its end: the guardian tests)
}

}  // namespace TNL_UNITY_ID
