// tcpnetlock_do's guardian: nothing the command started outlives the lock, whoever is
// killed (tcpnetlock_do, the guardian) and however the command ends (leaving background
// jobs, trapping SIGTERM). Each test queues a second client behind the holder and checks,
// the moment that client is granted the lock, that no process of the first holder's
// command is left.
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
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

/// Pids written one per line into `file`.
std::vector<pid_t> read_pids(const fs::path& file) {
  std::istringstream in(read_file(file));
  std::vector<pid_t> pids;
  for (pid_t pid = 0; in >> pid;) pids.push_back(pid);
  return pids;
}

/// A client that asks for `name` with `wait:30` as soon as it is made, so that it is
/// granted the lock the moment the holder's connection lets go of it.
class NextHolder {
 public:
  NextHolder(const ServerProcess& server, const std::string& name) : client_(server.port()) {
    client_.send_line("lock,name:" + name + ",wait:30");
  }
  /// Waits (up to 30 s) for the answer: true when it is `ok`.
  bool granted() { return client_.read_line(30s) == std::optional<std::string>("ok"); }

 private:
  LineClient client_;
};

/// The processes below tcpnetlock_do `root` but its guardian: the command and all it started.
std::vector<pid_t> command_tree(pid_t root) {
  std::vector<pid_t> tree;
  for (pid_t pid : descendants(root)) {
    if (name_of(pid) != "tnl_guardian") tree.push_back(pid);
  }
  return tree;
}

/// Names and pids of `pids`, for messages.
std::string describe(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids) text += name_of(pid) + "[" + std::to_string(pid) + "] ";
  return text;
}

/// True once every one of `names` runs among the descendants of `root`.
bool running_below(pid_t root, const std::vector<std::string>& names) {
  return wait_until([&] {
    for (const auto& name : names) {
      if (descendants_named(root, name).empty()) return false;
    }
    return true;
  });
}

}  // namespace

TEST_CASE("do: SIGKILL of tcpnetlock_do alone: the lock is held until every descendant of the command is gone",
          "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  const auto writes = dir.path() / "writes";
  touch(writes);
  // A grandchild that writes after a second (the kernel's parent-death signal reaches only
  // the command itself), and a pipeline under /bin/sh -c.
  const bool pipeline = GENERATE(false, true);
  const std::vector<std::string> command =
      pipeline ? std::vector<std::string>{"--shell", "sleep 9 | cat"}
               : std::vector<std::string>{"--", "sh", "-c",
                                          "sh -c 'sleep 1; echo late >> \"" + writes.string() + "\"'; echo done >> '" +
                                              writes.string() + "'"};
  const std::vector<std::string> names = pipeline ? std::vector<std::string>{"sleep", "cat"}
                                                  : std::vector<std::string>{"sleep"};
  std::vector<std::string> args{"--lock-name", "orphans", "--kill-grace", "5"};
  args.insert(args.end(), command.begin(), command.end());
  auto p = ChildProcess::start(do_argv(server, args), clean_env());
  Leftovers leftovers;
  REQUIRE(running_below(p.pid(), names));
  const auto family = command_tree(p.pid());
  leftovers.add(family);
  NextHolder next(server, "orphans");

  p.signal(SIGKILL);
  REQUIRE(p.wait_for_exit());
  REQUIRE(next.granted());
  const auto left_at_grant = still_alive(family);
  const std::string written_at_grant = read_file(writes);
  INFO("left at the grant: " << describe(left_at_grant));
  CHECK(left_at_grant.empty());
  // Whatever was left (before the guardian) runs on unlocked and writes after the grant.
  CHECK(wait_until([&] { return still_alive(family).empty(); }));
  CHECK(read_file(writes) == written_at_grant);
}

TEST_CASE("do: background jobs the command leaves are terminated before the release", "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  const std::string d = dir.path().string();
  const auto ticks = dir.path() / "ticks";
  // One background job sleeps, one keeps writing; the command exits 0 once told to.
  const std::string script = "sleep 30 & echo $! > '" + d + "/pids'; (while :; do echo tick >> '" + ticks.string() +
                             "'; sleep 0.01; done) & echo $! >> '" + d + "/pids'; " + ready_then_wait_for_go(dir) +
                             "; exit 0";
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "bg", "--", "sh", "-c", script}), clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  const auto family = command_tree(p.pid());
  leftovers.add(family);
  const auto background = read_pids(dir.path() / "pids");
  REQUIRE(background.size() == 2);
  REQUIRE(wait_until([&] { return !read_file(ticks).empty(); }));
  NextHolder next(server, "bg");

  touch(dir.path() / "go");
  REQUIRE(next.granted());
  CHECK(still_alive(background).empty());
  const std::string ticked_at_grant = read_file(ticks);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));  // the command's own status
  CHECK(p.stderr_text().find("terminating them before releasing") != std::string::npos);
  CHECK(wait_until([&] { return still_alive(family).empty(); }));
  CHECK(read_file(ticks) == ticked_at_grant);
}

