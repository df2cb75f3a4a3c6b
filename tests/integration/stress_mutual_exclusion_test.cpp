// Mutual exclusion under contention and crashes: many tcpnetlock_do processes contend for
// a few names with server-side waits, holders are killed with SIGKILL at random, and every
// critical section is recorded in one shared append-only log. The log must show that no
// two critical sections of one name overlapped and that tokens rose in grant order.
//
// Bounded: a fixed number of processes, a fixed number of kills, every wait with a deadline.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <random>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "cli_helpers.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::ChildProcess;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

namespace {

constexpr int total_processes = 60;
constexpr int max_running = 12;
constexpr int names = 3;

struct Event {
  std::string kind;  ///< start, end or killed
  std::string name;
  std::uint64_t token = 0;
  int id = 0;
};

std::vector<Event> read_log(const std::filesystem::path& path) {
  std::vector<Event> events;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    Event event;
    fields >> event.kind >> event.name >> event.token >> event.id;
    REQUIRE(fields);
    events.push_back(event);
  }
  return events;
}

}  // namespace

TEST_CASE("no two critical sections of one name overlap, even with holders killed", "[stress]") {
  ServerProcess server;
  tnl::test::TempDir dir;
  const auto log = dir.path() / "log";
  std::mt19937 random(20261123);

  // The critical section: append "start", work a little, append "end". Each echo is one
  // O_APPEND write, so the log's line order is the order in which the events happened.
  const std::string section =
      "echo \"start $TCPNETLOCK_LOCK_NAME $TCPNETLOCK_TOKEN $STRESS_ID\" >> '" + log.string() +
      "'; sleep 0.0$((RANDOM % 4 + 1)); echo \"end $TCPNETLOCK_LOCK_NAME $TCPNETLOCK_TOKEN $STRESS_ID\" >> '" +
      log.string() + "'";

  std::map<int, ChildProcess> running;
  int started = 0;
  std::set<int> killed;  // ids sent SIGKILL while the log showed them inside their section
  int finished_ok = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while ((started < total_processes || !running.empty()) && std::chrono::steady_clock::now() < deadline) {
    while (started < total_processes && static_cast<int>(running.size()) < max_running) {
      const int id = started++;
      const std::string name = "stress-" + std::to_string(id % names);
      tnl::test::SpawnOptions options;
      options.env["STRESS_ID"] = std::to_string(id);
      options.new_process_group = true;
      running.emplace(id, ChildProcess::start({tnl::test::binary("tcpnetlock_do"), "--port", server.port_string(),
                                               "--host", "127.0.0.1", "--lock-name", name, "--wait", "60",
                                               "--fencing", "--shell", "--", "bash -c '" + section + "'"},
                                              options));
    }
    // Now and then, kill a process that is inside its critical section, with its command.
    if (std::uniform_int_distribution<int>(0, 9)(random) == 0) {
      const auto events = read_log(log);
      std::map<int, bool> inside;
      for (const auto& event : events) inside[event.id] = event.kind == "start";
      for (auto& [id, process] : running) {
        if (inside[id]) {
          // The holder dies with everything it runs, as when its machine or container goes:
          // its guardian, the command and all it started, then tcpnetlock_do. (A holder
          // killed alone is stress_holder_kills_test.cpp's.) Logged before the kill: once
          // the kill lands the lock is free, and the next holder's start may be logged
          // before anything we could write after it.
          std::ofstream(log, std::ios::app) << "killed - 0 " << id << "\n";
          for (pid_t descendant : tnl::test::cli::descendants(process.pid())) ::kill(descendant, SIGKILL);
          process.signal(SIGKILL, true);
          killed.insert(id);
          break;
        }
      }
    }
    for (auto it = running.begin(); it != running.end();) {
      if (it->second.running()) {
        ++it;
        continue;
      }
      const auto status = it->second.wait_for_exit(0ms);
      if (status && status->exited(0)) {
        // It may have finished between our reading of the log and the kill: then the kill
        // came too late and it counts as finished, not killed.
        killed.erase(it->first);
        ++finished_ok;
      }
      it = running.erase(it);
    }
    std::this_thread::sleep_for(5ms);  // polling the children, bounded by the deadline
  }
  REQUIRE(running.empty());

  // Replay the log per name.
  struct NameState {
    std::optional<int> open;  ///< id of the process inside its critical section
    bool dying = false;       ///< `open` is being killed: its section ends when it dies
    std::uint64_t last_token = 0;
    int sections = 0;
  };
  std::map<std::string, NameState> state;
  std::map<int, std::string> name_of;
  std::map<int, std::uint64_t> token_of;
  for (const auto& event : read_log(log)) {
    INFO(event.kind << " " << event.name << " token " << event.token << " id " << event.id);
    if (event.kind == "start") {
      auto& s = state[event.name];
      // A holder being killed is inside until it dies; the server grants the next one only
      // once its connection is gone, which is after its whole tree is (the guardian's job,
      // checked write by write in stress_holder_kills_test.cpp).
      if (s.dying) s.open.reset();
      s.dying = false;
      CHECK_FALSE(s.open);                // nobody else inside
      CHECK(event.token > s.last_token);  // tokens rise in grant order
      s.open = event.id;
      s.last_token = event.token;
      ++s.sections;
      name_of[event.id] = event.name;
      token_of[event.id] = event.token;
    } else if (event.kind == "end") {
      auto& s = state[event.name];
      CHECK(s.open == event.id);  // only the current holder ends a section
      s.open.reset();
      s.dying = false;
    } else {
      REQUIRE(event.kind == "killed");
      auto& s = state[name_of.at(event.id)];
      if (s.open == event.id) s.dying = true;  // its section ends when it dies (or says end)
    }
  }
  int sections = 0;
  for (const auto& [name, s] : state) sections += s.sections;
  const int killed_count = static_cast<int>(killed.size());
  CHECK(sections >= total_processes - killed_count);
  CHECK(finished_ok == total_processes - killed_count);
  CHECK(killed_count > 0);
}

}  // namespace TNL_UNITY_ID
