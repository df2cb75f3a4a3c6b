// bench_etcd: the benchmark of issue 13, in one run on one local etcd that it starts
// itself (data directory in a temporary directory on the normal disk, and again on
// /dev/shm, where fsync costs nothing):
//
//   cycle c=1,4,16   lock + release cycles at C concurrent clients: the anchor, etcd's own
//                    Lock/Unlock RPCs with a lease per lock (LeaseGrant, Lock, Unlock,
//                    LeaseRevoke, as `etcdctl lock` and distlock do), against one replica
//                    in etcd mode over the line protocol (connect, lock a fresh name,
//                    release, close); target: ours >= 2 x the anchor at 16 clients.
//   handoff w=W      W waiters queued behind a holder, handed on in turn: ours alternate
//                    between two replicas (every handoff crosses replicas), from `release`
//                    sent to the next waiter's `ok` read; the anchor from Unlock sent to the
//                    next blocked Lock's answer; target: ours p99 < 10 ms.
//   hold n=N         N connections each holding its own lock through one replica (one
//                    lease): the replica's RSS growth per lock; target: <= 2 KiB.
//
//   bench_etcd --server build/release/bin/tcpnetlock_server            (scripts/bench-etcd.sh)
//   bench_etcd --server ... --data-dirs /dev/shm --scenarios cycle --clients 16
//   bench_etcd --server ... --smoke                                     (tiny, no targets)
//
// Every replica is a fresh process on its own key prefix; the etcd lives for the whole
// run of one data directory. Exit status: 0 when every measurement ran (targets met or
// not), 1 when one failed, 2 on bad options.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <thread>

#include "etcd_anchor.hpp"
#include "etcd_process.hpp"
#include "line_connection.hpp"
#include "report.hpp"
#include "scenario.hpp"

