// tcpnetlock_do's steps one by one (client/do_*.hpp, lock_watch.hpp), against a scripted
// fake server where one is needed: taking the lock, what the guardian is told, how a
// guarded run ends, watching the lock, releasing it and the exit code that follows.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <asio/steady_timer.hpp>

#include "do_acquire.hpp"
#include "do_command.hpp"
#include "do_options.hpp"
#include "do_release.hpp"
#include "do_signals.hpp"
#include "fake_server.hpp"
#include "io_run.hpp"
#include "lock_client.hpp"
#include "lock_watch.hpp"
#include "refusing_port.hpp"
#include "scoped_env.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockClient;
using tnl::LockResult;
using tnl::test::FakeServer;
using tnl::test::RefusingPort;
using tnl::test::run_until;
using namespace tnl::cli;
using namespace std::chrono_literals;

namespace {


/// Runs `io` for `duration` (whatever it does meanwhile).
void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    if (io.run_one_for(10ms) == 0) std::this_thread::sleep_for(1ms);
  }
}

/// Options of `tcpnetlock_do --host 127.0.0.1 --port PORT --name NAME true`.
DoOptions options_for(const std::string& port, const std::string& name = "job") {
  DoOptions options;
  options.host = "127.0.0.1";
  options.port = static_cast<std::uint16_t>(std::stoul(port));
  options.lock_name = name;
  options.command = {"true"};
  return options;
}

}  // namespace

// --- Signals ---------------------------------------------------------------------------

TEST_CASE("do: SignalRouter hands each signal to the current step, or drops it", "[client][do]") {
  asio::io_context io;
  SignalRouter signals(io, {SIGUSR1});
  std::vector<int> first;
  std::vector<int> second;
  signals.route([&](int sig) { first.push_back(sig); });
  ::raise(SIGUSR1);
  REQUIRE(run_until(io, [&] { return first.size() == 1; }));
  CHECK(first == std::vector<int>{SIGUSR1});

  signals.route([&](int sig) { second.push_back(sig); });
  ::raise(SIGUSR1);
  REQUIRE(run_until(io, [&] { return second.size() == 1; }));
  CHECK(first.size() == 1);

  // Dropped, and the router still listens afterwards.
  signals.route(nullptr);
  ::raise(SIGUSR1);
  run_for(io, 50ms);
  signals.route([&](int sig) { second.push_back(sig); });
  ::raise(SIGUSR1);
  REQUIRE(run_until(io, [&] { return second.size() == 2; }));
  CHECK(first.size() == 1);
}

// --- 1. Taking the lock ----------------------------------------------------------------

TEST_CASE("do: acquire_lock returns the grant, with the plain request", "[client][do]") {
  FakeServer fake({"ok"});
  asio::io_context io;
  SignalRouter signals(io, {});
  LockClient client(io);
  const auto acquired = acquire_lock(io, client, options_for(fake.port_string(), "deploy"), signals);
  REQUIRE(std::holds_alternative<LockResult>(acquired));
  CHECK(std::get<LockResult>(acquired).granted);
  CHECK_FALSE(std::get<LockResult>(acquired).token);
  CHECK(client.is_open());
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:deploy"});
}

TEST_CASE("do: acquire_lock passes on a fencing token", "[client][do]") {
  FakeServer fake({"ok,token:17"});
  asio::io_context io;
  SignalRouter signals(io, {});
  LockClient client(io);
  DoOptions options = options_for(fake.port_string());
  options.lock.fencing = true;
  options.client_id = "ci";
  const auto acquired = acquire_lock(io, client, options, signals);
  REQUIRE(std::holds_alternative<LockResult>(acquired));
  CHECK(std::get<LockResult>(acquired).token == std::optional<std::uint64_t>(17));
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:job,client-id:ci,fencing:1"});
}

