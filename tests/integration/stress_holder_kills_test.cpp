// Mutual exclusion when holders are killed while their commands have children and
// background jobs: many tcpnetlock_do processes contend for a few names; each command
// starts writers (a child, a grandchild, one in a session of its own, one that ignores
// SIGTERM) that append to one shared log until they are killed, and exits without waiting
// for them. At random moments tcpnetlock_do itself is SIGKILLed (alone: its guardian and
// the command's tree are left to the guardian), or its guardian is. Tokens rise in grant
// order, so the log must show that no line of an older holder of a name follows the start
// of a newer one: nothing an old holder started still ran once a new holder had the lock.
//
// Bounded: a fixed number of processes and kills, every wait with a deadline.
#include <dirent.h>
#include <signal.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_helpers.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::ChildProcess;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

namespace {

constexpr int total_processes = 36;
constexpr int max_running = 9;
constexpr int names = 2;
constexpr int max_kills = 12;

struct Line {
  std::string kind;  ///< start, w (a writer's line) or end
  std::string name;
  std::uint64_t token = 0;
  int id = 0;
};

/// The complete lines of the log (a writer may be in the middle of one).
std::vector<Line> read_log(const std::filesystem::path& path) {
  std::vector<Line> lines;
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    if (in.eof()) break;  // no '\n' yet
    std::istringstream fields(text);
    Line line;
    if (fields >> line.kind >> line.name >> line.token >> line.id) lines.push_back(line);
  }
  return lines;
}

/// On destruction, SIGKILLs every process whose environment holds `entry` (what a broken
/// guardian would leave running, writing on forever), in bounded rounds.
class KillByEnvironment {
 public:
  explicit KillByEnvironment(std::string entry) : entry_(std::move(entry)) {}
  KillByEnvironment(const KillByEnvironment&) = delete;
  KillByEnvironment& operator=(const KillByEnvironment&) = delete;
  ~KillByEnvironment() {
    for (int round = 0; round < 50 && kill_round() > 0; ++round) std::this_thread::sleep_for(10ms);
  }

 private:
  int kill_round() const {
    int found = 0;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return 0;
    while (const dirent* entry = ::readdir(proc)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
      if (pid <= 0 || !tnl::test::cli::alive(pid)) continue;
      const std::string environ = tnl::test::read_file("/proc/" + std::to_string(pid) + "/environ");
      const std::string nul(1, '\0');
      if ((nul + environ).find(nul + entry_ + nul) == std::string::npos) continue;
      ::kill(pid, SIGKILL);
      ++found;
    }
    ::closedir(proc);
    return found;
  }

  std::string entry_;
};

}  // namespace

