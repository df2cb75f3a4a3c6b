// bench_grpc: issue 14's benchmark. One tcpnetlock_server (local backend) is started with
// its lock port, HTTP and gRPC on 127.0.0.1, and for each client count (1, 4, 16) C
// clients each lock a fresh name and release it, again and again for a fixed time, over:
//
//   grpc        Tracker's CreateLock + UnLock (generated stubs, one channel per client)
//   http        POST /api/v1alpha1/lock + DELETE /api/v1alpha1/lock/{id} (keep-alive)
//   line-ttl    lock,name:X,ttl:inf (answer ok,id:ID, the server closes) + unlock,id:ID
//   line-cycle  a connection lock: connect, lock, ok, release, released, close
//
// Every client has names of its own (never contended): this measures what a lock costs
// over each transport, not queueing. Reported per transport and client count (medians of
// the repetitions, which alternate transports): pairs per second, p50/p99 of one pair, the
// server's CPU time per pair (user + system from /proc/PID/stat over the measured
// interval), its context switches per pair (all its threads: thread hand-offs are what a
// gRPC call costs most), and the load generator's own CPU. Then, per client count, whether
// gRPC costs the server no more CPU per lock than HTTP.
//
// A server's CPU per request depends on how busy it is: one that is woken for every request
// pays for each wake-up, one kept busy handles several per wake-up. Run flat out, the
// transports do not load the server alike (gRPC's client library costs the load generator
// several times what HTTP's does, so the server waits more between gRPC calls). So every
// transport is run a second time at one same pace, half the slowest one's flat-out pairs/s
// at that client count (--no-equal-pace skips it): there, CPU per pair compares the
// transports' own costs.
//
//   bench_grpc --server build/release/bin/tcpnetlock_server            # 1,4,16 clients, 3 x 2 s
//   bench_grpc --server ... --smoke                                    # tiny, for CI
//   bench_grpc --attach LINE,HTTP,GRPC --pairs 1000 --transports grpc --clients 1
//       # a server already running (e.g. under valgrind: scripts/bench-grpc-instructions.sh),
//       # exactly 1,000 pairs per client after one warm-up pair
//
// Exit status: 0 when every measurement ran, 1 when one failed, 2 on bad options.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <atomic>
#include <functional>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <dirent.h>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "measure.hpp"
#include "pair_client.hpp"
#include "server_process.hpp"