TEST_CASE("do: acquire_lock exit codes: not granted 123 (or -E), refused 125, err 124", "[client][do]") {
  asio::io_context io;
  SignalRouter signals(io, {});
  LockClient client(io);
  SECTION("not granted") {
    FakeServer fake({"not-granted"});
    const auto acquired = acquire_lock(io, client, options_for(fake.port_string()), signals);
    REQUIRE(std::holds_alternative<int>(acquired));
    CHECK(std::get<int>(acquired) == do_exit::not_granted);
  }
  SECTION("not granted, with -E 1") {
    FakeServer fake({"not-granted"});
    DoOptions options = options_for(fake.port_string());
    options.lock.conflict_exit_code = 1;
    const auto acquired = acquire_lock(io, client, options, signals);
    REQUIRE(std::holds_alternative<int>(acquired));
    CHECK(std::get<int>(acquired) == 1);
  }
  SECTION("refused") {
    RefusingPort refusing;
    const auto acquired = acquire_lock(io, client, options_for(refusing.port_string()), signals);
    REQUIRE(std::holds_alternative<int>(acquired));
    CHECK(std::get<int>(acquired) == do_exit::refused);
  }
  SECTION("an err answer") {
    FakeServer fake({"err,limit mismatch"});
    const auto acquired = acquire_lock(io, client, options_for(fake.port_string()), signals);
    REQUIRE(std::holds_alternative<int>(acquired));
    CHECK(std::get<int>(acquired) == do_exit::cannot_run);
  }
  CHECK_FALSE(client.is_open());
}

TEST_CASE("do: acquire_lock with the lock lost right after the grant exits 122", "[client][do]") {
  FakeServer fake({"ok\nlost,holder timeout"});
  asio::io_context io;
  SignalRouter signals(io, {});
  LockClient client(io);
  // The fake writes both lines in one write: the lost line is there with the grant.
  const auto acquired = acquire_lock(io, client, options_for(fake.port_string()), signals);
  REQUIRE(std::holds_alternative<int>(acquired));
  CHECK(std::get<int>(acquired) == do_exit::lock_lost);
  CHECK_FALSE(client.is_open());
}

TEST_CASE("do: a signal while waiting for the lock ends acquire_lock with 124", "[client][do]") {
  FakeServer fake({});  // never answers: the request waits
  asio::io_context io;
  SignalRouter signals(io, {SIGUSR1});
  LockClient client(io);
  DoOptions options = options_for(fake.port_string());
  options.lock.wait_seconds = std::nullopt;  // wait:inf
  // The signal is raised once the request is out (from the io_context, as a signal would).
  asio::steady_timer later(io);
  std::function<void(const asio::error_code&)> poll = [&](const asio::error_code&) {
    if (fake.requests().empty()) {
      later.expires_after(5ms);
      later.async_wait(poll);
    } else {
      ::raise(SIGUSR1);
    }
  };
  later.expires_after(5ms);
  later.async_wait(poll);
  const auto acquired = acquire_lock(io, client, options, signals);
  REQUIRE(std::holds_alternative<int>(acquired));
  CHECK(std::get<int>(acquired) == do_exit::cannot_run);
  CHECK_FALSE(client.is_open());
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:job,wait:inf"});
}

// --- 2. Running the command ------------------------------------------------------------

TEST_CASE("do: guardian_options follows --on-lost, --kill-grace and --leave-background", "[client][do]") {
  DoOptions options;
  options.command = {"make", "-j2"};
  options.kill_grace = 2.5;
  const tnl::CommandLineArea area{};
  SECTION("by default a lost lock ends the command") {
    const auto guardian = guardian_options(options, 7, area, {SIGINT});
    CHECK(guardian.argv == std::vector<std::string>{"make", "-j2"});
    CHECK(guardian.terminal_fd == STDIN_FILENO);
    CHECK(guardian.inherited_ignored == std::vector<int>{SIGINT});
    CHECK(guardian.kill_command_with_guardian);
    CHECK(guardian.end_on_lost);
    CHECK(guardian.kill_grace == 2500ms);
    CHECK_FALSE(guardian.leave_background);
    CHECK(guardian.lock_fd == 7);
  }
  SECTION("--on-lost warn leaves it running, --leave-background its jobs") {
    options.on_lost = "warn";
    options.leave_background = true;
    const auto guardian = guardian_options(options, -1, area, {});
    CHECK_FALSE(guardian.kill_command_with_guardian);
    CHECK_FALSE(guardian.end_on_lost);
    CHECK(guardian.leave_background);
    CHECK(guardian.lock_fd == -1);
  }
  SECTION("--shell runs the command through /bin/sh -c") {
    options.shell = true;
    options.command = {"echo hi"};
    CHECK(guardian_options(options, 3, area, {}).argv == command_argv(options));
    CHECK(command_argv(options).front() == "/bin/sh");
  }
}