TEST_CASE("no process of an old holder's command writes after a newer holder started, with holders and "
          "guardians SIGKILLed",
          "[stress]") {
  ServerProcess server;
  tnl::test::TempDir dir;
  const auto log = dir.path() / "log";
  std::mt19937 random(20261130);
  const KillByEnvironment cleanup("TNL_STRESS_LOG=" + log.string());

  // Each echo is one O_APPEND write, so the log's line order is the order of the writes.
  const std::string script =
      "export TNL_STRESS_LOG='" + log.string() + "' W=\"$TCPNETLOCK_LOCK_NAME $TCPNETLOCK_TOKEN $STRESS_ID\"\n"
      "echo \"start $W\" >> \"$TNL_STRESS_LOG\"\n"
      "w='while :; do echo \"w $W\" >> \"$TNL_STRESS_LOG\"; sleep 0.01; done'\n"
      "sh -c \"$w\" &\n"                   // a child
      "( sh -c \"$w\" & wait ) &\n"        // a grandchild
      "setsid sh -c \"$w\" &\n"            // out of the command's process group and session
      "( trap '' TERM; sh -c \"$w\" ) &\n"  // ignores SIGTERM: SIGKILL after the grace
      "sleep 0.0$((RANDOM % 5 + 2))\n"
      "echo \"end $W\" >> \"$TNL_STRESS_LOG\"\n";

  std::map<int, ChildProcess> running;
  std::map<int, std::string> killed;  // id -> what was killed: "holder" or "guardian"
  int started = 0;
  int finished_ok = 0;
  int kills = 0;               // kills sent (bounded by max_kills)
  int kills_with_writers = 0;  // kills of holders whose writers had written already (not too late)
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while ((started < total_processes || !running.empty()) && std::chrono::steady_clock::now() < deadline) {
    while (started < total_processes && static_cast<int>(running.size()) < max_running) {
      const int id = started++;
      tnl::test::SpawnOptions options;
      options.env["STRESS_ID"] = std::to_string(id);
      options.new_process_group = true;  // as a shell's job: killing it does not reach the guardian
      running.emplace(id, ChildProcess::start({tnl::test::binary("tcpnetlock_do"), "--port", server.port_string(),
                                               "--host", "127.0.0.1", "--lock-name",
                                               "stress-" + std::to_string(id % names), "--wait", "60",
                                               "--fencing", "--kill-grace", "0.3", "--", "bash", "-c", script},
                                              options));
    }
    // Now and then, SIGKILL a holder whose writers run (or its guardian), and nothing else.
    if (kills < max_kills && std::uniform_int_distribution<int>(0, 9)(random) == 0) {
      std::map<int, int> writes;  // id -> lines written by its writers
      std::set<int> ended;
      for (const auto& line : read_log(log)) {
        if (line.kind == "w") ++writes[line.id];
        if (line.kind == "end") ended.insert(line.id);
      }
      for (auto& [id, process] : running) {
        if (killed.count(id) || ended.count(id) || writes[id] == 0) continue;
        const bool guardian = kills % 3 == 2;
        if (guardian) {
          const auto targets = tnl::test::cli::descendants_named(process.pid(), "tnl_guardian");
          if (targets.size() != 1) continue;
          ::kill(targets.front(), SIGKILL);
        } else {
          process.signal(SIGKILL);
        }
        killed[id] = guardian ? "guardian" : "holder";
        ++kills;
        ++kills_with_writers;
        break;
      }
    }
    for (auto it = running.begin(); it != running.end();) {
      if (it->second.running()) {
        ++it;
        continue;
      }
      const auto status = it->second.wait_for_exit(0ms);
      REQUIRE(status);
      const auto victim = killed.find(it->first);
      if (status->exited(0)) {
        // It may have finished between our reading of the log and the kill: then the kill
        // came too late and it counts as finished, not killed.
        if (victim != killed.end()) {
          killed.erase(victim);
          --kills_with_writers;
        }
        ++finished_ok;
      } else if (victim == killed.end()) {
        FAIL_CHECK("id " << it->first << " ended with code " << status->code << ", signal " << status->signal);
      } else if (victim->second == "holder") {
        CHECK(status->signal == SIGKILL);
      } else {
        CHECK(status->exited(124));  // its guardian was killed: the command was ended
      }
      it = running.erase(it);
    }
    std::this_thread::sleep_for(5ms);  // polling the children, bounded by the deadline
  }
  REQUIRE(running.empty());
  // Every name is free again once the guardians of killed holders have ended their trees.
  for (int n = 0; n < names; ++n) {
    tnl::test::LineClient last(server.port());
    CHECK(last.request("lock,name:stress-" + std::to_string(n) + ",wait:30") == std::optional<std::string>("ok"));
  }

  // Replay the log per name: the newest holder's token; any line of an older one after it
  // is a process of the old holder running while the new one held the lock.
  std::map<std::string, std::uint64_t> newest;
  std::map<std::string, int> sections;
  int late_lines = 0;
  int writer_lines = 0;
  for (const auto& line : read_log(log)) {
    auto& current = newest[line.name];
    if (line.kind == "start") {
      INFO("start " << line.name << " token " << line.token << " id " << line.id);
      CHECK(line.token > current);  // tokens rise in grant order
      current = line.token;
      ++sections[line.name];
    } else if (line.token < current) {
      if (late_lines++ < 5) {
        UNSCOPED_INFO(line.kind << " " << line.name << " token " << line.token << " id " << line.id
                                << " after token " << current << " started");
      }
    }
    if (line.kind == "w") ++writer_lines;
  }
  CHECK(late_lines == 0);
  int total_sections = 0;
  for (const auto& [name, count] : sections) total_sections += count;
  CHECK(total_sections == total_processes);  // every command started (and was killed, if at all, after)
  CHECK(finished_ok == total_processes - static_cast<int>(killed.size()));
  CHECK(kills_with_writers >= 3);
  CHECK(writer_lines > 0);
}

}  // namespace TNL_UNITY_ID
