// bench_load: the load generator of issue 5. It starts our server and the floor itself (a
// fresh process for every measurement, so memory figures start from a clean heap), runs
// each scenario against them in turn (ours, floor, ours, floor, ... for every repetition),
// then prints a table of medians with ours/floor ratios and one line per target. It runs
// on one CPU and the servers it starts on another (--no-pin: wherever the scheduler likes).
//
//   bench_load --server build/release/bin/tcpnetlock_server --floor build/release/bin/bench_floor
//   bench_load --attach-port 7654 --attach-pid PID     # a server that is already running
//   bench_load --server ... --floor ... --smoke        # every scenario, tiny, no targets
//
// Exit status: 0 when every measurement ran (targets met or not), 1 when one failed, 2 on
// bad options.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fmt/format.h>
#include <memory>
#include <thread>

#include "report.hpp"
#include "scenario.hpp"

namespace {

using namespace bench;

/// Everything the command line sets.
struct Options {
  std::string server;
  std::vector<std::string> server_args;
  std::string floor;
  int attach_port = 0;
  int attach_pid = 0;
  int repetitions = 5;
  std::vector<std::string> scenarios{"cycle", "contended", "hold", "handoff", "inspect"};
  std::vector<int> clients{1, 4, 16};
  std::vector<int> contended_clients{4, 16};
  double duration = 2;
  std::vector<int> hold{10000, 19000};
  int hold_window = 100;
  int waiters = 100;
  int rounds = 10;
  std::vector<int> inspect{19000};
  int queries = 20;
  bool smoke = false;
  bool no_pin = false;
  std::string raw;
  int server_cpu = -1;  ///< where started servers run; -1: anywhere
};

/// Shrinks every scenario to a fraction of a second (CI smoke test: rows, not timings).
void make_smoke(Options& options) {
  options.repetitions = 1;
  options.clients = {1, 4};
  options.contended_clients = {4};
  options.duration = 0.1;
  options.hold = {50};
  options.hold_window = 8;
  options.waiters = 5;
  options.rounds = 1;
  options.inspect = {50};
  options.queries = 2;
}

bool wanted(const Options& options, const std::string& scenario) {
  return std::find(options.scenarios.begin(), options.scenarios.end(), scenario) != options.scenarios.end();
}

std::vector<Scenario> make_scenarios(const Options& options) {
  const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration));
  std::vector<Scenario> scenarios;
  if (wanted(options, "cycle")) {
    for (int c : options.clients) scenarios.push_back(cycle_scenario(c, duration));
  }
  if (wanted(options, "contended")) {
    for (int c : options.contended_clients) scenarios.push_back(contended_scenario(c, duration));
  }
  if (wanted(options, "hold")) {
    for (int n : options.hold) scenarios.push_back(hold_scenario(n, options.hold_window));
  }
  if (wanted(options, "handoff")) scenarios.push_back(handoff_scenario(options.waiters, options.rounds));
  if (wanted(options, "inspect")) {
    for (int n : options.inspect) scenarios.push_back(inspect_scenario(n, options.hold_window, options.queries));
  }
  return scenarios;
}

/// The targets of issue 5 (2-core machine, load generator on the same machine).
std::vector<Goal> issue_goals() {
  using Kind = Goal::Kind;
  return {
      {"cycle c=16", "cycles/s", Kind::floor_ratio_at_least, 0.9, "cycles/s"},
      {"hold n=19000", "held", Kind::at_least, 19000, "locks"},
      {"hold n=19000", "RSS B/lock", Kind::at_most, 1024, "B"},
      {"hold n=10000", "open ms", Kind::below, 500, "ms"},
      {"handoff w=100", "p99 us", Kind::below, 100, "us"},
      {"inspect n=19000", ".stats p50 ms", Kind::below, 50, "ms"},
      {"inspect n=19000", ".locks p50 ms", Kind::below, 50, "ms"},
  };
}

