// Clients that ask for a long answer and never read it (issue 10, finding 9): with 5,000
// locks held, 1,000 connections send `.locks` and read nothing. The server must go on
// answering everyone else at once, keep its memory bounded (one shared answer, not a copy
// per reader), and cut the readers that take nothing within the write timeout.
#include <catch2/catch.hpp>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include "holder_swarm.hpp"
#include "line_client.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::HolderSwarm;
using tnl::test::LineClient;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int lock_count = 5'000;
constexpr int reader_count = 1'000;

/// A field of /proc/PID/status in KiB (e.g. VmRSS, VmHWM: the peak).
long status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = 0;
  std::string unit;
  while (in >> key) {
    if (key == field + ":" && in >> value >> unit) return value;
    in.ignore(4096, '\n');
  }
  return -1;
}

}  // namespace

TEST_CASE("clients that send .locks and never read hold up nobody and cost one shared answer",
          "[slow-readers]") {
  REQUIRE(tnl::test::raise_open_file_limit() >= lock_count + reader_count + 100);
  ServerProcess server({"--write-timeout", "3"});
  const pid_t pid = server.process().pid();
  HolderSwarm holders(server.port());
  REQUIRE(holders.open(lock_count, 500, "slow-", Clock::now() + 60s).empty());
  const long rss_before = status_kib(pid, "VmRSS");
  REQUIRE(rss_before > 0);

  std::vector<LineClient> readers;
  readers.reserve(reader_count);
  for (int i = 0; i < reader_count; ++i) {
    readers.emplace_back(server.port());
    REQUIRE(readers.back().send(".locks\n"));
  }
  // Everyone else is answered at once meanwhile.
  const auto asked = Clock::now();
  LineClient ping(server.port());
  const auto pong = ping.request(".ping");
  const double ping_seconds = std::chrono::duration<double>(Clock::now() - asked).count();
  const long peak_growth = status_kib(pid, "VmHWM") - rss_before;
  std::cout << "slow_readers: .ping answered in " << ping_seconds << " s with " << reader_count
            << " .locks readers pending; peak RSS " << peak_growth << " KiB above the " << rss_before
            << " KiB before them\n";
  CHECK(pong == "pong");
  CHECK(ping_seconds < 2.0);
  // One `.locks` answer here is about 1.3 MiB, shared by all the readers: about 2 MiB of
  // growth in all, 3 MiB with ASan. Before, the server built an answer per reader and
  // handed it to the kernel whole: 28 MiB here, with `.ping` waiting 4.9 s.
  CHECK(peak_growth < 16 * 1024);

  // Readers that take nothing are cut within the write timeout: their connections are gone,
  // the holders' are all still there.
  CHECK(tnl::test::wait_until(
      [&] { return tnl::test::stats(server.port()).at("connection_count").get<int>() == lock_count + 1; }, 20s));
  CHECK(tnl::test::stats(server.port()).at("lock_count").get<int>() == lock_count);
  CHECK(holders.keepalive_all(Clock::now() + 20s) == lock_count);
}

TEST_CASE("readers that never read and each ask after a change of the table pin a bounded amount of memory",
          "[slow-readers]") {
  // Each change of the table used to mean a new listing for the next reader, kept whole in
  // the server until the write timeout cut that reader: 300 readers of 2,000 locks, one
  // change before each, pinned 160 MB.
  constexpr int held = 2'000;  // a listing of about 0.5 MiB
  constexpr int readers_count = 300;
  REQUIRE(tnl::test::raise_open_file_limit() >= held + readers_count + 100);
  ServerProcess server({"--write-timeout", "30"});
  const pid_t pid = server.process().pid();
  HolderSwarm holders(server.port());
  REQUIRE(holders.open(held, 200, "pinned-", Clock::now() + 60s).empty());
  const long rss_before = status_kib(pid, "VmRSS");
  REQUIRE(rss_before > 0);
  std::vector<LineClient> readers;
  readers.reserve(readers_count);
  for (int i = 0; i < readers_count; ++i) {
    {
      LineClient churn(server.port());  // a lock taken and dropped: the table changes
      REQUIRE(churn.request("lock,name:churn-" + std::to_string(i)) == "ok");
    }
    readers.emplace_back(server.port());
    const int small = 4096;
    ::setsockopt(readers.back().fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    REQUIRE(readers.back().send(".locks\n"));
  }
  LineClient ping(server.port());
  CHECK(ping.request(".ping") == "pong");
  const long peak_growth = status_kib(pid, "VmHWM") - rss_before;
  std::cout << "slow_readers: " << readers_count << " readers after as many changes: peak RSS " << peak_growth
            << " KiB above the " << rss_before << " KiB before them\n";
  // The unread budget (16 MiB) and a version or two more.
  CHECK(peak_growth < 48 * 1024);
  // Whatever they got is a true listing of the moment it was built.
  LineClient fresh(server.port());
  const auto line = fresh.request(".locks");
  REQUIRE(line);
  CHECK(nlohmann::json::parse(line->substr(6)).at("locks").size() >= static_cast<std::size_t>(held));
}

TEST_CASE("a long .locks answer reaches a reader that takes it slowly, whole and in order", "[slow-readers]") {
  constexpr int held = 2'000;  // about 0.5 MiB of answer: written in many pieces
  ServerProcess server;
  HolderSwarm holders(server.port());
  REQUIRE(holders.open(held, 200, "whole-", Clock::now() + 30s).empty());
  LineClient reader(server.port());
  REQUIRE(reader.send(".locks\n"));
  // Read it in small bites, as a slow client would.
  std::string answer;
  const auto deadline = Clock::now() + 30s;
  while (answer.empty() || answer.back() != '\n') {
    REQUIRE(Clock::now() < deadline);
    char bite[4096];
    pollfd p{reader.fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10'000) == 1);
    const ssize_t got = ::recv(reader.fd(), bite, sizeof bite, 0);
    REQUIRE(got > 0);
    answer.append(bite, static_cast<std::size_t>(got));
    std::this_thread::sleep_for(1ms);  // a slow reader, pacing itself
  }
  REQUIRE(answer.rfind("locks,", 0) == 0);
  const auto json = nlohmann::json::parse(answer.substr(6, answer.size() - 7));
  CHECK(json.at("locks").size() == held);
  CHECK(reader.wait_closed());
}

}  // namespace TNL_UNITY_ID