namespace {

using namespace bench;

/// Everything the command line sets.
struct Options {
  std::string server;
  std::vector<std::string> server_args;
  std::vector<int> clients{1, 4, 16};
  std::vector<std::string> transports{"grpc", "http", "line-ttl", "line-cycle"};
  double seconds = 2;
  int repetitions = 3;
  long max_pairs = 10'000'000;  ///< per client and run: the loop's bound besides the time
  bool no_pin = false;
  bool smoke = false;
  bool equal_pace = true;  ///< run every transport again at one same pace
  double pace = 0;         ///< that pace (pairs/s); 0: half the slowest transport's flat-out rate
  std::vector<int> attach;  ///< line, HTTP and gRPC ports of a server already running (none started)
  pid_t attach_pid = 0;     ///< its pid, for the CPU figures (0: none)
  long pairs = 0;           ///< exactly this many pairs per client and run (no time bound but 600 s)
  bool no_spin = false;     ///< the HTTP and line clients block for every answer, as gRPC's stubs do
};

/// One run's figures.
struct Figures {
  double pairs_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double server_cpu_us = 0;   ///< per pair
  double server_cpu_pct = 0;  ///< of one core
  double loadgen_cpu_us = 0;  ///< per pair
  double loadgen_cpu_pct = 0;
  double server_switches = 0;  ///< the server's context switches (all its threads) per pair
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Waits (at most 10 s) for the port the server writes to `path` (whole: it renames a temporary file).
std::uint16_t await_port(const std::string& path) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    const std::string text = read_file(path);
    if (!text.empty()) return static_cast<std::uint16_t>(std::stoi(text));
    if (Clock::now() > deadline) throw std::runtime_error("the server wrote no port to " + path + " within 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

/// How many threads process `pid` runs.
int thread_count(pid_t pid) {
  int count = 0;
  if (DIR* tasks = opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
    while (const dirent* entry = readdir(tasks)) count += entry->d_name[0] != '.';
    closedir(tasks);
  }
  return count;
}

/// Context switches (voluntary and not) of every thread of process `pid` so far.
double context_switches(pid_t pid) {
  double total = 0;
  const std::string tasks_path = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(tasks_path.c_str());
  if (tasks == nullptr) return 0;
  while (const dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream status(tasks_path + "/" + entry->d_name + "/status");
    std::string line;
    while (std::getline(status, line)) {
      // "voluntary_ctxt_switches:\t123" and "nonvoluntary_ctxt_switches:\t4"
      if (line.find("ctxt_switches:") != std::string::npos) total += std::stod(line.substr(line.find(':') + 1));
    }
  }
  closedir(tasks);
  return total;
}

/// Runs `clients` clients of `transport` for `seconds` against the server; throws if any
/// fails. The HTTP and line clients poll for their answers while there are no more of
/// them than `loadgen_cpus` (make_pair_client's `spin`). `pace` > 0: the clients start
/// `pace` pairs per second between them, evenly spaced (a client late for its slot starts
/// its next pair at once); 0: each as fast as it can.
Figures run_once(Transport transport, int clients, const Options& options, const Ports& ports, pid_t server_pid,
                 long& name_serial, int loadgen_cpus, double pace) {
  std::mutex mutex;
  std::condition_variable changed;
  int ready = 0;
  bool go = false;
  std::atomic<bool> stop{false};
  std::string failure;
  Clock::time_point started;
  Clock::time_point deadline;
  std::vector<std::vector<double>> micros(static_cast<std::size_t>(clients));
  const long first_serial = name_serial;
  name_serial += static_cast<long>(clients) * (options.max_pairs + 1);

  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        // Names of this client's own: "bench-SERIAL", a range no other client or run uses.
        long serial = first_serial + static_cast<long>(c) * (options.max_pairs + 1);
        auto client = make_pair_client(transport, ports, !options.no_spin && clients <= loadgen_cpus);
        client->pair("bench-" + std::to_string(serial++));  // warm-up: connects the channel
        auto& mine = micros[static_cast<std::size_t>(c)];
        mine.reserve(static_cast<std::size_t>(std::min(options.max_pairs, 1'000'000L)));
        {
          std::unique_lock<std::mutex> lock(mutex);
          ++ready;
          changed.notify_all();
          // Bounded: main sets go, or stop on a failure, within its own deadline.
          changed.wait(lock, [&] { return go || stop; });
        }
        // This client's slots: every clients/pace seconds, the clients' staggered evenly.
        const auto interval = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(pace > 0 ? clients / pace : 0.0));
        auto slot = started + interval * c / clients;
        for (long n = 0; n < options.max_pairs && !stop && Clock::now() < deadline; ++n) {
          if (pace > 0) {
            std::this_thread::sleep_until(std::min(slot, deadline));
            slot += interval;
            if (Clock::now() >= deadline) break;
          }
          const auto begin = Clock::now();
          client->pair("bench-" + std::to_string(serial++));
          mine.push_back(micros_between(begin, Clock::now()));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure.empty()) failure = e.what();
        stop = true;
        changed.notify_all();
      }
      std::lock_guard<std::mutex> lock(mutex);
      ++ready;  // counts as ready too, so that main never waits for a client that failed
      changed.notify_all();
    });
  }
  double server_before = 0;
  double switches_before = 0;
  double own_before = 0;
  {
    std::unique_lock<std::mutex> lock(mutex);
    const bool all_ready = changed.wait_for(lock, std::chrono::seconds(30), [&] { return ready >= clients || stop; });
    if (!all_ready) {
      failure = "clients not connected within 30 s";
      stop = true;
    }
    server_before = server_pid != 0 ? cpu_seconds(server_pid) : 0;
    switches_before = server_pid != 0 ? context_switches(server_pid) : 0;
    own_before = own_cpu_seconds();
    started = Clock::now();
    deadline = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    go = true;
    changed.notify_all();
  }
  for (auto& thread : threads) thread.join();
  const double elapsed = seconds_between(started, Clock::now());
  const double server_cpu = server_pid != 0 ? cpu_seconds(server_pid) - server_before : 0;
  const double own_cpu = own_cpu_seconds() - own_before;
  const double switches = server_pid != 0 ? context_switches(server_pid) - switches_before : 0;
  if (!failure.empty()) throw std::runtime_error(failure);

  std::vector<double> all;
  for (const auto& one : micros) {
    if (options.pairs > 0 && static_cast<long>(one.size()) != options.pairs) {
      throw std::runtime_error(fmt::format("a client made {} pairs, not {}, within {} s", one.size(), options.pairs,
                                           options.seconds));
    }
    all.insert(all.end(), one.begin(), one.end());
  }
  if (all.empty()) throw std::runtime_error("no pair completed");
  const double pairs = static_cast<double>(all.size());
  return {pairs / elapsed,
          percentile(all, 0.50),
          percentile(all, 0.99),
          server_cpu * 1e6 / pairs,
          100 * server_cpu / elapsed,
          own_cpu * 1e6 / pairs,
          100 * own_cpu / elapsed,
          switches / pairs};
}