TEST_CASE("do: export_lock_environment sets the name and the token, or removes an inherited token",
          "[client][do]") {
  tnl::test::ScopedEnv env({{"TCPNETLOCK_LOCK_NAME", std::nullopt}, {"TCPNETLOCK_TOKEN", "99"}});
  export_lock_environment("deploy", 12);
  CHECK(std::string(::getenv("TCPNETLOCK_LOCK_NAME")) == "deploy");
  CHECK(std::string(::getenv("TCPNETLOCK_TOKEN")) == "12");
  export_lock_environment("other", std::nullopt);
  CHECK(std::string(::getenv("TCPNETLOCK_LOCK_NAME")) == "other");
  CHECK(::getenv("TCPNETLOCK_TOKEN") == nullptr);
}

TEST_CASE("do: early_exit maps how a guarded run ended to the exit codes", "[client][do]") {
  GuardedOutcome outcome;
  SECTION("not found is 127, other exec errors 124") {
    outcome.exec_error = ENOENT;
    auto end = early_exit(outcome, "nosuch");
    REQUIRE(end);
    CHECK(end->code == do_exit::command_not_found);
    CHECK(end->message == "command not found: 'nosuch'");
    outcome.exec_error = EACCES;
    end = early_exit(outcome, "./script");
    REQUIRE(end);
    CHECK(end->code == do_exit::cannot_run);
    CHECK(end->message == "cannot run './script': Permission denied");
  }
  SECTION("terminated for a lost lock is 122, even if the guardian died too") {
    outcome.terminated_for_lost = true;
    outcome.lost = "server closed the connection";
    outcome.guardian_died = -1;
    const auto end = early_exit(outcome, "cmd");
    REQUIRE(end);
    CHECK(end->code == do_exit::lock_lost);
    CHECK(end->message.empty());
  }
  SECTION("a dead guardian, or no status, is 124") {
    outcome.status = 0;
    outcome.guardian_died = 9;
    auto end = early_exit(outcome, "cmd");
    REQUIRE(end);
    CHECK(end->code == do_exit::cannot_run);
    outcome.guardian_died.reset();
    outcome.status.reset();
    end = early_exit(outcome, "cmd");
    REQUIRE(end);
    CHECK(end->code == do_exit::cannot_run);
  }
  SECTION("a command that ran to its end: none (also when the lock was lost with --on-lost warn)") {
    outcome.status = 3 << 8;
    CHECK_FALSE(early_exit(outcome, "cmd"));
    outcome.lost = "lost,released by admin";
    CHECK_FALSE(early_exit(outcome, "cmd"));
  }
}

// --- 3. Watching the lock --------------------------------------------------------------

