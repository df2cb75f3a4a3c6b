// /metrics and `.stats` rendered from views built directly: one meaning of "locks held"
// (names), "holds" (holders, a semaphore's each) and lock-delays (neither); the oldest
// hold's age; which holds are fenced; build_info and the process_* metrics. What the lock
// table keeps for these totals is tested in lock_table_totals_test.cpp.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "lock_view.hpp"
#include "lock_view_json.hpp"
#include "metrics_text.hpp"
#include "server_stats.hpp"
#include "stats_json.hpp"
#include "version.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::HoldKind;
using tnl::LockView;
using namespace std::chrono_literals;

namespace {

/// The value of the sample `series` (name with labels, as written) in `text`, or nullopt.
std::optional<double> sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + series.size() + 2));
}

/// A view of the totals only, read now.
LockView totals_view(tnl::LockTotals totals = {}) {
  LockView view;
  view.as_of = std::chrono::system_clock::now();
  view.totals = totals;
  return view;
}

}  // namespace

TEST_CASE("a hold is shown fenced when its holder can know its token", "[metrics]") {
  const auto now = std::chrono::system_clock::now();
  std::vector<tnl::NameRecord> names;
  for (const auto& [name, fenced] : {std::pair<std::string, bool>{"detached", true}, {"fenced", true}, {"plain", false}}) {
    tnl::HoldRecord holder;
    holder.since = now;
    holder.token = 1;
    holder.fenced = fenced;
    holder.kind = name == "detached" ? HoldKind::detached : HoldKind::connection;
    names.push_back(tnl::NameRecord{name, 1, {holder}, {}, {}});
  }
  LockView view = totals_view();
  view.names = std::make_shared<const std::vector<tnl::NameRecord>>(names);
  const auto json = nlohmann::json::parse(tnl::locks_to_json(view, "", true, ""));
  REQUIRE(json.at("locks").size() == 3);
  for (const auto& lock : json.at("locks")) {
    CHECK(lock.at("holders").at(0).at("fenced") == (lock.at("name") != "plain"));
  }
  CHECK(tnl::lock_record(names.at(2), names.at(2).holders.at(0), now).at("fenced") == false);
  CHECK(tnl::lock_record(names.at(1), names.at(1).holders.at(0), now).at("fenced") == true);
}

TEST_CASE("/metrics and .stats count locks held, holds and lock-delays alike", "[metrics]") {
  tnl::ServerStats stats;
  // conn, sem (two holders), det held; revoked kept by a lock-delay: neither a lock held nor a hold.
  tnl::LockTotals totals;
  totals.held_names = 3;
  totals.connection_holds = 3;
  totals.detached_holds = 1;
  totals.delays = 1;
  totals.waiters = 2;
  LockView view = totals_view();
  totals.oldest_connection_hold = view.as_of - 30s;
  totals.oldest_detached_hold = view.as_of - 5s;
  view.totals = totals;

  const std::string text = tnl::render_metrics(view, stats, 7, std::chrono::system_clock::now());
  const auto json = tnl::stats_to_json(totals, stats, 7);
  CHECK(json.at("lock_count") == 3);  // names: conn, sem, det
  CHECK(json.at("hold_count") == 4);  // holders: sem counts twice
  CHECK(json.at("connection_hold_count") == 3);
  CHECK(json.at("detached_hold_count") == 1);
  CHECK(json.at("detached_lock_count") == 1);
  CHECK(json.at("lock_delay_count") == 1);
  CHECK(json.at("waiter_count") == 2);
  CHECK(json.at("connection_count") == 7);
  CHECK(json.at("grant_failure_count") == 0);
  CHECK(json.at("state_write_failure_count") == 0);
  CHECK(sample(text, "tcpnetlock_locks_held") == 3);
  CHECK(sample(text, R"(tcpnetlock_holds{kind="connection"})") == 3);
  CHECK(sample(text, R"(tcpnetlock_holds{kind="detached"})") == 1);
  CHECK(sample(text, "tcpnetlock_lock_delays") == 1);
  CHECK(sample(text, "tcpnetlock_waiters") == 2);
  CHECK(sample(text, "tcpnetlock_connections") == 7);
  // Ages are counted up to the view's as_of.
  CHECK(sample(text, R"(tcpnetlock_oldest_hold_age_seconds{kind="connection"})") == 30);
  CHECK(sample(text, R"(tcpnetlock_oldest_hold_age_seconds{kind="detached"})") == 5);

  // Nothing held: the gauge is there, and 0 (a missing series would hide an alert's input).
  const std::string idle = tnl::render_metrics(totals_view(), stats, 0, std::chrono::system_clock::now());
  CHECK(sample(idle, R"(tcpnetlock_oldest_hold_age_seconds{kind="connection"})") == 0);
  CHECK(sample(idle, R"(tcpnetlock_oldest_hold_age_seconds{kind="detached"})") == 0);
}

TEST_CASE(".stats keeps its fields in their order", "[metrics]") {
  // The `.stats` line and GET /stats are byte for byte what they were: same keys, same order
  // ("backend" and "store" added for tcpnetlock_distlock's several endpoints).
  tnl::ServerStats stats;
  stats.requests_count = 5;
  std::vector<std::string> keys;
  const auto json = tnl::stats_to_json(tnl::LockTotals{}, stats, 1);
  for (const auto& item : json.items()) keys.push_back(item.key());
  CHECK(keys == std::vector<std::string>{"backend", "connection_count", "connection_hold_count", "detached_hold_count",
                                         "detached_lock_count", "expired_lock_count", "forced_release_count",
                                         "grant_failure_count", "hold_count", "lock_acquired_count", "lock_count",
                                         "lock_delay_count", "lock_not_acquired_count", "maxrss",
                                         "reaped_holder_count", "refused_connection_count", "requests_count",
                                         "start_grace_seconds_left", "state_write_failure_count", "store",
                                         "tls_handshake_failure_count", "wait_count", "wait_timeout_count",
                                         "waiter_count"});
  CHECK(json.at("requests_count") == 5);
  CHECK(json.at("backend") == "local");  // tcpnetlock_distlock's check before a failover
}

TEST_CASE("/metrics has build_info and the process metrics of the Prometheus client libraries", "[metrics]") {
  const std::string text = tnl::render_metrics(totals_view(), tnl::ServerStats{}, 0, std::chrono::system_clock::now());
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
  CHECK(tnl::stats_to_json(tnl::LockTotals{}, stats, 0).at("start_grace_seconds_left") == 0.0);
  CHECK(sample(tnl::render_metrics(totals_view(), stats, 0, std::chrono::system_clock::now()),
               "tcpnetlock_start_grace_remaining_seconds") == 0);

  tnl::LockTotals starting;
  starting.start_grace_seconds_left = 29.5;
  CHECK(tnl::stats_to_json(starting, stats, 0).at("start_grace_seconds_left") == 29.5);
  CHECK(sample(tnl::render_metrics(totals_view(starting), stats, 0, std::chrono::system_clock::now()),
               "tcpnetlock_start_grace_remaining_seconds") == 29.5);
}

}  // namespace TNL_UNITY_ID
