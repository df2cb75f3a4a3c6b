// The per-connection keepalive schedule (socket_options.hpp, spread_keepalive): spread
// over the allowed range, never later than the configured schedule, and with at least as
// many probes before it gives up.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <vector>

#include "socket_options.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::KeepaliveSchedule;
using tnl::spread_keepalive;
using tnl::TcpKeepalive;
using std::chrono::seconds;

namespace {

TcpKeepalive schedule(int idle, int interval, int count) { return TcpKeepalive{seconds(idle), seconds(interval), count}; }

/// Every combination of the two 16-bit draws that matters for ranges up to 64 values.
std::vector<std::uint32_t> draws() {
  std::vector<std::uint32_t> values;
  for (std::uint32_t high = 0; high < 64; ++high) {
    for (std::uint32_t low = 0; low < 64; ++low) values.push_back(high << 16 | low);
  }
  values.push_back(0xffffffffu);
  return values;
}

/// How many probes `s` sends before giving up on a silent peer: at idle, then every interval.
long long probes(const KeepaliveSchedule& s) {
  const auto after_first = std::chrono::duration_cast<seconds>(s.give_up).count() - s.idle.count();
  return after_first / s.interval.count();
}

}  // namespace

TEST_CASE("a connection's keepalive schedule is never later than the configured one", "[keepalive]") {
  for (const auto& configured : {schedule(10, 5, 3), schedule(6, 3, 2), schedule(3, 1, 3), schedule(2, 1, 3),
                                 schedule(1, 1, 1), schedule(30, 2, 9), schedule(4, 10, 1), schedule(32767, 32767, 127)}) {
    INFO("configured " << configured.idle.count() << "," << configured.interval.count() << "," << configured.count);
    for (const std::uint32_t random : draws()) {
      const KeepaliveSchedule s = spread_keepalive(configured, random);
      INFO("random " << random << ": " << s.idle.count() << "," << s.interval.count() << " give up "
                     << s.give_up.count() << " ms");
      CHECK(s.idle >= seconds(1));
      CHECK(s.idle <= configured.idle);
      CHECK(s.idle * 2 >= configured.idle);
      CHECK(s.interval >= seconds(1));
      CHECK(s.interval <= configured.interval);
      CHECK(s.interval * 2 >= configured.interval);
      CHECK(s.give_up <= configured.give_up_after());
      CHECK(s.give_up >= configured.earliest_give_up());  // what the default start grace counts on
      CHECK(s.give_up % 1000 == std::chrono::milliseconds(0));
      // It gives up right when a probe round ends, after at least COUNT unanswered probes.
      CHECK(s.give_up == s.idle + s.interval * probes(s));
      CHECK(probes(s) >= configured.count);
    }
  }
}

TEST_CASE("keepalive idle times are spread over every allowed value", "[keepalive]") {
  std::map<long long, int> idle_seen;
  std::set<long long> intervals_seen;
  for (const std::uint32_t random : draws()) {
    const KeepaliveSchedule s = spread_keepalive(schedule(10, 5, 3), random);
    ++idle_seen[s.idle.count()];
    intervals_seen.insert(s.interval.count());
  }
  // 5 to 10 s, about equally often.
  REQUIRE(idle_seen.size() == 6);
  CHECK(idle_seen.begin()->first == 5);
  CHECK(idle_seen.rbegin()->first == 10);
  for (const auto& [idle, times] : idle_seen) CHECK(times > static_cast<int>(draws().size()) / 8);
  CHECK(intervals_seen == std::set<long long>{3, 4, 5});
}

TEST_CASE("where it can, the interval leaves 1 or 2 s of idle time after it", "[keepalive]") {
  // Linux then times the next probe in its timer wheel's 32 ms slots, not its 256 ms ones.
  for (const std::uint32_t random : draws()) {
    const KeepaliveSchedule s = spread_keepalive(schedule(10, 5, 3), random);
    if (s.idle <= seconds(7)) {
      INFO("idle " << s.idle.count() << " interval " << s.interval.count());
      CHECK(s.idle - s.interval >= seconds(1));
      CHECK(s.idle - s.interval <= seconds(2));
    }
  }
}

}  // namespace TNL_UNITY_ID