TEST_CASE("do: LockWatch sends keepalives as the options say", "[client][do]") {
  DoOptions options;
  options.keep_alive_secs = 0.02;
  FakeServer fake({"ok", "alive", "alive", "released"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  REQUIRE(client.lock("job"));
  LockWatch watch(client, options);
  CHECK(watch.keepalive_every() == std::optional<LockClient::Duration>(20ms));
  bool lost = false;
  watch.start([&](const std::string&) { lost = true; });
  REQUIRE(run_until(io, [&] { return fake.requests().size() >= 3 || lost; }));
  watch.stop();
  CHECK_FALSE(lost);
  CHECK(release_lock(client, "job") == std::nullopt);
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:job", ".keepalive", ".keepalive", "release"});
}

TEST_CASE("do: LockWatch with --no-keep-alive sends none", "[client][do]") {
  DoOptions options;
  options.keep_alive = false;
  options.keep_alive_secs = 0.01;
  FakeServer fake({"ok", "released"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  REQUIRE(client.lock("job"));
  LockWatch watch(client, options);
  CHECK_FALSE(watch.keepalive_every());
  watch.start([](const std::string&) {});
  run_for(io, 100ms);  // ten keepalive periods
  CHECK(release_lock(client, "job") == std::nullopt);  // stops the watch itself
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:job", "release"});
}

TEST_CASE("do: LockWatch reports a lost lock once, with the reason", "[client][do]") {
  DoOptions options;
  options.keep_alive_secs = 0.02;
  options.keep_alive_timeout = 0.2;
  asio::io_context io;
  LockClient client(io);
  std::vector<std::string> reasons;
  SECTION("the server closes the connection") {
    FakeServer fake({"ok", "alive"}, true);
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("job"));
    LockWatch watch(client, options);
    watch.start([&](const std::string& reason) { reasons.push_back(reason); });
    REQUIRE(run_until(io, [&] { return !reasons.empty(); }));
  }
  SECTION("the server sends lost") {
    FakeServer fake({"ok\nlost,released by admin"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("job"));
    LockWatch watch(client, options);
    watch.start([&](const std::string& reason) { reasons.push_back(reason); });
    REQUIRE(run_until(io, [&] { return !reasons.empty(); }));
    CHECK(reasons.front().find("released by admin") != std::string::npos);
  }
  SECTION("a keepalive stays unanswered for --keep-alive-timeout") {
    FakeServer fake({"ok"});  // then silent
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("job"));
    LockWatch watch(client, options);
    watch.start([&](const std::string& reason) { reasons.push_back(reason); });
    REQUIRE(run_until(io, [&] { return !reasons.empty(); }));
    CHECK(reasons.front() == "no answer to keepalive within 0.2 s");
  }
  run_for(io, 50ms);
  CHECK(reasons.size() == 1);
}

// --- 4. Releasing ----------------------------------------------------------------------

TEST_CASE("do: release_lock sends release and closes", "[client][do]") {
  FakeServer fake({"ok", "released"});
  asio::io_context io;
  LockClient client(io);
  client.connect("127.0.0.1", fake.port());
  REQUIRE(client.lock("job"));
  CHECK(release_lock(client, "job") == std::nullopt);
  CHECK_FALSE(client.is_open());
  CHECK(fake.requests() == std::vector<std::string>{"lock,name:job", "release"});
}

TEST_CASE("do: release_lock reports a lock lost meanwhile, not a failure of its own", "[client][do]") {
  asio::io_context io;
  LockClient client(io);
  SECTION("the connection is gone: lost") {
    FakeServer fake({"ok"}, true);
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("job"));
    CHECK(release_lock(client, "job"));
  }
  SECTION("an unexpected answer: lost") {
    FakeServer fake({"ok", "lost,holder timeout"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("job"));
    const auto lost = release_lock(client, "job");
    REQUIRE(lost);
    CHECK(lost->find("holder timeout") != std::string::npos);
  }
  SECTION("an err answer: lost (the server did not know us as the holder)") {
    FakeServer fake({"ok", "err,not holding a lock"});
    client.connect("127.0.0.1", fake.port());
    REQUIRE(client.lock("job"));
    CHECK(release_lock(client, "job"));
  }
  SECTION("a failure of our own (no connection to release on): only a warning") {
    CHECK(release_lock(client, "job") == std::nullopt);
  }
  client.close();
  CHECK_FALSE(client.is_open());
}

TEST_CASE("do: exit_code_after: 122 for a lost lock under a successful command, else its status", "[client][do]") {
  CHECK(exit_code_after(0, std::nullopt) == 0);
  CHECK(exit_code_after(3, std::nullopt) == 3);
  CHECK(exit_code_after(0, std::string("server closed the connection")) == do_exit::lock_lost);
  CHECK(exit_code_after(3, std::string("server closed the connection")) == 3);
  CHECK(exit_code_after(130, std::string("lost")) == 130);
}

}  // namespace TNL_UNITY_ID
