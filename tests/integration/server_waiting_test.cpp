// Issue 3 on the wire: server-side FIFO waiting, fencing tokens, semaphores, `.locks`,
// new `.stats` counters and the holder timeout, against the real server.
#include <poll.h>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <csignal>
#include <thread>
#include <vector>

#include "line_client.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::LineClient;
using tnl::test::ServerProcess;
using tnl::test::query_json;
using tnl::test::stats;
using namespace std::chrono_literals;

namespace {

/// Waits until the server counts `n` queued requests in total.
bool waiters_queued(std::uint16_t port, int n) {
  return tnl::test::wait_until([&] { return stats(port).at("waiter_count") == n; });
}

std::uint64_t token_of(const std::optional<std::string>& answer) {
  REQUIRE(answer);
  REQUIRE(answer->rfind("ok,token:", 0) == 0);
  return std::stoull(answer->substr(9));
}

}  // namespace

TEST_CASE("a waiter gets ok the moment the holder releases", "[waiting]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:w") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:w,wait:30");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(waiter.stays_silent(50ms));
  CHECK(holder.request("release") == "released");
  CHECK(waiter.read_line(5s) == "ok");
  LineClient other(server.port());
  CHECK(other.request("lock,name:w") == "not-granted");
}

TEST_CASE("waiters are served first come, first served", "[waiting]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:fifo") == "ok");
  std::vector<LineClient> waiters;
  for (int i = 0; i < 5; ++i) {
    waiters.emplace_back(server.port());
    waiters.back().send_line("lock,name:fifo,wait:inf,client-id:w" + std::to_string(i));
    REQUIRE(waiters_queued(server.port(), i + 1));
  }
  holder.close();  // a disconnect hands over just like a release
  for (auto& waiter : waiters) {
    CHECK(waiter.read_line(5s) == "ok");
    // Nobody behind it has been granted yet.
    CHECK(waiter.request("release") == "released");
  }
}

TEST_CASE("a wait that runs out answers not-granted and closes", "[waiting]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:t") == "ok");
  LineClient waiter(server.port());
  const auto start = std::chrono::steady_clock::now();
  CHECK(waiter.request("lock,name:t,wait:0.3") == "not-granted");
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  CHECK(waiter.wait_closed());
  const auto s = stats(server.port());
  CHECK(s.at("wait_count") == 1);
  CHECK(s.at("wait_timeout_count") == 1);
  CHECK(s.at("waiter_count") == 0);
}

TEST_CASE("wait:0 is tcpnetlock's behaviour", "[waiting]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:z") == "ok");
  LineClient other(server.port());
  CHECK(other.request("lock,name:z,wait:0") == "not-granted");
  CHECK(stats(server.port()).at("wait_count") == 0);
}

TEST_CASE("a waiter that disconnects leaves the queue at once", "[waiting]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:d") == "ok");
  {
    LineClient quitter(server.port());
    quitter.send_line("lock,name:d,wait:60");
    REQUIRE(waiters_queued(server.port(), 1));
  }
  REQUIRE(waiters_queued(server.port(), 0));
  LineClient next(server.port());
  next.send_line("lock,name:d,wait:60");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(holder.request("release") == "released");
  CHECK(next.read_line(5s) == "ok");
}

TEST_CASE("a waiter may send keepalives and gets bad-action for anything else", "[waiting]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:k") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:k,wait:60");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(waiter.request(".keepalive") == "alive");
  CHECK(waiter.request("release") == "bad-action");
  CHECK(holder.request("release") == "released");
  CHECK(waiter.read_line(5s) == "ok");
}

TEST_CASE("invalid waits, limits and reasons are refused and closed", "[waiting]") {
  ServerProcess server;
  for (const auto& [line, error] : std::vector<std::pair<std::string, std::string>>{
           {"lock,name:a,wait:-1", "err,invalid wait"},
           {"lock,name:a,wait:soon", "err,invalid wait"},
           {"lock,name:a,limit:0", "err,invalid limit"},
           {"lock,name:a,fencing:2", "err,invalid fencing"},
           {"lock,name:a,reason:" + std::string(300, 'r'), "err,invalid reason"}}) {
    INFO(line);
    LineClient client(server.port());
    CHECK(client.request(line) == error);
    CHECK(client.wait_closed());
  }
}

TEST_CASE("fencing:1 answers ok,token:N with N rising in grant order", "[fencing]") {
  ServerProcess server;
  LineClient first(server.port());
  const auto t1 = token_of(first.request("lock,name:f,fencing:1"));
  LineClient other_name(server.port());
  const auto t2 = token_of(other_name.request("lock,name:g,fencing:1"));
  LineClient waiter(server.port());
  waiter.send_line("lock,name:f,fencing:1,wait:30");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(first.request("release") == "released");
  const auto t3 = token_of(waiter.read_line());
  CHECK(t1 < t2);
  CHECK(t2 < t3);
  // Without fencing:1 the answer stays plain `ok`.
  LineClient plain(server.port());
  CHECK(plain.request("lock,name:h") == "ok");
}

// [local-only]: --state-dir: the etcd backend keeps detached locks in etcd and refuses a state directory.
TEST_CASE("tokens keep rising across a restart with the same state directory", "[fencing][local-only]") {
  tnl::test::TempDir state;
  std::uint64_t before = 0;
  {
    ServerProcess server({"--state-dir", state.path().string()});
    for (int i = 0; i < 5; ++i) {
      LineClient client(server.port());
      before = token_of(client.request("lock,name:r,fencing:1"));
    }
    // A crash, not a clean stop.
    server.process().signal(SIGKILL);
    REQUIRE(server.process().wait_for_exit());
  }
  ServerProcess restarted({"--state-dir", state.path().string()});
  LineClient client(restarted.port());
  CHECK(token_of(client.request("lock,name:r,fencing:1")) > before);
}