namespace {

using namespace bench;

struct Options {
  std::string server;
  std::string etcd = "/usr/bin/etcd";
  std::vector<std::string> data_dirs;
  std::vector<std::string> scenarios{"cycle", "handoff", "hold"};
  std::vector<int> clients{1, 4, 16};
  double duration = 2;
  int repetitions = 3;
  int waiters = 20;
  int rounds = 10;
  int hold = 10000;
  int hold_window = 100;
  int lease_ttl = 10;
  bool smoke = false;
  bool recipe = false;
  /// --pin-etcd: etcd on one CPU, the replicas and the load generator on another (-1: not pinned).
  int etcd_cpu = -1;
  int rest_cpu = -1;
  std::string raw;
};

bool wanted(const Options& options, const std::string& scenario) {
  return std::find(options.scenarios.begin(), options.scenarios.end(), scenario) != options.scenarios.end();
}

/// Where a run's keys go: a fresh prefix per replica or anchor run, so runs never meet.
std::string fresh_prefix(const std::string& what) {
  static int next = 0;
  return fmt::format("/bench-{}-{}/", what, ++next);
}

/// A replica in etcd mode on a fresh prefix, ready (its lease granted) when constructed.
class Replica {
 public:
  Replica(const Options& options, const EtcdProcess& etcd, const std::string& prefix)
      : prefix_(prefix),
        process_({options.server, "--http", "off", "--backend", "etcd", "--etcd-endpoints", "http://" + etcd.endpoint(),
                  "--etcd-prefix", prefix, "--etcd-lease-ttl", std::to_string(options.lease_ttl)},
                 options.rest_cpu) {
    // Listening comes before the lease: until it is granted, requests get
    // `err,backend unavailable`. Ready once a lock is granted.
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    std::string last;
    for (;;) {
      {
        LineConnection probe(process_.port());
        probe.send("lock,name:bench-ready-probe\n");
        last = probe.read_line();
        if (last == "ok") {
          probe.send("release\n");
          probe.expect("released");
          break;
        }
      }
      if (Clock::now() > deadline) throw std::runtime_error("replica not ready within 15 s: " + last);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  [[nodiscard]] Target target() const { return {"ours", false, process_.port(), process_.pid()}; }
  [[nodiscard]] const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
  ServerProcess process_;
};

/// The figures of a cycle run: rate, p50, p99, CPU per cycle of the replica (if any) and of etcd.
Metrics cycle_metrics(const CycleOutcome& outcome, double server_cpu, double etcd_cpu, double own_cpu, bool with_server) {
  const auto cycles = static_cast<double>(outcome.micros.size());
  const double seconds = outcome.seconds > 0 ? outcome.seconds : 1e-9;
  Metrics metrics{
      {"cycles/s", cycles / seconds, 0},
      {"p50 us", percentile(outcome.micros, 0.50), 1},
      {"p99 us", percentile(outcome.micros, 0.99), 1},
  };
  if (with_server) metrics.push_back({"server CPU us/op", cycles > 0 ? server_cpu * 1e6 / cycles : 0, 1});
  metrics.push_back({"etcd CPU us/op", cycles > 0 ? etcd_cpu * 1e6 / cycles : 0, 1});
  metrics.push_back({"loadgen CPU %", 100 * own_cpu / seconds, 0});
  return metrics;
}

Metrics anchor_cycle(const Options& options, const EtcdProcess& etcd, int clients) {
  const double etcd_before = cpu_seconds(etcd.pid());
  const double own_before = own_cpu_seconds();
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration));
  const CycleOutcome outcome = run_etcd_lock_cycles(etcd.endpoint(), clients, duration, fresh_prefix("anchor"));
  return cycle_metrics(outcome, 0, cpu_seconds(etcd.pid()) - etcd_before, own_cpu_seconds() - own_before, false);
}

/// The recipe variants `--recipe` runs, by target name.
const std::vector<std::pair<std::string, RecipeVariant>>& recipe_variants() {
  static const std::vector<std::pair<std::string, RecipeVariant>> variants{
      {"recipe", {true, true, false}},
      {"no-index", {false, true, false}},
      {"no-prev", {true, false, false}},
      {"split", {true, true, true}},
      {"split-no-prev", {true, false, true}},
      {"one-range", {true, false, false, false}},
  };
  return variants;
}

Metrics recipe_cycle(const Options& options, const EtcdProcess& etcd, int clients, RecipeVariant variant) {
  const double etcd_before = cpu_seconds(etcd.pid());
  const double own_before = own_cpu_seconds();
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration));
  const CycleOutcome outcome = run_recipe_cycles(etcd.endpoint(), clients, duration, fresh_prefix("recipe"), variant);
  return cycle_metrics(outcome, 0, cpu_seconds(etcd.pid()) - etcd_before, own_cpu_seconds() - own_before, false);
}

Metrics replica_cycle(const Options& options, const EtcdProcess& etcd, int clients) {
  Replica replica(options, etcd, fresh_prefix("cycle"));
  const Target target = replica.target();
  CycleSpec spec;
  spec.port = target.port;
  spec.clients = clients;
  spec.duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration));
  spec.lock_line = [](int client, std::uint64_t cycle) { return fmt::format("lock,name:cycle-{}-{}\n", client, cycle); };
  const double server_before = cpu_seconds(target.pid);
  const double etcd_before = cpu_seconds(etcd.pid());
  const double own_before = own_cpu_seconds();
  const CycleOutcome outcome = run_cycles(spec);
  return cycle_metrics(outcome, cpu_seconds(target.pid) - server_before, cpu_seconds(etcd.pid()) - etcd_before,
                       own_cpu_seconds() - own_before, true);
}

Metrics handoff_metrics(const std::vector<double>& micros) {
  return {{"handoffs", static_cast<double>(micros.size()), 0},
          {"p50 us", percentile(micros, 0.50), 1},
          {"p99 us", percentile(micros, 0.99), 1},
          {"max us", percentile(micros, 1.0), 1}};
}

Metrics anchor_handoff(const Options& options, const EtcdProcess& etcd) {
  return handoff_metrics(etcd_lock_handoffs(etcd.endpoint(), options.waiters, options.rounds + 1, fresh_prefix("anchor")));
}

