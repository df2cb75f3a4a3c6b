// Destroying the client and its streams with calls in flight: gRPC lets go before the
// destructor returns, no callback runs afterwards, nothing is posted to the io_context
// afterwards (the sanitizer builds catch a post to a destroyed one), and the loop is kept
// from running out of work while a call is in flight.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <memory>
#include <thread>

#include "etcd_client_test_support.hpp"
#include "etcd_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using tnl::etcd::Client;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t grant(asio::io_context& io, Client& client, std::int64_t ttl) {
  auto [status, response] =
      await<etcdserverpb::LeaseGrantResponse>(io, [&](auto done) { client.lease_grant(ttl, done); });
  REQUIRE(status.ok());
  return response.id();
}

etcdserverpb::RangeRequest range_of(const std::string& key) {
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  return range;
}

/// Starts `count` ranges, each counting its callback in `calls`.
void start_ranges(Client& client, int count, int& calls) {
  for (int i = 0; i < count; ++i) {
    etcdserverpb::RangeRequest range;
    range.set_key("/k" + std::to_string(i));
    client.range(range, [&calls](const grpc::Status&, etcdserverpb::RangeResponse&) { ++calls; });
  }
}

}  // namespace

TEST_CASE("etcd client lifetime: destroyed with calls and streams hanging on a stopped member", "[etcd][lifetime]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  auto client = std::make_unique<Client>(io, test_options(etcd.addresses(), 30s));
  const auto lease = grant(io, *client, 30);
  int calls = 0;
  auto keep = client->keep_alive(lease, 50ms, [&](Clock::time_point, std::int64_t) { ++calls; },
                                 [&](const grpc::Status&) { ++calls; });
  auto watch = client->watch("/", std::string(1, '\0'), 0, [&](const auto&, std::int64_t) { ++calls; },
                             [&] { ++calls; });
  REQUIRE(run_until(io, [&] { return calls > 0 && watch->watching(); }));

  etcd.pause(0);
  int ranges = 0;
  start_ranges(*client, 20, ranges);
  keep->now();
  // Let the calls reach gRPC and the member (where they hang).
  run_until(io, [] { return false; }, 200ms);
  REQUIRE(client->pending() == 20);
  const auto started = Clock::now();
  keep.reset();
  watch.reset();
  client.reset();
  CHECK(Clock::now() - started < 2s);  // cancelled, not waited out
  const int before = calls;  // (acks answered before the stop may have come in meanwhile)
  run_until(io, [] { return false; }, 500ms);
  CHECK(calls == before);
  CHECK(ranges == 0);
  etcd.resume(0);
}

TEST_CASE("etcd client lifetime: destroyed, then its io_context, while gRPC is answering", "[etcd][lifetime]") {
  EtcdCluster etcd(1);
  int calls = 0;
  for (int round = 0; round < 20; ++round) {
    auto io = std::make_unique<asio::io_context>();
    auto client = std::make_unique<Client>(*io, test_options(etcd.addresses()));
    start_ranges(*client, 10, calls);
    auto keep = client->keep_alive(1, 10ms, [&](Clock::time_point, std::int64_t) { ++calls; }, {});
    auto watch = client->watch("/", std::string(1, '\0'), 0, [&](const auto&, std::int64_t) { ++calls; }, {});
    // Answers arrive while the loop is not running: they are posted, never run.
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 5));
    keep.reset();
    watch.reset();
    client.reset();
    io.reset();
  }
  // Any late completion would touch a destroyed io_context here (ASan/TSan report it).
  std::this_thread::sleep_for(300ms);
  CHECK(calls == 0);
}

TEST_CASE("etcd client lifetime: a callback destroys the client, the other calls never call back",
          "[etcd][lifetime]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  auto client = std::make_unique<Client>(io, test_options(etcd.addresses()));
  int calls = 0;
  for (int i = 0; i < 10; ++i) {
    client->range(range_of("/k"), [&](const grpc::Status& status, etcdserverpb::RangeResponse&) {
      ++calls;
      CHECK(status.ok());
      client.reset();
    });
  }
  REQUIRE(run_until(io, [&] { return calls > 0; }));
  run_until(io, [] { return false; }, 300ms);
  CHECK(calls == 1);
  CHECK(client == nullptr);
}

TEST_CASE("etcd client lifetime: io_context::run() waits for a call in flight", "[etcd][lifetime]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  bool answered = false;
  client.range(range_of("/k"),
               [&](const grpc::Status& status, etcdserverpb::RangeResponse&) { answered = status.ok(); });
  io.run();  // without work held for the call it would return at once, before the answer
  CHECK(answered);
  CHECK(client.pending() == 0);
  // And once it is answered, nothing holds the loop any more.
  io.restart();
  const auto started = Clock::now();
  io.run_for(2s);
  CHECK(Clock::now() - started < 1s);
}

TEST_CASE("etcd client lifetime: a destroyed keepalive calls back no more, one outliving its client works on",
          "[etcd][lifetime]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  auto client = std::make_unique<Client>(io, test_options(etcd.addresses()));
  const auto lease = grant(io, *client, 30);
  int first = 0;
  int second = 0;
  auto keep = client->keep_alive(lease, 20ms, [&](Clock::time_point, std::int64_t) { ++first; }, {});
  auto other = client->keep_alive(lease, 20ms, [&](Clock::time_point, std::int64_t) { ++second; }, {});
  REQUIRE(run_until(io, [&] { return first >= 3 && second >= 3; }));
  keep.reset();
  client.reset();
  const int stopped_at = first;
  const int continued_from = second;
  REQUIRE(run_until(io, [&] { return second >= continued_from + 5; }));
  CHECK(first == stopped_at);
}

}  // namespace TNL_UNITY_ID
