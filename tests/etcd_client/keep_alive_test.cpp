// The lease keepalive stream against real etcd: acks with the time their request was
// sent, now(), a lease that is gone, and re-establishment after its member dies or stops.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <vector>

#include "etcd_client_test_support.hpp"
#include "etcd_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using tnl::etcd::Client;
using tnl::etcd::FailureKind;
using Clock = std::chrono::steady_clock;

namespace {

struct Ack {
  Clock::time_point sent;
  Clock::time_point received;
  std::int64_t ttl;
};

std::int64_t grant(asio::io_context& io, Client& client, std::int64_t ttl) {
  auto [status, response] =
      await<etcdserverpb::LeaseGrantResponse>(io, [&](auto done) { client.lease_grant(ttl, done); });
  REQUIRE(status.ok());
  return response.id();
}

}  // namespace

TEST_CASE("etcd keepalive: every period an ack, with the time its request was sent", "[etcd][keepalive]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  const auto lease = grant(io, client, 7);

  std::vector<Ack> acks;
  int downs = 0;
  const auto started = Clock::now();
  auto keep = client.keep_alive(
      lease, 100ms, [&](Clock::time_point sent, std::int64_t ttl) { acks.push_back({sent, Clock::now(), ttl}); },
      [&](const grpc::Status&) { ++downs; });
  REQUIRE(run_until(io, [&] { return acks.size() >= 5; }));
  CHECK(downs == 0);
  // One at once, then one per period; each sent before it was answered, in order.
  CHECK(acks[0].sent - started < 100ms);
  for (std::size_t i = 0; i < acks.size(); ++i) {
    CHECK(acks[i].ttl == 7);
    CHECK(acks[i].sent >= started);
    CHECK(acks[i].sent <= acks[i].received);
    if (i > 0) CHECK(acks[i].sent > acks[i - 1].sent);
  }
  // Periodic, not a flood: n acks took about n - 1 periods (a send delayed behind the
  // previous write shortens one gap, never the sum).
  CHECK(acks.back().sent - acks.front().sent >= 100ms * (acks.size() - 2));
  CHECK(keep->lease() == lease);
}

TEST_CASE("etcd keepalive: now() sends one at once", "[etcd][keepalive]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  const auto lease = grant(io, client, 7);
  std::vector<Ack> acks;
  auto keep = client.keep_alive(
      lease, 60s, [&](Clock::time_point sent, std::int64_t ttl) { acks.push_back({sent, Clock::now(), ttl}); }, {});
  REQUIRE(run_until(io, [&] { return acks.size() == 1; }));  // the one at establishment
  const auto asked = Clock::now();
  keep->now();
  REQUIRE(run_until(io, [&] { return acks.size() == 2; }, 5s));
  CHECK(acks[1].sent >= asked);
  CHECK(acks[1].received - asked < 2s);
}

TEST_CASE("etcd keepalive: a revoked lease is acked with TTL <= 0", "[etcd][keepalive]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  const auto lease = grant(io, client, 7);
  std::vector<Ack> acks;
  auto keep = client.keep_alive(
      lease, 100ms, [&](Clock::time_point sent, std::int64_t ttl) { acks.push_back({sent, Clock::now(), ttl}); }, {});
  REQUIRE(run_until(io, [&] { return !acks.empty(); }));
  auto [status, revoked] =
      await<etcdserverpb::LeaseRevokeResponse>(io, [&](auto done) { client.lease_revoke(lease, done); });
  REQUIRE(status.ok());
  REQUIRE(run_until(io, [&] { return acks.back().ttl <= 0; }));
}

TEST_CASE("etcd keepalive: re-established on another member after its member is killed", "[etcd][keepalive][failover]") {
  EtcdCluster etcd(3);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  const auto lease = grant(io, client, 10);
  std::vector<Ack> acks;
  std::vector<grpc::Status> downs;
  auto keep = client.keep_alive(
      lease, 100ms, [&](Clock::time_point sent, std::int64_t ttl) { acks.push_back({sent, Clock::now(), ttl}); },
      [&](const grpc::Status& status) { downs.push_back(status); });
  REQUIRE(run_until(io, [&] { return acks.size() >= 2; }));
  REQUIRE(client.current_endpoint() == etcd.address(0));

  etcd.kill(0);
  const auto killed = Clock::now();
  REQUIRE(run_until(io, [&] { return !downs.empty(); }));
  // Acks again, from another member, for requests sent after the kill; the lease lives.
  REQUIRE(run_until(io, [&] { return acks.back().sent > killed && acks.back().ttl > 0; }, 15s));
  CHECK(client.current_endpoint() != etcd.address(0));
  CHECK(client.stats().reconnects >= 1);
  CHECK(downs.front().error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("etcd keepalive: a stopped member's stream is taken for dead after call_timeout and replaced",
          "[etcd][keepalive][failover]") {
  EtcdCluster etcd(3);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses(), 800ms));
  const auto lease = grant(io, client, 10);
  std::vector<Ack> acks;
  std::vector<grpc::Status> downs;
  auto keep = client.keep_alive(
      lease, 200ms, [&](Clock::time_point sent, std::int64_t ttl) { acks.push_back({sent, Clock::now(), ttl}); },
      [&](const grpc::Status& status) { downs.push_back(status); });
  REQUIRE(run_until(io, [&] { return acks.size() >= 2; }));
  REQUIRE(client.current_endpoint() == etcd.address(0));

  etcd.pause(0);
  const auto stopped = Clock::now();
  REQUIRE(run_until(io, [&] { return !downs.empty(); }));
  CHECK(downs.front().error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK_THAT(downs.front().error_message(), Catch::Contains("no keepalive answer"));
  // Noticed within about a period plus call_timeout.
  CHECK(Clock::now() - stopped < 3s);
  REQUIRE(run_until(io, [&] { return acks.back().sent > stopped && acks.back().ttl > 0; }, 15s));
  CHECK(client.stats().failures_of(FailureKind::deadline_exceeded) >= 1);
  etcd.resume(0);
}

}  // namespace TNL_UNITY_ID
