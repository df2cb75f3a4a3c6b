// bench_grpc: Tracker's gRPC CreateLock + UnLock pairs against a running tcpnetlock_server
// (issue 14), with N clients each on its own channel and its own lock names, synchronous
// stubs: pairs per second, the p50/p99 of one pair, and the server's CPU per pair (from
// /proc/PID/stat, when --server-pid is given).
//
//   bench_grpc --target 127.0.0.1:7656 --clients 1,4,16 --seconds 3 --server-pid PID
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tracker/lock/v1alpha1/lock.grpc.pb.h"

namespace {

namespace lockpb = ::tracker::lock::v1alpha1;
using Clock = std::chrono::steady_clock;

/// The process's user + system CPU time in seconds (0 when unreadable).
double cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:7656";
  std::string clients_list = "1,4,16";
  double seconds = 3;
  int server_pid = 0;
  CLI::App app{"bench_grpc: gRPC CreateLock+UnLock pairs per second against a running server"};
  app.add_option("--target", target, "the server's gRPC ADDRESS:PORT");
  app.add_option("--clients", clients_list, "client counts, comma-separated");
  app.add_option("--seconds", seconds, "seconds per client count");
  app.add_option("--server-pid", server_pid, "the server's pid, for its CPU per pair");
  CLI11_PARSE(app, argc, argv);

  std::printf("%-8s %12s %10s %10s %14s\n", "clients", "pairs/s", "p50 ms", "p99 ms", "server CPU/pair");
  std::stringstream list(clients_list);
  std::string item;
  while (std::getline(list, item, ',')) {
    const int clients = std::stoi(item);
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> latencies(static_cast<std::size_t>(clients));
    std::atomic<long> failures{0};
    const double cpu_before = cpu_seconds(server_pid);
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        auto stub = lockpb::LockService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
        for (long n = 0; !stop; ++n) {
          const auto begin = Clock::now();
          lockpb::CreateLockRequest create;
          create.set_service("bench-" + std::to_string(c) + "-" + std::to_string(n % 64));
          create.set_who("bench");
          lockpb::CreateLockResponse created;
          grpc::ClientContext create_context;
          if (!stub->CreateLock(&create_context, create, &created).ok()) {
            ++failures;
            continue;
          }
          lockpb::UnLockRequest unlock;
          unlock.set_id(created.lock().id());
          lockpb::UnLockResponse released;
          grpc::ClientContext unlock_context;
          if (!stub->UnLock(&unlock_context, unlock, &released).ok()) ++failures;
          latencies[static_cast<std::size_t>(c)].push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& thread : threads) thread.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const double cpu = cpu_seconds(server_pid) - cpu_before;
    std::vector<double> all;
    for (const auto& one : latencies) all.insert(all.end(), one.begin(), one.end());
    std::sort(all.begin(), all.end());
    const auto at = [&](double q) { return all.empty() ? 0.0 : all[static_cast<std::size_t>(q * (all.size() - 1))]; };
    std::printf("%-8d %12.0f %10.3f %10.3f %11.1f us%s\n", clients, all.size() / elapsed, at(0.5), at(0.99),
                all.empty() || server_pid <= 0 ? 0.0 : cpu / all.size() * 1e6,
                failures ? (" (" + std::to_string(failures.load()) + " failed)").c_str() : "");
  }
  return 0;
}