/// Runs one repetition of `scenario` against `label`'s server, recording figures or failure.
void run_once(const Options& options, const Scenario& scenario, const std::string& label, Results& results) {
  try {
    Target target{label, label == "floor", 0, 0};
    std::unique_ptr<ServerProcess> process;
    if (label == "ours" && options.attach_port > 0) {
      target.port = static_cast<std::uint16_t>(options.attach_port);
      target.pid = options.attach_pid;
    } else {
      std::vector<std::string> argv{label == "floor" ? options.floor : options.server};
      if (label == "ours") {
        // The lock protocol only, as the floor: and no clash with a server already on :7655.
        argv.insert(argv.end(), {"--http", "off"});
        argv.insert(argv.end(), options.server_args.begin(), options.server_args.end());
      }
      process = std::make_unique<ServerProcess>(argv, options.server_cpu);
      target.port = process->port();
      target.pid = process->pid();
    }
    const Metrics metrics = scenario.run(target);
    results.add(scenario.name, label, metrics);
    std::string summary;
    for (const auto& metric : metrics) summary += fmt::format(" {}={:.{}f}", metric.name, metric.value, metric.decimals);
    fmt::print(stderr, "  {:<18} {:<5}{}\n", scenario.name, label, summary);
  } catch (const std::exception& e) {
    results.fail(scenario.name, label, e.what());
    fmt::print(stderr, "  {:<18} {:<5} FAILED: {}\n", scenario.name, label, e.what());
  }
  // Let the stopped server's sockets and the kernel settle before the next measurement.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"bench_load: runs the tcpnetlock benchmark scenarios against our server and the floor"};
  app.add_option("--server", options.server, "Our server's binary (started with --listen 127.0.0.1 --port 0 --port-file F --http off)");
  app.add_option("--server-arg", options.server_args, "Extra argument for our server (repeatable)")->allow_extra_args(false);
  app.add_option("--floor", options.floor, "The floor server's binary (bench_floor); without it, no floor column");
  app.add_option("--attach-port", options.attach_port, "Measure a server already listening on 127.0.0.1:PORT instead")
      ->check(CLI::Range(1, 65535));
  app.add_option("--attach-pid", options.attach_pid, "Its pid, for memory and CPU figures")->check(CLI::PositiveNumber);
  app.add_option("--repetitions", options.repetitions, "Runs of each scenario per server; medians are reported")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--scenarios", options.scenarios, "Which scenarios to run")
      ->delimiter(',')->check(CLI::IsMember({"cycle", "contended", "hold", "handoff", "inspect"}));
  app.add_option("--clients", options.clients, "cycle: concurrent clients")->delimiter(',')->check(CLI::Range(1, 1000));
  app.add_option("--contended-clients", options.contended_clients, "contended: concurrent clients")
      ->delimiter(',')->check(CLI::Range(1, 1000));
  app.add_option("--duration", options.duration, "cycle, contended: seconds per run")
      ->capture_default_str()->check(CLI::Range(0.01, 600.0));
  app.add_option("--hold", options.hold, "hold: connections holding a lock each")->delimiter(',')->check(CLI::Range(1, 60000));
  app.add_option("--hold-window", options.hold_window, "hold, inspect: connections opening at once")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--waiters", options.waiters, "handoff: waiters queued per round")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--rounds", options.rounds, "handoff: measured rounds per run, each way (polling, then blocking reads), after one warm-up round")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--inspect", options.inspect, "inspect: locks held while querying")->delimiter(',')->check(CLI::Range(0, 60000));
  app.add_option("--queries", options.queries, "inspect: .stats and .locks queries per run")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_flag("--no-pin", options.no_pin,
               "Do not pin the load generator to one CPU and the servers to another (by default they are, "
               "so that the scheduler cannot put both on one core while the other is busy elsewhere)");
  app.add_flag("--smoke", options.smoke, "Every scenario, tiny and once (for CI); targets are not checked");
  app.add_option("--raw", options.raw, "Also write every repetition's figures to this file (tab-separated)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (options.server.empty() && options.attach_port == 0) {
    fmt::print(stderr, "bench_load: give --server BINARY or --attach-port PORT\n");
    return 2;
  }
  if (options.smoke) make_smoke(options);
  std::signal(SIGPIPE, SIG_IGN);
  const long open_files = raise_open_file_limit();
  std::string placement = "not pinned to CPUs";
  if (const auto cpus = two_cpus(); cpus && !options.no_pin && pin_to_cpu(cpus->first)) {
    options.server_cpu = cpus->second;
    placement = fmt::format("load generator on CPU {}, {} on CPU {}", cpus->first,
                            options.attach_port > 0 ? "floor" : "servers", cpus->second);
  }

  std::vector<std::string> targets{"ours"};
  if (!options.floor.empty()) targets.emplace_back("floor");
  const auto scenarios = make_scenarios(options);
  fmt::print("bench_load: {} repetitions, {} s per cycle/contended run, hold window {}, handoff {} rounds, "
             "{} inspect queries, open-file limit {}, {}\n",
             options.repetitions, options.duration, options.hold_window, options.rounds, options.queries, open_files,
             placement);
  std::fflush(stdout);

  // What else ran meanwhile: busy CPU time on the machine not charged to us or our servers.
  const auto started = Clock::now();
  const double machine_busy_before = machine_busy_seconds();
  const double ours_before = own_cpu_seconds() + children_cpu_seconds();
  Results results;
  for (const auto& scenario : scenarios) {
    for (int repetition = 1; repetition <= options.repetitions; ++repetition) {
      fmt::print(stderr, "{} (repetition {}/{})\n", scenario.name, repetition, options.repetitions);
      for (const auto& label : targets) run_once(options, scenario, label, results);
    }
  }

  const double wall = seconds_between(started, Clock::now());
  const double others = machine_busy_seconds() - machine_busy_before - (own_cpu_seconds() + children_cpu_seconds() - ours_before);
  fmt::print("\n{:.0f} s; CPU time not charged to bench_load or the servers it started (other processes, "
             "interrupts): {:.1f} s, {:.0f}% of one core\n",
             wall, others, 100 * others / wall);
  fmt::print("\nmedians of {} repetitions{}\n\n", options.repetitions,
             targets.size() > 1 ? "; ours/floor > 1 means ours is higher (slower, for times)" : "");
  results.print_table(stdout, targets);
  if (!options.smoke && wanted(options, "handoff") && targets.size() > 1) {
    fmt::print("\nhandoff against the floor (no queue) times release -> released on one connection.\n"
               "handoff p50/p99/max: the waiter polls for its answer; blocking p50/p99: it sleeps in recv().\n");
  }
  if (options.smoke) {
    fmt::print("\ntargets: not checked in --smoke mode\n");
  } else {
    fmt::print("\n");
    print_goals(stdout, results, issue_goals());
  }
  if (!options.raw.empty()) {
    if (std::FILE* raw = std::fopen(options.raw.c_str(), "w")) {
      results.write_raw(raw);
      std::fclose(raw);
    } else {
      fmt::print(stderr, "bench_load: cannot write {}\n", options.raw);
    }
  }
  return results.any_failure() ? 1 : 0;
}