/// Two replicas; per round a holder and W waiters alternating between them, queued in a
/// known order (each one's key is in etcd before the next asks), handed on in turn.
Metrics replica_handoff(const Options& options, const EtcdProcess& etcd) {
  const std::string prefix = fresh_prefix("handoff");
  Replica a(options, etcd, prefix);
  Replica b(options, etcd, prefix);
  EtcdReader reader(etcd.endpoint());
  std::vector<double> micros;
  for (int round = 0; round <= options.rounds; ++round) {  // round 0 warms up
    const std::string name = fmt::format("handoff-{}", round);
    const std::string lock = fmt::format("lock,name:{},wait:inf\n", name);
    std::vector<LineConnection> chain;
    chain.reserve(static_cast<std::size_t>(options.waiters) + 1);
    for (int i = 0; i <= options.waiters; ++i) {
      chain.emplace_back(i % 2 == 0 ? a.target().port : b.target().port);
      chain.back().send(lock);
      if (i == 0) {
        chain.back().expect("ok");
        continue;
      }
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (reader.count_prefix(prefix + name + "/") != i + 1) {
        if (Clock::now() > deadline) throw std::runtime_error(fmt::format("waiter {} did not queue in etcd", i));
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
      const auto start = Clock::now();
      chain[i].send("release\n");
      chain[i + 1].expect("ok", LineConnection::Wait::poll);
      if (round > 0) micros.push_back(micros_between(start, Clock::now()));
      chain[i].expect("released");
    }
    chain.back().send("release\n");
    chain.back().expect("released");
  }
  return handoff_metrics(micros);
}

/// N holders through one replica: its RSS growth per lock, checked against the keys in etcd.
Metrics replica_hold(const Options& options, const EtcdProcess& etcd) {
  Replica replica(options, etcd, fresh_prefix("hold"));
  const Target target = replica.target();
  EtcdReader reader(etcd.endpoint());
  const long rss_before = vm_rss_kib(target.pid);
  const long etcd_rss_before = vm_rss_kib(etcd.pid());
  const double server_before = cpu_seconds(target.pid);
  Holders held;
  const double seconds = held.open(target.port, options.hold, options.hold_window, "hold-");
  const double server_cpu = cpu_seconds(target.pid) - server_before;
  const long rss_after = vm_rss_kib(target.pid);
  const long etcd_rss_after = vm_rss_kib(etcd.pid());
  // Every lock is one key under the prefix, plus its index key under ".ids/".
  const std::int64_t keys = reader.count_prefix(replica.prefix()) - reader.count_prefix(replica.prefix() + ".ids/");
  if (keys != options.hold) throw std::runtime_error(fmt::format("etcd has {} lock keys, expected {}", keys, options.hold));
  return {{"held", static_cast<double>(held.size()), 0},
          {"open ms", seconds * 1e3, 1},
          {"opens/s", options.hold / (seconds > 0 ? seconds : 1e-9), 0},
          {"RSS before KiB", static_cast<double>(rss_before), 0},
          {"RSS after KiB", static_cast<double>(rss_after), 0},
          {"RSS B/lock", static_cast<double>(rss_after - rss_before) * 1024 / options.hold, 0},
          {"server CPU us/op", server_cpu * 1e6 / options.hold, 1},
          {"etcd RSS B/lock", static_cast<double>(etcd_rss_after - etcd_rss_before) * 1024 / options.hold, 0}};
}

/// Runs `measure` once, recording its figures (or its failure) under scenario and target.
template <typename Measure>
void run_once(Results& results, const std::string& scenario, const std::string& target, Measure measure) {
  try {
    const Metrics metrics = measure();
    results.add(scenario, target, metrics);
    std::string summary;
    for (const auto& metric : metrics) summary += fmt::format(" {}={:.{}f}", metric.name, metric.value, metric.decimals);
    fmt::print(stderr, "  {:<14} {:<6}{}\n", scenario, target, summary);
  } catch (const std::exception& e) {
    results.fail(scenario, target, e.what());
    fmt::print(stderr, "  {:<14} {:<6} FAILED: {}\n", scenario, target, e.what());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

std::vector<Goal> issue_goals(const Options& options) {
  using Kind = Goal::Kind;
  std::vector<Goal> goals{{"cycle c=16", "cycles/s", Kind::floor_ratio_at_least, 2.0, "cycles/s", "anchor"},
                          {fmt::format("handoff w={}", options.waiters), "p99 us", Kind::below, 10000, "us"},
                          {fmt::format("hold n={}", options.hold), "RSS B/lock", Kind::at_most, 2048, "B"}};
  return goals;
}

/// Every scenario against one etcd whose data lives under `base`; returns false on a failure.
bool run_on(const Options& options, const std::string& base) {
  EtcdProcess etcd(options.etcd, base, options.etcd_cpu);
  fmt::print("\netcd {} (pid {}), data directory under {}\n", etcd.endpoint(), etcd.pid(), base);
  std::fflush(stdout);
  Results results;
  if (wanted(options, "cycle")) {
    for (int clients : options.clients) {
      const std::string scenario = fmt::format("cycle c={}", clients);
      for (int repetition = 1; repetition <= options.repetitions; ++repetition) {
        fmt::print(stderr, "{} (repetition {}/{})\n", scenario, repetition, options.repetitions);
        run_once(results, scenario, "anchor", [&] { return anchor_cycle(options, etcd, clients); });
        run_once(results, scenario, "ours", [&] { return replica_cycle(options, etcd, clients); });
        if (options.recipe) {
          for (const auto& [name, variant] : recipe_variants()) {
            run_once(results, scenario, name, [&, variant = variant] { return recipe_cycle(options, etcd, clients, variant); });
          }
        }
      }
    }
  }
  if (wanted(options, "handoff")) {
    const std::string scenario = fmt::format("handoff w={}", options.waiters);
    for (int repetition = 1; repetition <= options.repetitions; ++repetition) {
      fmt::print(stderr, "{} (repetition {}/{})\n", scenario, repetition, options.repetitions);
      run_once(results, scenario, "anchor", [&] { return anchor_handoff(options, etcd); });
      run_once(results, scenario, "ours", [&] { return replica_handoff(options, etcd); });
    }
  }
  if (wanted(options, "hold")) {
    const std::string scenario = fmt::format("hold n={}", options.hold);
    for (int repetition = 1; repetition <= options.repetitions; ++repetition) {
      fmt::print(stderr, "{} (repetition {}/{})\n", scenario, repetition, options.repetitions);
      run_once(results, scenario, "ours", [&] { return replica_hold(options, etcd); });
    }
  }
  fmt::print("\nmedians of {} repetitions, etcd data under {}; anchor = etcd's Lock/Unlock RPCs with a lease per lock{}\n\n",
             options.repetitions, base,
             options.etcd_cpu < 0 ? "" : "; PINNED: etcd on a CPU of its own, everything else on the other");
  std::vector<std::string> targets{"anchor", "ours"};
  if (options.recipe) {
    for (const auto& [name, variant] : recipe_variants()) targets.push_back(name);
  }
  results.print_table(stdout, targets, "anchor");
  if (options.recipe) {
    fmt::print("\nrecipe: the backend's two transactions per lock (key + .ids/ index) and a watch, from the load generator\n"
               "with no replica; no-index: the same without the index key (what etcd and gRPC cost, the replica's floor);\n"
               "no-prev: the watch without prev_kv; split: two watch ranges on one stream leaving out .ids/; split-no-prev: both;\n"
               "one-range: no-prev with one range per acquire (the last two keys with values) instead of two\n");
  }
  if (options.smoke) {
    fmt::print("\ntargets: not checked in --smoke mode\n");
  } else {
    fmt::print("\n");
    print_goals(stdout, results, issue_goals(options));
  }
  if (!options.raw.empty()) {
    const std::string path = options.raw + "." + std::filesystem::path(base).filename().string();
    if (std::FILE* raw = std::fopen(path.c_str(), "w")) {
      results.write_raw(raw);
      std::fclose(raw);
    }
  }
  std::fflush(stdout);
  return !results.any_failure();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"bench_etcd: issue 13's benchmark: etcd's own Lock RPCs against replicas in etcd mode, on one local etcd"};
  app.add_option("--server", options.server, "tcpnetlock_server (started with --backend etcd --http off)")->required();
  app.add_option("--etcd", options.etcd, "The etcd binary")->capture_default_str();
  app.add_option("--data-dirs", options.data_dirs,
                 "Where etcd's data directory goes, one run each (default: the temporary directory, then /dev/shm)")
      ->delimiter(',');
  app.add_option("--scenarios", options.scenarios, "Which scenarios")->delimiter(',')->check(CLI::IsMember({"cycle", "handoff", "hold"}));
  app.add_option("--clients", options.clients, "cycle: concurrent clients")->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("--duration", options.duration, "cycle: seconds per run")->capture_default_str()->check(CLI::Range(0.01, 600.0));
  app.add_option("--repetitions", options.repetitions, "Runs of each scenario per target; medians are reported")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--waiters", options.waiters, "handoff: waiters per round")->capture_default_str()->check(CLI::Range(1, 500));
  app.add_option("--rounds", options.rounds, "handoff: measured rounds per run (after one warm-up round)")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--hold", options.hold, "hold: connections holding a lock each")->capture_default_str()->check(CLI::Range(1, 60000));
  app.add_option("--hold-window", options.hold_window, "hold: connections opening at once")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--lease-ttl", options.lease_ttl, "the replicas' --etcd-lease-ttl")->capture_default_str()->check(CLI::Range(2, 3600));
  app.add_flag("--smoke", options.smoke, "Every scenario tiny and once, on /dev/shm only; targets are not checked");
  app.add_flag("--recipe", options.recipe,
               "cycle: also run the backend's own transactions from the load generator, with and without the index key");
  bool pin_etcd = false;
  app.add_flag("--pin-etcd", pin_etcd,
               "etcd on a CPU of its own, the replicas and the load generator on another (as in production, where "
               "etcd has machines of its own); a separate configuration: the default shares every CPU");
  app.add_option("--raw", options.raw, "Also write every repetition's figures to FILE.<data dir> (tab-separated)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (options.smoke) {
    options.repetitions = 1;
    options.clients = {1, 4};
    options.duration = 0.2;
    options.waiters = 3;
    options.rounds = 1;
    options.hold = 50;
    options.hold_window = 8;
    if (options.data_dirs.empty()) options.data_dirs = {"/dev/shm"};
  }
  if (options.data_dirs.empty()) options.data_dirs = {std::filesystem::temp_directory_path().string(), "/dev/shm"};
  if (pin_etcd) {
    const auto cpus = two_cpus();
    if (!cpus || !pin_to_cpu(cpus->second)) {
      fmt::print(stderr, "--pin-etcd: needs two CPUs this process may run on\n");
      return 2;
    }
    options.etcd_cpu = cpus->first;
    options.rest_cpu = cpus->second;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const long open_files = raise_open_file_limit();
  fmt::print("bench_etcd: {} repetitions, {} s per cycle run, handoff {} waiters x {} rounds, hold {}, lease TTL {} s, "
             "open-file limit {}, {}\n",
             options.repetitions, options.duration, options.waiters, options.rounds, options.hold, options.lease_ttl,
             open_files,
             options.etcd_cpu < 0
                 ? "not pinned to CPUs (etcd, the replicas and the load generator share the machine)"
                 : fmt::format("PINNED (--pin-etcd): etcd on CPU {} alone, the replicas and the load generator on CPU {}",
                               options.etcd_cpu, options.rest_cpu));
  bool ok = true;
  for (const auto& base : options.data_dirs) {
    try {
      ok = run_on(options, base) && ok;
    } catch (const std::exception& e) {
      fmt::print("etcd under {}: FAILED: {}\n", base, e.what());
      ok = false;
    }
  }
  return ok ? 0 : 1;
}