/// The median of `field` over `runs`.
double median_of(const std::vector<Figures>& runs, double Figures::*field) {
  std::vector<double> values;
  for (const auto& run : runs) values.push_back(run.*field);
  return median(values);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"bench_grpc: lock + release pairs over gRPC, HTTP and the line protocol against one server"};
  auto* server_option =
      app.add_option("--server", options.server, "The server's binary (started with its lock port, --http and --grpc on 127.0.0.1)");
  auto* attach_option =
      app.add_option("--attach", options.attach, "Start no server: use the one listening on these ports of 127.0.0.1 (LINE,HTTP,GRPC)")
          ->delimiter(',')->expected(3)->check(CLI::Range(1, 65535));
  server_option->excludes(attach_option);
  app.add_option("--attach-pid", options.attach_pid, "With --attach: the server's pid, for its CPU figures")
      ->needs(attach_option);
  app.add_flag("--no-spin", options.no_spin,
               "The HTTP and line clients never poll for an answer: they sleep in recv() as gRPC's stubs do "
               "(the server then wakes them at every answer, on its own CPU time)");
  app.add_option("--pairs", options.pairs, "Exactly this many pairs per client and run (after one warm-up pair; at most 600 s)")
      ->check(CLI::Range(1L, 100'000'000L));
  app.add_option("--server-arg", options.server_args, "Extra argument for the server (repeatable)")->allow_extra_args(false);
  app.add_option("--clients", options.clients, "Concurrent clients, comma-separated")->delimiter(',')->check(CLI::Range(1, 256));
  app.add_option("--transports", options.transports, "Which transports")
      ->delimiter(',')->check(CLI::IsMember({"grpc", "http", "line-ttl", "line-cycle"}));
  app.add_option("--seconds", options.seconds, "Seconds per run")->capture_default_str()->check(CLI::Range(0.01, 600.0));
  app.add_option("--repetitions", options.repetitions, "Runs of each transport and client count; medians are reported")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--max-pairs", options.max_pairs, "At most this many pairs per client and run")
      ->capture_default_str()->check(CLI::Range(1L, 100'000'000L));
  app.add_flag("--no-pin", options.no_pin, "Do not pin the load generator to one CPU and the server to another");
  app.add_flag("--smoke", options.smoke, "1 and 4 clients, 0.1 s, once (for CI: rows, not timings)");
  app.add_option("--pace", options.pace, "The second round's pace in pairs/s (default: half the slowest's flat-out rate)")
      ->check(CLI::Range(0.0, 1e7));
  app.add_flag("!--no-equal-pace", options.equal_pace,
               "Skip the second round, where every transport runs at one same pace (half the slowest's pairs/s)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (options.server.empty() == options.attach.empty()) {
    fmt::print(stderr, "bench_grpc: give --server or --attach\n");
    return 2;
  }
  if (options.pairs > 0) {
    options.max_pairs = options.pairs;
    options.seconds = 600;
  }
  if (options.smoke) {
    options.clients = {1, 4};
    options.seconds = 0.1;
    options.repetitions = 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  raise_open_file_limit();
  int server_cpu = -1;
  // CPUs the load generator has to itself: the one it is pinned to, or half the machine's.
  int loadgen_cpus = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  std::string placement = "not pinned to CPUs";
  if (const auto cpus = two_cpus(); cpus && !options.no_pin && options.attach.empty() && pin_to_cpu(cpus->first)) {
    server_cpu = cpus->second;
    loadgen_cpus = 1;
    placement = fmt::format("load generator on CPU {}, server on CPU {}", cpus->first, cpus->second);
  }
  std::vector<Transport> transports;
  for (const auto transport : all_transports()) {
    if (std::find(options.transports.begin(), options.transports.end(), transport_name(transport)) != options.transports.end()) {
      transports.push_back(transport);
    }
  }

  char pattern[] = "/tmp/tnl-bench-grpc-XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    fmt::print(stderr, "bench_grpc: mkdtemp failed\n");
    return 1;
  }
  const std::string directory = pattern;
  std::vector<std::string> argv_server{options.server,           "--http", "127.0.0.1:0", "--http-port-file",
                                       directory + "/http-port", "--grpc", "127.0.0.1:0", "--grpc-port-file",
                                       directory + "/grpc-port"};
  argv_server.insert(argv_server.end(), options.server_args.begin(), options.server_args.end());

  using Results = std::map<std::pair<int, Transport>, std::vector<Figures>>;
  using Failures = std::map<std::pair<int, Transport>, std::string>;
  Results results;       // flat out
  Results paced;         // every transport at one same pace
  std::map<int, double> paces;  // per client count
  Failures failures;
  int server_threads = 0;
  const auto started = Clock::now();
  const double machine_before = machine_busy_seconds();
  const double ours_before = own_cpu_seconds() + children_cpu_seconds();
  double server_total_cpu = 0;
  try {
    std::optional<ServerProcess> started_server;
    Ports ports;
    pid_t server_pid = options.attach_pid;
    if (options.attach.empty()) {
      started_server.emplace(argv_server, server_cpu);
      server_pid = started_server->pid();
      ports.line = started_server->port();
      ports.http = await_port(directory + "/http-port");
      ports.grpc = await_port(directory + "/grpc-port");
    } else {
      ports.line = static_cast<std::uint16_t>(options.attach[0]);
      ports.http = static_cast<std::uint16_t>(options.attach[1]);
      ports.grpc = static_cast<std::uint16_t>(options.attach[2]);
    }
    fmt::print("bench_grpc: {} server (pid {}, local backend), {} s per run, {} repetitions, {}\n",
               started_server ? "one" : "an attached", server_pid, options.seconds, options.repetitions, placement);
    std::fflush(stdout);
    long name_serial = 0;
    // One round: every client count, repetition and transport (alternating), at `pace_of(clients)`.
    const auto round = [&](Results& into, const std::function<double(int)>& pace_of) {
      for (int clients : options.clients) {
        const double pace = pace_of(clients);
        for (int repetition = 1; repetition <= options.repetitions; ++repetition) {
          for (const auto transport : transports) {
            const auto key = std::make_pair(clients, transport);
            try {
              const Figures figures =
                  run_once(transport, clients, options, ports, server_pid, name_serial, loadgen_cpus, pace);
              into[key].push_back(figures);
              fmt::print(stderr, "  {:<10} c={:<3} rep {}{}: {:.0f} pairs/s, p99 {:.0f} us, server {:.1f} us/pair\n",
                         transport_name(transport), clients, repetition, pace > 0 ? " (paced)" : "",
                         figures.pairs_per_second, figures.p99_us, figures.server_cpu_us);
              std::fflush(stderr);
            } catch (const std::exception& e) {
              failures.emplace(key, e.what());
              fmt::print(stderr, "  {:<10} c={:<3} rep {}: FAILED: {}\n", transport_name(transport), clients, repetition,
                         e.what());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }
      }
    };
    round(results, [](int) { return 0.0; });
    if (options.equal_pace) {
      // Half the slowest transport's flat-out rate: every transport keeps up with it easily
      // (a load generator near its limit falls behind its slots, then catches up in bursts).
      for (int clients : options.clients) {
        double slowest = 0;
        for (const auto transport : transports) {
          const auto runs = results.find({clients, transport});
          if (runs == results.end()) continue;
          const double rate = median_of(runs->second, &Figures::pairs_per_second);
          slowest = slowest == 0 ? rate : std::min(slowest, rate);
        }
        if (options.pace > 0) {
          paces[clients] = options.pace;
        } else if (slowest > 0) {
          paces[clients] = 0.5 * slowest;
        }
      }
      round(paced, [&](int clients) { return paces.count(clients) != 0 ? paces[clients] : 0.0; });
    }
    if (server_pid != 0) {
      server_threads = thread_count(server_pid);
      server_total_cpu = cpu_seconds(server_pid);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_grpc: {}\n", e.what());
    ::unlink((directory + "/http-port").c_str());
    ::unlink((directory + "/grpc-port").c_str());
    ::rmdir(directory.c_str());
    return 1;
  }
  for (const char* name : {"/http-port", "/grpc-port", "/http-port.tmp", "/grpc-port.tmp"}) ::unlink((directory + name).c_str());
  ::rmdir(directory.c_str());

  const double wall = seconds_between(started, Clock::now());
  const double ours = own_cpu_seconds() + server_total_cpu - ours_before;
  const double others = machine_busy_seconds() - machine_before - ours;
  fmt::print("{:.0f} s; server threads at the end: {}; CPU time used by anything else meanwhile: {:.1f} s "
             "({:.0f}% of one core)\n\n",
             wall, server_threads, others, 100 * others / wall);
  fmt::print("medians of {} run(s); a pair = lock a free name + release it; CPU us per pair; cs/op: the server's\n"
             "context switches per pair (all its threads)\n",
             options.repetitions);
  const auto table = [&](const Results& rounds, const std::string& title) {
    fmt::print("\n{}\n\n", title);
    const std::string header =
        fmt::format("{:<11} {:>4} {:>10} {:>9} {:>9} {:>13} {:>10} {:>14} {:>11} {:>11}", "transport", "c", "pairs/s",
                    "p50 us", "p99 us", "server us/op", "server %", "loadgen us/op", "loadgen %", "server cs/op");
    fmt::print("{}\n{}\n", header, std::string(header.size(), '-'));
    for (int clients : options.clients) {
      for (const auto transport : transports) {
        const auto key = std::make_pair(clients, transport);
        const auto runs = rounds.find(key);
        if (runs == rounds.end()) {
          if (const auto failed = failures.find(key); failed != failures.end()) {
            fmt::print("{:<11} {:>4} FAILED: {}\n", transport_name(transport), clients, failed->second);
          }
          continue;
        }
        const auto& r = runs->second;
        fmt::print("{:<11} {:>4} {:>10.0f} {:>9.1f} {:>9.1f} {:>13.1f} {:>10.0f} {:>14.1f} {:>11.0f} {:>11.1f}\n",
                   transport_name(transport), clients, median_of(r, &Figures::pairs_per_second),
                   median_of(r, &Figures::p50_us), median_of(r, &Figures::p99_us), median_of(r, &Figures::server_cpu_us),
                   median_of(r, &Figures::server_cpu_pct), median_of(r, &Figures::loadgen_cpu_us),
                   median_of(r, &Figures::loadgen_cpu_pct), median_of(r, &Figures::server_switches));
      }
    }
    fmt::print("\n");
    for (int clients : options.clients) {
      const auto grpc = rounds.find({clients, Transport::grpc});
      const auto http = rounds.find({clients, Transport::http});
      if (grpc == rounds.end() || http == rounds.end()) continue;
      const double g = median_of(grpc->second, &Figures::server_cpu_us);
      const double h = median_of(http->second, &Figures::server_cpu_us);
      const double ratio = h > 0 ? g / h : 0.0;
      // Judged on the ratio as printed: "1.00: gRPC costs MORE" would contradict itself.
      const bool no_more = std::round(ratio * 100) <= 100;
      fmt::print("c={}: server CPU per pair gRPC {:.1f} us, HTTP {:.1f} us, gRPC/HTTP {:.2f}: {}\n", clients, g, h, ratio,
                 no_more ? "gRPC <= HTTP" : "gRPC costs MORE than HTTP");
    }
  };
  table(results, "flat out: each client starts its next pair as soon as the last is answered");
  if (options.equal_pace && !paced.empty()) {
    std::string rates;
    for (const auto& [clients, pace] : paces) rates += fmt::format("{}{:.0f} pairs/s at c={}", rates.empty() ? "" : ", ", pace, clients);
    table(paced, "at one same pace for every transport (half the slowest's flat-out rate): " + rates);
  }
  return failures.empty() ? 0 : 1;
}
