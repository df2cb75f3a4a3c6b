// /metrics and `.stats` rendered from a table driven directly: one meaning of "locks held"
// (names), "holds" (holders, a semaphore's each) and lock-delays (neither); the oldest
// hold's age; which holds are fenced; build_info and the process_* metrics.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <regex>
#include <string>

#include "lock_table.hpp"
#include "lock_table_json.hpp"
#include "metrics_text.hpp"
#include "server_stats.hpp"
#include "stats_json.hpp"
#include "version.hpp"

using tnl::LockTable;
using Kind = LockTable::Kind;
using namespace std::chrono_literals;

namespace {

tnl::LockId id_of(LockTable::OwnerId owner) { return tnl::LockId{0x1d00'0000'0000'8000ULL, (0x2ULL << 62) | owner}; }

LockTable::Request request(const std::string& name, LockTable::OwnerId owner, std::size_t limit = 1,
                           Kind kind = Kind::connection, bool fencing = false) {
  LockTable::Request r{name, owner, "c" + std::to_string(owner), "", "", limit, std::nullopt, id_of(owner), kind,
                       std::nullopt};
  r.shows_token = fencing;
  return r;
}

/// Takes `name` for `owner` at `now`; fails the test unless granted.
void take(LockTable& table, LockTable::Request r, LockTable::TimePoint now) {
  std::optional<LockTable::Outcome> outcome;
  table.acquire(std::move(r), now, [&](LockTable::Outcome o, LockTable::Token) { outcome = o; });
  REQUIRE(outcome == LockTable::Outcome::granted);
}

/// The value of the sample `series` (name with labels, as written) in `text`, or nullopt.
std::optional<double> sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace

TEST_CASE("the oldest hold of each kind is known without a scan until it is freed", "[metrics]") {
  LockTable table;
  const auto t0 = LockTable::Clock::now();
  CHECK_FALSE(table.oldest_hold_since(Kind::connection));
  CHECK_FALSE(table.oldest_hold_since(Kind::detached));
  take(table, request("a", 1), t0);
  take(table, request("s", 2, 2), t0 + 1s);
  take(table, request("s", 3, 2), t0 + 2s);
  take(table, request("d", 4, 1, Kind::detached), t0 + 3s);
  CHECK(table.oldest_hold_since(Kind::connection) == t0);
  CHECK(table.oldest_hold_since(Kind::detached) == t0 + 3s);
  CHECK_FALSE(table.oldest_hold_since(Kind::delay));

  // Freeing a younger hold changes nothing; freeing the oldest finds the next one.
  REQUIRE(table.release("s", 3, t0 + 4s));
  CHECK(table.oldest_hold_since(Kind::connection) == t0);
  REQUIRE(table.release("a", 1, t0 + 5s, 10s));  // leaves a lock-delay: not a hold
  CHECK(table.holder_count(Kind::delay) == 1);
  CHECK(table.oldest_hold_since(Kind::connection) == t0 + 1s);
  REQUIRE(table.release("s", 2, t0 + 6s));
  CHECK_FALSE(table.oldest_hold_since(Kind::connection));
  CHECK(table.oldest_hold_since(Kind::detached) == t0 + 3s);

  // A restored hold older than every other becomes the oldest.
  LockTable::Holder saved{tnl::LockId{1, 2}, 9, Kind::detached, "old", "", "", t0 - 100s, 1, std::nullopt};
  REQUIRE(table.restore("r", 1, saved));
  CHECK(table.oldest_hold_since(Kind::detached) == t0 - 100s);
}

TEST_CASE("a hold is fenced when its holder can know its token: fencing:1 or detached", "[metrics]") {
  LockTable table;
  const auto t0 = LockTable::Clock::now();
  take(table, request("plain", 1), t0);
  take(table, request("fenced", 2, 1, Kind::connection, true), t0);
  take(table, request("detached", 3, 1, Kind::detached), t0);
  LockTable::Holder saved{tnl::LockId{1, 2}, 9, Kind::detached, "old", "", "", t0, 1, std::nullopt};
  REQUIRE(table.restore("restored", 1, saved));
  CHECK_FALSE(table.holders("plain").at(0).fenced);
  CHECK(table.holders("fenced").at(0).fenced);
  CHECK(table.holders("detached").at(0).fenced);
  CHECK(table.holders("restored").at(0).fenced);

  const std::string listing = tnl::locks_to_json(table, std::nullopt, tnl::ClockReadings{}, "", true, "");
  const auto json = nlohmann::json::parse(listing);
  for (const auto& lock : json.at("locks")) {
    CHECK(lock.at("holders").at(0).at("fenced") == (lock.at("name") != "plain"));
  }
  const auto& plain = table.holders("plain").at(0);
  CHECK(tnl::lock_record("plain", 1, plain, {}, tnl::ClockReadings{}, true, true).at("fenced") == false);
}

TEST_CASE("/metrics and .stats count locks held, holds and lock-delays alike", "[metrics]") {
  LockTable table;
  tnl::ServerStats stats;
  const auto now = LockTable::Clock::now();
  take(table, request("conn", 1), now - 30s);
  take(table, request("sem", 2, 2), now - 20s);
  take(table, request("sem", 3, 2), now - 10s);
  take(table, request("det", 4, 1, Kind::detached), now - 5s);
  take(table, request("revoked", 5), now - 1s);
  REQUIRE(table.release("revoked", 5, now, 60s));  // a lock-delay: neither a lock held nor a hold

  const std::string text = tnl::render_metrics(table, stats, 7, std::chrono::system_clock::now());
  const auto json = tnl::stats_to_json(table, stats, 7);
  CHECK(json.at("lock_count") == 3);  // names: conn, sem, det
  CHECK(json.at("hold_count") == 4);  // holders: sem counts twice
  CHECK(json.at("connection_hold_count") == 3);
  CHECK(json.at("detached_hold_count") == 1);
  CHECK(json.at("detached_lock_count") == 1);
  CHECK(json.at("lock_delay_count") == 1);
  CHECK(json.at("grant_failure_count") == 0);
  CHECK(json.at("state_write_failure_count") == 0);
  CHECK(sample(text, "tcpnetlock_locks_held") == 3);
  CHECK(sample(text, R"(tcpnetlock_holds{kind="connection"})") == 3);
  CHECK(sample(text, R"(tcpnetlock_holds{kind="detached"})") == 1);
  CHECK(sample(text, "tcpnetlock_lock_delays") == 1);
  const auto oldest = sample(text, R"(tcpnetlock_oldest_hold_age_seconds{kind="connection"})");
  REQUIRE(oldest);
  CHECK(*oldest >= 30);
  CHECK(*oldest < 300);
  const auto oldest_detached = sample(text, R"(tcpnetlock_oldest_hold_age_seconds{kind="detached"})");
  REQUIRE(oldest_detached);
  CHECK(*oldest_detached >= 5);
  CHECK(*oldest_detached < 30);

  // Nothing held: the gauge is there, and 0 (a missing series would hide an alert's input).
  const std::string idle = tnl::render_metrics(LockTable{}, stats, 0, std::chrono::system_clock::now());
  CHECK(sample(idle, R"(tcpnetlock_oldest_hold_age_seconds{kind="connection"})") == 0);
  CHECK(sample(idle, R"(tcpnetlock_oldest_hold_age_seconds{kind="detached"})") == 0);
}

TEST_CASE("/metrics has build_info and the process metrics of the Prometheus client libraries", "[metrics]") {
  const std::string text = tnl::render_metrics(LockTable{}, tnl::ServerStats{}, 0, std::chrono::system_clock::now());
  const std::string info = "tcpnetlock_build_info{version=\"" + std::string(tnl::version()) + "\",commit=\"" +
                           std::string(tnl::git_commit()) + "\"} 1\n";
  CHECK(text.find(info) != std::string::npos);
  CHECK(text.find("# TYPE tcpnetlock_build_info gauge\n") != std::string::npos);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
  CHECK(sample(text, "process_cpu_seconds_total") >= 0);
  CHECK(sample(text, "process_virtual_memory_bytes") > 0);
  CHECK(sample(text, "process_resident_memory_bytes") > 0);
  CHECK(sample(text, "process_open_fds") > 0);
  CHECK(sample(text, "process_max_fds") > 0);
  CHECK(sample(text, "process_start_time_seconds") > 1.6e9);
  CHECK(sample(text, "tcpnetlock_grant_failures_total") == 0);
  CHECK(sample(text, "tcpnetlock_state_write_failures_total") == 0);
  // Every sample belongs to a family with HELP and TYPE lines, in that order.
  const std::regex type_line(R"(^# TYPE ([a-z_]+) (gauge|counter|histogram)$)");
  std::size_t families = 0;
  std::string::size_type start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    std::smatch m;
    if (std::regex_match(line, m, type_line)) {
      ++families;
      CHECK(text.rfind("# HELP " + m[1].str() + " ", start) != std::string::npos);
    }
    start = end + 1;
  }
  CHECK(families >= 24);
}

TEST_CASE("/metrics and .stats show how much of the start grace is left", "[metrics][grace]") {
  tnl::ServerStats stats;
  LockTable idle;
  CHECK(tnl::stats_to_json(idle, stats, 0).at("start_grace_seconds_left") == 0.0);
  CHECK(sample(tnl::render_metrics(idle, stats, 0, std::chrono::system_clock::now()),
               "tcpnetlock_start_grace_remaining_seconds") == 0);

  LockTable starting;
  starting.hold_grants_until(LockTable::Clock::now() + 30s);
  const double left = tnl::stats_to_json(starting, stats, 0).at("start_grace_seconds_left");
  CHECK(left > 25);
  CHECK(left <= 30);
  const auto gauge = sample(tnl::render_metrics(starting, stats, 0, std::chrono::system_clock::now()),
                            "tcpnetlock_start_grace_remaining_seconds");
  REQUIRE(gauge);
  CHECK(*gauge > 25);
  CHECK(*gauge <= 30);

  LockTable over;  // a grace that has ended shows 0, before expire() has even run
  over.hold_grants_until(LockTable::Clock::now() - 1s);
  CHECK(tnl::stats_to_json(over, stats, 0).at("start_grace_seconds_left") == 0.0);
}