TEST_CASE("do: a command that traps SIGTERM and exits leaves no background member running unlocked",
          "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  const std::string d = dir.path().string();
  const std::string script = "trap 'exit 0' TERM; sleep 30 & echo $! > '" + d + "/pids'; touch '" + d +
                             "/ready'; while :; do sleep 0.01; done";
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "trapped", "--", "sh", "-c", script}), clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  leftovers.add(descendants(p.pid()));
  const auto background = read_pids(dir.path() / "pids");
  REQUIRE(background.size() == 1);
  NextHolder next(server, "trapped");

  p.signal(SIGTERM);  // forwarded to the command, which exits 0 at once
  REQUIRE(next.granted());
  CHECK(still_alive(background).empty());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("do: --leave-background leaves what the command started in the background", "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  const std::string script = "sleep 30 & echo $! > '" + dir.path().string() + "/pids'; exit 0";
  auto p = ChildProcess::start(
      do_argv(server, {"--leave-background", "--lock-name", "left", "--", "sh", "-c", script}), clean_env());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  const auto background = read_pids(dir.path() / "pids");
  REQUIRE(background.size() == 1);
  Leftovers leftovers;
  leftovers.add(background);
  CHECK(alive(background[0]));  // still running, as asked
  CHECK(lock_is_free(server.port(), "left"));
}

TEST_CASE("do: SIGKILL of the guardian alone: the command and its descendants die before the release",
          "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  const std::string script =
      "sleep 300 & touch '" + dir.path().string() + "/ready'; while :; do sleep 0.05; done";
  auto p = ChildProcess::start(
      do_argv(server, {"--kill-grace", "5", "--lock-name", "guarded", "--", "sh", "-c", script}), clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  REQUIRE(running_below(p.pid(), {"sleep"}));
  leftovers.add(descendants(p.pid()));
  const auto guardians = descendants_named(p.pid(), "tnl_guardian");
  REQUIRE(guardians.size() == 1);
  CHECK(parent_of(guardians[0]) == p.pid());
  const auto family = command_tree(p.pid());
  REQUIRE(family.size() >= 2);
  NextHolder next(server, "guarded");

  ::kill(guardians[0], SIGKILL);
  REQUIRE(next.granted());
  INFO("left at the grant: " << describe(still_alive(family)));
  CHECK(still_alive(family).empty());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(124));
  CHECK(p.stderr_text().find("guardian") != std::string::npos);
}