TEST_CASE("limit:N lets N hold at once and refuses a mismatched limit", "[semaphore]") {
  ServerProcess server;
  LineClient a(server.port()), b(server.port()), c(server.port()), odd(server.port());
  CHECK(a.request("lock,name:pool,limit:2") == "ok");
  CHECK(b.request("lock,name:pool,limit:2") == "ok");
  CHECK(c.request("lock,name:pool,limit:2") == "not-granted");
  CHECK(odd.request("lock,name:pool") == "err,limit mismatch");
  CHECK(odd.wait_closed());
  LineClient waiter(server.port());
  waiter.send_line("lock,name:pool,limit:2,wait:30");
  REQUIRE(waiters_queued(server.port(), 1));
  CHECK(a.request("release") == "released");
  CHECK(waiter.read_line() == "ok");
}

TEST_CASE(".locks shows every holder with its details, and the waiters", "[locks]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(token_of(holder.request("lock,name:db,client-id:ci-7,reason:migrate schema,fencing:1")) > 0);
  LineClient waiter(server.port());
  waiter.send_line("lock,name:db,wait:60");
  LineClient other(server.port());
  REQUIRE(other.request("lock,name:cache") == "ok");
  REQUIRE(waiters_queued(server.port(), 1));

  const auto all = query_json(server.port(), ".locks", "locks,");
  REQUIRE(all.at("locks").size() == 2);
  const auto& db = all.at("locks")[1];
  CHECK(all.at("locks")[0].at("name") == "cache");
  CHECK(db.at("name") == "db");
  CHECK(db.at("limit") == 1);
  CHECK(db.at("waiters") == 1);
  REQUIRE(db.at("holders").size() == 1);
  const auto& h = db.at("holders")[0];
  CHECK(h.at("client_id") == "ci-7");
  CHECK(h.at("reason") == "migrate schema");
  CHECK(h.at("peer").get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK(h.at("held_seconds").get<double>() >= 0);
  CHECK(h.at("since").get<std::string>().back() == 'Z');

  const auto only = query_json(server.port(), ".locks,name:cache", "locks,");
  REQUIRE(only.at("locks").size() == 1);
  CHECK(only.at("locks")[0].at("name") == "cache");
  CHECK(query_json(server.port(), ".locks,name:nobody", "locks,").at("locks").empty());

  LineClient bad(server.port());
  CHECK(bad.request(".locks,name:a b") == "err,invalid lock name");
}

TEST_CASE("a silent holder loses its lock after --holder-timeout, with lost first", "[holder-timeout]") {
  ServerProcess server({"--holder-timeout", "1"});
  LineClient silent(server.port());
  REQUIRE(silent.request("lock,name:ht") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:ht,wait:30");
  CHECK(silent.read_line(5s) == "lost,holder timeout");
  CHECK(silent.wait_closed());
  CHECK(waiter.read_line(5s) == "ok");
  // Read at once: the waiter, now a silent holder itself, has a whole second left.
  CHECK(stats(server.port()).at("reaped_holder_count") == 1);
}

// The revoked holder is told before the next holder is: by the time the waiter reads its
// `ok`, the old holder's `lost` is already waiting on the old connection (loopback keeps
// the order of the writes), so a holder that checks before acting never acts after the
// next one started.
TEST_CASE("a revoked holder's lost is sent before the next holder's ok", "[holder-timeout][adversarial]") {
  ServerProcess server({"--holder-timeout", "0.2"});
  for (int round = 0; round < 20; ++round) {
    const std::string name = "order" + std::to_string(round);
    LineClient silent(server.port());
    REQUIRE(silent.request("lock,name:" + name) == "ok");
    LineClient waiter(server.port());
    waiter.send_line("lock,name:" + name + ",wait:30");
    REQUIRE(waiter.read_line(5s) == "ok");
    pollfd ready{silent.fd(), POLLIN, 0};
    INFO("round " << round);
    CHECK(::poll(&ready, 1, 0) == 1);  // already there, no waiting
    CHECK(silent.read_line(1s) == "lost,holder timeout");
  }
}

TEST_CASE("a holder that keeps talking keeps its lock past the holder timeout", "[holder-timeout]") {
  ServerProcess server({"--holder-timeout", "0.3"});
  LineClient chatty(server.port());
  REQUIRE(chatty.request("lock,name:chat") == "ok");
  for (int i = 0; i < 10; ++i) {
    REQUIRE(chatty.request(".keepalive") == "alive");
    std::this_thread::sleep_for(100ms);  // pacing the keepalives over three timeouts
  }
  LineClient other(server.port());
  CHECK(other.request("lock,name:chat") == "not-granted");
  CHECK(stats(server.port()).at("reaped_holder_count") == 0);
}

TEST_CASE("the holder timeout of a waiter starts when it is granted, not when it asked", "[holder-timeout]") {
  ServerProcess server({"--holder-timeout", "0.5"});
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:late") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:late,wait:30");
  REQUIRE(waiters_queued(server.port(), 1));
  // Keep the holder alive well past one timeout while the waiter sits silent in the queue.
  for (int i = 0; i < 4; ++i) {
    REQUIRE(holder.request(".keepalive") == "alive");
    std::this_thread::sleep_for(200ms);  // pacing the keepalives
  }
  CHECK(holder.request("release") == "released");
  REQUIRE(waiter.read_line(5s) == "ok");
  // Granted just now: it has a whole timeout before it must speak.
  CHECK(waiter.stays_silent(200ms));
  CHECK(waiter.request(".keepalive") == "alive");
}

}  // namespace TNL_UNITY_ID
