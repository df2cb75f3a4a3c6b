// tcpnetlock_do's guardian, driven directly: this test process plays tcpnetlock_do (the
// guardian's parent), and a socket pair plays the lock's connection.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "guardian.hpp"
#include "process.hpp"
#include "process_tree.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::Guardian;
using tnl::GuardianOptions;
using tnl::guardian::Kind;
using tnl::guardian::Message;
using tnl::guardian::Received;
using namespace std::chrono_literals;

namespace {

/// The next message from `guardian`, waiting up to `timeout`; nullopt on timeout or when
/// the guardian has closed its end.
std::optional<Message> next_message(const Guardian& guardian, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    Message message;
    const Received received = guardian.next(message);
    if (received == Received::message) return message;
    if (received == Received::closed) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return std::nullopt;
    pollfd p{guardian.control_fd(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

/// The kinds of the messages that come until the guardian closes its end.
std::vector<Kind> remaining_kinds(const Guardian& guardian) {
  std::vector<Kind> kinds;
  while (const auto message = next_message(guardian)) kinds.push_back(message->kind);
  return kinds;
}

/// True while process `pid` exists and is not a zombie.
bool alive(pid_t pid) {
  const std::string stat = tnl::test::read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.compare(close + 2, 1, "Z") != 0;
}

/// Pids written one per line into `file` (waiting until there are `n`).
std::vector<pid_t> pids_in(const std::filesystem::path& file, std::size_t n) {
  std::vector<pid_t> pids;
  tnl::test::wait_until([&] {
    std::istringstream in(tnl::test::read_file(file));
    pids.clear();
    for (pid_t pid = 0; in >> pid;) pids.push_back(pid);
    return pids.size() >= n;
  });
  return pids;
}

/// SIGKILLs and reaps `pid` (a process left behind on purpose, now our child: we are a
/// subreaper once a guardian has been started).
void dispose_of(pid_t pid) {
  ::kill(pid, SIGKILL);
  tnl::test::wait_until([&] { return !alive(pid); });
  ::waitpid(pid, nullptr, WNOHANG);
}

GuardianOptions options_for(std::vector<std::string> argv) {
  GuardianOptions options;
  options.argv = std::move(argv);
  options.kill_grace = 5s;
  return options;
}

/// The hexadecimal mask on line `field` ("SigIgn:", "SigBlk:") of a /proc/PID/status text.
std::uint64_t mask_of(const std::string& status, const std::string& field) {
  const auto at = status.find(field);
  REQUIRE(at != std::string::npos);
  return std::stoull(status.substr(at + field.size()), nullptr, 16);
}

bool has(std::uint64_t mask, int sig) { return (mask >> (sig - 1)) & 1U; }

}  // namespace

TEST_CASE("the parent pid is read after the last ')' of /proc/PID/stat", "[client][guardian]") {
  CHECK(tnl::parent_in_stat("42 (sh) S 7 42 42 0 -1") == 7);
  CHECK(tnl::parent_in_stat("42 (a) b) S 9 1 1") == 9);  // a name with ") " in it
  CHECK(tnl::parent_in_stat("1 (init) S 0 1 1") == 0);
  CHECK_FALSE(tnl::parent_in_stat(""));
  CHECK_FALSE(tnl::parent_in_stat("42 sh S 7"));
  CHECK_FALSE(tnl::parent_in_stat("42 (sh) S x 1"));
  CHECK_FALSE(tnl::parent_in_stat("42 (sh)"));
}

TEST_CASE("descendants are found through /proc, grandchildren included", "[client][guardian]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "pids";
  // A child (sh) whose child (sleep) it does not wait for.
  const pid_t child = ::fork();
  if (child == 0) {
    ::execlp("sh", "sh", "-c", ("sleep 30 & echo $! > '" + file.string() + "'; exec sleep 31").c_str(), nullptr);
    ::_exit(127);
  }
  const auto grandchild = pids_in(file, 1);
  REQUIRE(grandchild.size() == 1);
  const auto found = tnl::find_descendants(::getpid());
  REQUIRE(found);
  CHECK(std::find(found->begin(), found->end(), child) != found->end());
  CHECK(std::find(found->begin(), found->end(), grandchild[0]) != found->end());
  CHECK(std::find(found->begin(), found->end(), ::getpid()) == found->end());
  ::kill(grandchild[0], SIGKILL);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

TEST_CASE("guardian: reports the start, the command's status and done", "[client][guardian]") {
  auto guardian = Guardian::start(options_for({"sh", "-c", "exit 7"}));
  const auto started = next_message(guardian);
  REQUIRE(started);
  CHECK(started->kind == Kind::started);
  CHECK(started->value > 0);
  const auto exited = next_message(guardian);
  REQUIRE(exited);
  CHECK(exited->kind == Kind::exited);
  CHECK(WIFEXITED(exited->value));
  CHECK(WEXITSTATUS(exited->value) == 7);
  CHECK(remaining_kinds(guardian) == std::vector<Kind>{Kind::done});
  const int status = guardian.wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("guardian: a command that cannot be started is reported with exec's errno", "[client][guardian]") {
  auto guardian = Guardian::start(options_for({"no-such-command-tnl-unit-test"}));
  const auto failed = next_message(guardian);
  REQUIRE(failed);
  CHECK(failed->kind == Kind::exec_failed);
  CHECK(failed->value == ENOENT);
  CHECK(remaining_kinds(guardian).empty());
  guardian.wait();
}

TEST_CASE("guardian: what the command leaves running is terminated before done", "[client][guardian]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "pids";
  auto guardian = Guardian::start(options_for({"sh", "-c", "sleep 30 & echo $! > '" + file.string() + "'; exit 0"}));
  REQUIRE(next_message(guardian)->kind == Kind::started);
  const auto exited = next_message(guardian);
  REQUIRE(exited);
  CHECK(exited->kind == Kind::exited);
  const auto terminating = next_message(guardian);
  REQUIRE(terminating);
  CHECK(terminating->kind == Kind::terminating);
  CHECK(terminating->extra == 1);  // leftovers
  const auto left = pids_in(file, 1);
  REQUIRE(left.size() == 1);
  const auto done = next_message(guardian);
  REQUIRE(done);
  CHECK(done->kind == Kind::done);
  CHECK_FALSE(alive(left[0]));
  guardian.wait();
}

TEST_CASE("guardian: with leave_background, done comes as soon as the command has exited", "[client][guardian]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "pids";
  auto options = options_for({"sh", "-c", "sleep 30 & echo $! > '" + file.string() + "'; exit 0"});
  options.leave_background = true;
  auto guardian = Guardian::start(options);
  CHECK(remaining_kinds(guardian) == std::vector<Kind>{Kind::started, Kind::exited, Kind::done});
  guardian.wait();
  const auto left = pids_in(file, 1);
  REQUIRE(left.size() == 1);
  CHECK(alive(left[0]));
  dispose_of(left[0]);
}

TEST_CASE("guardian: forwards signals, and terminates the command's tree on request", "[client][guardian]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "pids";
  auto options = options_for({"sh", "-c",
                              "trap 'echo usr1 >> \"" + (dir.path() / "got").string() +
                                  "\"' USR1; trap '' TERM; sleep 30 & echo $! > '" + file.string() +
                                  "'; while :; do sleep 0.01; done"});
  options.kill_grace = 200ms;
  auto guardian = Guardian::start(options);
  REQUIRE(next_message(guardian)->kind == Kind::started);
  const auto left = pids_in(file, 1);
  REQUIRE(left.size() == 1);
  guardian.forward(SIGUSR1);
  CHECK(tnl::test::wait_until([&] { return tnl::test::read_file(dir.path() / "got") == "usr1\n"; }));
  const auto start = std::chrono::steady_clock::now();
  guardian.terminate();
  // The shell ignores SIGTERM (and so does what it started): SIGKILL after the grace.
  CHECK(remaining_kinds(guardian) == std::vector<Kind>{Kind::terminating, Kind::killing, Kind::exited, Kind::done});
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
  CHECK_FALSE(alive(left[0]));
  guardian.wait();
}

TEST_CASE("guardian: our death (its end of the socket pair closes) ends the command's tree", "[client][guardian]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "pids";
  // The lock's connection: a loopback TCP connection whose server end is accepted only
  // after the fork, so that the guardian holds none of it (it inherits all we have).
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  int lock[2];  // [0]: "our" end, which the guardian keeps a copy of; [1]: the server's end
  lock[0] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(::connect(lock[0], reinterpret_cast<sockaddr*>(&address), length) == 0);
  auto options = options_for({"sh", "-c",
                              "trap '' TERM; sleep 30 & echo $$ > '" + file.string() + "'; echo $! >> '" +
                                  file.string() + "'; while :; do sleep 0.01; done"});
  options.kill_grace = 30s;  // only the lock's end may cut it short
  options.lock_fd = lock[0];
  std::optional<Guardian> guardian(Guardian::start(options));
  ::close(lock[0]);
  lock[1] = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(lock[1] >= 0);
  ::close(listener);
  REQUIRE(next_message(*guardian)->kind == Kind::started);
  const auto family = pids_in(file, 2);
  REQUIRE(family.size() == 2);
  const pid_t guardian_pid = guardian->pid();
  const auto guardian_ended = [&] {
    int raw = 0;
    return ::waitpid(guardian_pid, &raw, WNOHANG) == guardian_pid;
  };

  guardian.reset();  // as if we had died: the guardian sees its socket pair's end close
  // It terminates the tree (SIGTERM, ignored here) and holds on to the lock meanwhile; the
  // answer to a keepalive we had sent does not change that ...
  REQUIRE(::write(lock[1], "alive\n", 6) == 6);
  CHECK_FALSE(tnl::test::wait_until(guardian_ended, 300ms));
  CHECK(alive(family[0]));
  // ... but anything else from the server means the lock is gone: SIGKILL at once.
  const bool server_closes = GENERATE(false, true);
  if (server_closes) {
    ::close(lock[1]);
  } else {
    REQUIRE(::write(lock[1], "lost,holder timeout\n", 20) == 20);
  }
  CHECK(tnl::test::wait_until(guardian_ended, 10s));
  CHECK_FALSE(alive(family[0]));
  CHECK_FALSE(alive(family[1]));
  if (!server_closes) ::close(lock[1]);
}

TEST_CASE("guardian: while we live, the server closing the lock's connection ends the tree unless told not to",
          "[client][guardian]") {
  // The lock's connection: loopback TCP, whose server end is accepted only after the fork
  // so that the guardian holds none of it (as in the test above).
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  int lock[2];  // [0]: ours, which the guardian keeps a copy of; [1]: the server's end
  lock[0] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(::connect(lock[0], reinterpret_cast<sockaddr*>(&address), length) == 0);
  const bool end_on_lost = GENERATE(true, false);
  auto options = options_for({"sh", "-c", "while :; do sleep 0.01; done"});
  options.kill_grace = 200ms;
  options.lock_fd = lock[0];
  options.end_on_lost = end_on_lost;
  auto guardian = Guardian::start(options);
  lock[1] = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  REQUIRE(lock[1] >= 0);
  // Ours stays open, as tcpnetlock_do's does while it lives.
  const auto started = next_message(guardian);
  REQUIRE(started);
  REQUIRE(started->kind == Kind::started);
  const pid_t command = started->value;
  // What the server sends is ours to read (the guardian leaves it alone while we live) ...
  REQUIRE(::write(lock[1], "alive\n", 6) == 6);
  CHECK_FALSE(next_message(guardian, 300ms));
  CHECK(alive(command));
  // ... but its end means the lock is gone, even if we are stopped and never ask.
  ::close(lock[1]);
  if (end_on_lost) {
    CHECK(remaining_kinds(guardian) == std::vector<Kind>{Kind::terminating, Kind::exited, Kind::done});
    CHECK_FALSE(alive(command));
  } else {
    CHECK_FALSE(next_message(guardian, 300ms));  // --on-lost warn: the command runs on
    CHECK(alive(command));
    guardian.terminate();
    CHECK(remaining_kinds(guardian) == std::vector<Kind>{Kind::terminating, Kind::exited, Kind::done});
  }
  guardian.wait();
  ::close(lock[0]);
}

TEST_CASE("guardian: the command starts with default dispositions, inherited ignores and our signal mask",
          "[client][guardian]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "status";
  auto options = options_for({"sh", "-c", "cat /proc/self/status > '" + file.string() + "'"});
  options.inherited_ignored = {SIGHUP};  // as under nohup
  auto guardian = Guardian::start(options);
  CHECK(remaining_kinds(guardian) == std::vector<Kind>{Kind::started, Kind::exited, Kind::done});
  guardian.wait();
  const std::string status = tnl::test::read_file(file);
  const auto ignored = mask_of(status, "SigIgn:");
  CHECK(has(ignored, SIGHUP));
  // The guardian ignores these, the command must not.
  for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU}) {
    INFO("signal " << sig);
    CHECK_FALSE(has(ignored, sig));
  }
  CHECK_FALSE(has(mask_of(status, "SigBlk:"), SIGCHLD));  // blocked in the guardian only
}

TEST_CASE("guardian-less: end_descendants terminates and reaps every descendant", "[client][guardian]") {
  REQUIRE(tnl::become_subreaper());
  tnl::test::TempDir dir;
  const auto file = dir.path() / "pids";
  const pid_t child = ::fork();
  if (child == 0) {
    ::execlp("sh", "sh", "-c",
             ("trap '' TERM; sleep 30 & echo $! > '" + file.string() + "'; while :; do sleep 0.01; done").c_str(),
             nullptr);
    ::_exit(127);
  }
  const auto grandchild = pids_in(file, 1);
  REQUIRE(grandchild.size() == 1);
  const auto start = std::chrono::steady_clock::now();
  CHECK(tnl::end_descendants(0, 200ms) >= 2);
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);  // the shell ignored SIGTERM
  CHECK_FALSE(alive(child));
  CHECK_FALSE(alive(grandchild[0]));
}

}  // namespace TNL_UNITY_ID