// Found by random_kills (a guardian SIGKILLed, then its tcpnetlock_do 0.05-0.25 s later): the
// orphans got SIGTERM and the whole --kill-grace, so a descendant that ignores SIGTERM
// outlived tcpnetlock_do's own death, and with it the lock. The command itself already
// died of SIGKILL (its parent-death signal): what it left gets SIGKILL at once too.
TEST_CASE("do: SIGKILL of the guardian, then of tcpnetlock_do: no descendant outlives the lock",
          "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  const std::string script = "trap '' TERM; (while :; do sleep 0.05; done) & touch '" + dir.path().string() +
                             "/ready'; while :; do sleep 0.05; done";
  auto p = ChildProcess::start(
      do_argv(server, {"--kill-grace", "30", "--lock-name", "guarded", "--", "sh", "-c", script}), clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  REQUIRE(running_below(p.pid(), {"sleep"}));
  leftovers.add(descendants(p.pid()));
  const auto guardians = descendants_named(p.pid(), "tnl_guardian");
  REQUIRE(guardians.size() == 1);
  const auto family = command_tree(p.pid());
  REQUIRE(family.size() >= 2);
  NextHolder next(server, "guarded");

  ::kill(guardians[0], SIGKILL);
  // Well within the 30 s grace: the orphans are gone before anyone can kill tcpnetlock_do too.
  CHECK(wait_until([&] { return still_alive(family).empty(); }, 5s));
  p.signal(SIGKILL);
  REQUIRE(next.granted());
  INFO("left at the grant: " << describe(still_alive(family)));
  CHECK(still_alive(family).empty());
}

TEST_CASE("do: the guardian is in a process group of its own and does not answer to tcpnetlock_do's name",
          "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  SpawnOptions options = clean_env();
  options.new_process_group = true;  // as a shell starts a job
  auto p = ChildProcess::start(do_argv(server, {"--lock-name", "job", "--shell", ready_then_wait_for_go(dir)}), options);
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  const auto guardians = descendants_named(p.pid(), "tnl_guardian");
  REQUIRE(guardians.size() == 1);
  CHECK(::getpgid(guardians[0]) != ::getpgid(p.pid()));
  // `kill -9 %1`: the job's process group, which is tcpnetlock_do alone.
  p.signal(SIGKILL, true);
  REQUIRE(p.wait_for_exit());
  // The guardian terminates the command (SIGTERM ends the shell at once), then lets go.
  CHECK(wait_until([&] { return lock_is_free(server.port(), "job"); }));
  CHECK(wait_until([&] { return !alive(guardians[0]); }));
}

TEST_CASE("do: a stopped command stops tcpnetlock_do, and SIGCONT resumes both", "[cli][do][guardian]") {
  ServerProcess server;
  TempDir dir;
  SpawnOptions options = clean_env();
  options.new_process_group = true;  // so that SIGTSTP stops it (a group that is not orphaned)
  auto p = ChildProcess::start(
      do_argv(server, {"--lock-name", "stopped", "--", "sh", "-c", "kill -STOP $$; echo resumed"}), options);
  REQUIRE(wait_until([&] { return state_of(p.pid()) == 'T'; }));
  CHECK_FALSE(lock_is_free(server.port(), "stopped"));
  p.signal(SIGCONT);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(p.stdout_text() == "resumed\n");
}

TEST_CASE("do: on a terminal, a stopped command gets the terminal back when it is continued", "[cli][do][tty]") {
  ServerProcess server;
  // script(1) makes tcpnetlock_do a session leader on a pseudo-terminal: its process group
  // is orphaned, so its own SIGTSTP is discarded and it continues the command at once,
  // which must then be the terminal's foreground group again.
  const std::string command = binary("tcpnetlock_do") + " --host 127.0.0.1 --port " + server.port_string() +
                              " --lock-name tstp -- sh -c 'kill -STOP $$; ps -o pgid= -o tpgid= -p $$'";
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

// A paused tcpnetlock_do (SIGSTOP, a debugger, a machine under swap) cannot act on `lost`:
// the guardian, which shares the lock's connection, sees the server close it and ends the
// command's tree itself, so the command does not run on while someone else holds the lock.
TEST_CASE("do: a stopped tcpnetlock_do does not keep the command running once the server takes the lock away",
          "[cli][do][guardian][adversarial]") {
  ServerProcess server({"--holder-timeout", "0.5"});
  TempDir dir;
  const auto ticks = dir.path() / "ticks";
  const std::string script = "touch '" + dir.path().string() + "/ready'; while :; do echo tick >> '" +
                             ticks.string() + "'; sleep 0.01; done";
  auto p = ChildProcess::start(
      do_argv(server, {"--no-keep-alive", "--kill-grace", "0.5", "--lock-name", "paused", "--", "sh", "-c", script}),
      clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  const auto family = command_tree(p.pid());
  leftovers.add(family);
  REQUIRE_FALSE(family.empty());

  p.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return state_of(p.pid()) == 'T'; }));
  const bool by_shutdown = GENERATE(false, true);
  if (by_shutdown) {
    // A restarted server would grant the lock to the next client at once.
    REQUIRE(server.stop());
  } else {
    NextHolder next(server, "paused");  // granted when the holder timeout takes the lock
    REQUIRE(next.granted());
  }
  // The grace (0.5 s) plus scheduling: the command must be gone well within 5 s.
  INFO("left running without the lock: " << describe(still_alive(family)));
  CHECK(wait_until([&] { return still_alive(family).empty(); }, 5s));
  p.signal(SIGCONT);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
}

// The other way round: tcpnetlock_do reads `lost`, but its guardian is stopped and cannot
// act on the request to terminate the command. tcpnetlock_do continues it (SIGCONT).
TEST_CASE("do: a stopped guardian does not keep the command running once the lock is lost",
          "[cli][do][guardian][adversarial]") {
  ServerProcess server({"--holder-timeout", "0.5"});
  TempDir dir;
  const std::string script = "touch '" + dir.path().string() + "/ready'; while :; do sleep 0.01; done";
  auto p = ChildProcess::start(
      do_argv(server, {"--no-keep-alive", "--kill-grace", "0.5", "--lock-name", "frozen", "--", "sh", "-c", script}),
      clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  const auto family = command_tree(p.pid());
  leftovers.add(family);
  const auto guardians = descendants_named(p.pid(), "tnl_guardian");
  REQUIRE(guardians.size() == 1);

  ::kill(guardians[0], SIGSTOP);
  NextHolder next(server, "frozen");
  REQUIRE(next.granted());
  INFO("left running without the lock: " << describe(still_alive(family)));
  CHECK(wait_until([&] { return still_alive(family).empty(); }, 5s));
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  ::kill(guardians[0], SIGCONT);  // in case it is still there
}

// A guardian that even SIGCONT cannot wake (held in a ptrace stop, as by a debugger):
// once the grace is over, tcpnetlock_do kills it and ends the command's tree itself.
TEST_CASE("do: a guardian held by a debugger is killed once the grace is over, and the tree ended without it",
          "[cli][do][guardian][adversarial]") {
  ServerProcess server({"--holder-timeout", "0.5"});
  TempDir dir;
  const std::string script = "sleep 300 & touch '" + dir.path().string() + "/ready'; while :; do sleep 0.01; done";
  auto p = ChildProcess::start(
      do_argv(server, {"--no-keep-alive", "--kill-grace", "0.5", "--lock-name", "traced", "--", "sh", "-c", script}),
      clean_env());
  Leftovers leftovers;
  REQUIRE(wait_until([&] { return fs::exists(dir.path() / "ready"); }));
  REQUIRE(running_below(p.pid(), {"sleep"}));
  const auto family = command_tree(p.pid());
  leftovers.add(family);
  const auto guardians = descendants_named(p.pid(), "tnl_guardian");
  REQUIRE(guardians.size() == 1);
  const pid_t guardian = guardians[0];
  if (::ptrace(PTRACE_SEIZE, guardian, nullptr, nullptr) != 0) {
    WARN("cannot ptrace here: " << std::strerror(errno) << "; not tested");
    return;
  }
  REQUIRE(::ptrace(PTRACE_INTERRUPT, guardian, nullptr, nullptr) == 0);
  int raw = 0;
  REQUIRE(::waitpid(guardian, &raw, __WALL) == guardian);  // in the ptrace stop now
  NextHolder next(server, "traced");
  REQUIRE(next.granted());
  // We hold the guardian in its stop (its SIGCONT is only reported to us) until it dies;
  // then we reap what ptrace reports, so that tcpnetlock_do can reap it in turn.
  bool guardian_dead = false;
  CHECK(wait_until(
      [&] {
        if (!guardian_dead) {
          const pid_t got = ::waitpid(guardian, &raw, __WALL | WNOHANG);
          guardian_dead = got == guardian && (WIFEXITED(raw) || WIFSIGNALED(raw));
        }
        return guardian_dead && still_alive(family).empty();
      },
      10s));
  INFO("left running without the lock: " << describe(still_alive(family)));
  CHECK(still_alive(family).empty());
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(122));
  CHECK(p.stderr_text().find("killing it") != std::string::npos);
}

// Stopped while it waits in the queue, tcpnetlock_do is granted the lock and, before it
// can send a keepalive, loses it to the holder timeout; the next client gets it. When it
// is continued, `ok` and `lost,holder timeout` are waiting side by side on its connection:
// it must not start the command at all (it did, and the command ran unlocked until the
// lost line was read).
TEST_CASE("do: a grant already taken away while tcpnetlock_do was stopped does not start the command",
          "[cli][do][guardian][adversarial]") {
  ServerProcess server({"--holder-timeout", "0.3"});
  TempDir dir;
  const auto ran = dir.path() / "ran";
  LineClient first(server.port());
  REQUIRE(first.request("lock,name:queued") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(
      do_argv(server, {"--debug", "--wait", "30", "--lock-name", "queued", "--", "touch", ran.string()}), clean_env());
  // Queued once `.locks` shows a waiter.
  REQUIRE(wait_until([&] {
    LineClient probe(server.port());
    const auto locks = probe.request(".locks,name:queued");
    return locks && locks->find("\"waiters\":1") != std::string::npos;
  }));
  p.signal(SIGSTOP);
  REQUIRE(wait_until([&] { return state_of(p.pid()) == 'T'; }));
  NextHolder next(server, "queued");  // queued behind tcpnetlock_do
  first.close();                     // tcpnetlock_do is granted the lock, and keeps silent
  REQUIRE(next.granted());           // ... so the holder timeout hands it on
  p.signal(SIGCONT);
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  INFO(p.stderr_text());
  CHECK(status->exited(122));
  CHECK_FALSE(fs::exists(ran));
  CHECK(p.stderr_text().find("before the command started") != std::string::npos);
}

TEST_CASE("do: a line from the server right after ok means the lock is gone: the command is not started",
          "[cli][do][adversarial]") {
  TempDir dir;
  const auto ran = dir.path() / "ran";
  const std::string after = GENERATE(std::string("lost,holder timeout"), std::string("shutting-down"));
  FakeServer fake({"ok\n" + after});
  const Finished done =
      finish(at_port("tcpnetlock_do", fake.port_string(), {"--lock-name", "gone", "--", "touch", ran.string()}));
  INFO(done.err);
  CHECK(done.exited(122));
  CHECK_FALSE(fs::exists(ran));
}

}  // namespace TNL_UNITY_ID
