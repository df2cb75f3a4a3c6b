// Unary calls against real etcd: results, deadlines, failover to the next member.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "etcd_client_test_support.hpp"
#include "etcd_cluster.hpp"
#include "refusing_port.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using tnl::etcd::Client;
using tnl::etcd::FailureKind;

TEST_CASE("etcd client: put, range, txn, delete, lease grant and revoke", "[etcd][unary]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));

  const auto first = put(io, client, "/t/a", "1");
  const auto second = put(io, client, "/t/b", "2");
  CHECK(second == first + 1);

  etcdserverpb::RangeRequest range;
  range.set_key("/t/");
  range.set_range_end(prefix_end("/t/"));
  range.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  range.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  auto [status, listed] = await<etcdserverpb::RangeResponse>(io, [&](auto done) { client.range(range, done); });
  REQUIRE(status.ok());
  REQUIRE(listed.kvs_size() == 2);
  CHECK(listed.kvs(0).key() == "/t/a");
  CHECK(listed.kvs(0).create_revision() == first);
  CHECK(listed.kvs(1).value() == "2");
  CHECK(listed.header().revision() == second);

  // A txn guarded by the create revision of /t/a (the fencing check the backend makes).
  etcdserverpb::TxnRequest txn;
  auto& compare = *txn.add_compare();
  compare.set_key("/t/a");
  compare.set_target(etcdserverpb::Compare::CREATE);
  compare.set_result(etcdserverpb::Compare::EQUAL);
  compare.set_create_revision(first);
  txn.add_success()->mutable_request_delete_range()->set_key("/t/a");
  auto [txn_status, txn_response] = await<etcdserverpb::TxnResponse>(io, [&](auto done) { client.txn(txn, done); });
  REQUIRE(txn_status.ok());
  CHECK(txn_response.succeeded());
  CHECK(txn_response.responses(0).response_delete_range().deleted() == 1);
  // The same guard fails now: the key is gone.
  auto [again_status, again] = await<etcdserverpb::TxnResponse>(io, [&](auto done) { client.txn(txn, done); });
  REQUIRE(again_status.ok());
  CHECK_FALSE(again.succeeded());

  auto [grant_status, grant] =
      await<etcdserverpb::LeaseGrantResponse>(io, [&](auto done) { client.lease_grant(30, done); });
  REQUIRE(grant_status.ok());
  CHECK(grant.ttl() == 30);
  REQUIRE(grant.id() != 0);
  put(io, client, "/t/leased", "x", grant.id());
  auto [revoke_status, revoked] =
      await<etcdserverpb::LeaseRevokeResponse>(io, [&](auto done) { client.lease_revoke(grant.id(), done); });
  REQUIRE(revoke_status.ok());
  // Revoking the lease deleted the key attached to it.
  etcdserverpb::RangeRequest leased;
  leased.set_key("/t/leased");
  auto [read_status, read] = await<etcdserverpb::RangeResponse>(io, [&](auto done) { client.range(leased, done); });
  REQUIRE(read_status.ok());
  CHECK(read.kvs_size() == 0);
  // A lease that is gone: etcd's own error, counted as "other".
  auto [gone_status, gone] =
      await<etcdserverpb::LeaseRevokeResponse>(io, [&](auto done) { client.lease_revoke(grant.id(), done); });
  CHECK(gone_status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(gone_status.error_message(), Catch::Contains("lease not found"));

  etcdserverpb::DeleteRangeRequest erase;
  erase.set_key("/t/");
  erase.set_range_end(prefix_end("/t/"));
  auto [erase_status, erased] =
      await<etcdserverpb::DeleteRangeResponse>(io, [&](auto done) { client.delete_range(erase, done); });
  REQUIRE(erase_status.ok());
  CHECK(erased.deleted() == 1);

  const auto& stats = client.stats();
  CHECK(stats.requests == 11);
  CHECK(stats.request_duration.count() == 11);
  CHECK(stats.failures_of(FailureKind::other) == 1);
  CHECK(stats.failures_of(FailureKind::unavailable) == 0);
  CHECK(client.pending() == 0);
}

TEST_CASE("etcd client: nothing listening fails fast with UNAVAILABLE, counted", "[etcd][unary]") {
  RefusingPort refusing;  // bound, not listening: connections are refused
  asio::io_context io;
  Client client(io, test_options({"127.0.0.1:" + refusing.port_string()}, 5000ms));
  const auto started = std::chrono::steady_clock::now();
  auto [status, response] =
      await<etcdserverpb::RangeResponse>(io, [&](auto done) { client.range(etcdserverpb::RangeRequest(), done); });
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(std::chrono::steady_clock::now() - started < 4s);
  CHECK(client.stats().failures_of(FailureKind::unavailable) == 1);
}

TEST_CASE("etcd client: a stopped member times out (DEADLINE_EXCEEDED), then calls go to the next member",
          "[etcd][unary][failover]") {
  EtcdCluster etcd(3);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses(), 1000ms));
  put(io, client, "/t/k", "before");
  REQUIRE(client.current_endpoint() == etcd.address(0));

  etcd.pause(0);
  const auto started = std::chrono::steady_clock::now();
  auto [status, response] = await<etcdserverpb::PutResponse>(
      io, [&](auto done) { client.put(put_request("/t/k", "during"), done); });
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(took >= 900ms);
  CHECK(took < 5s);
  CHECK(client.stats().failures_of(FailureKind::deadline_exceeded) == 1);
  // Failed over: the next call goes to the second member, which answers once the two
  // running members have a leader (an election if the stopped one led).
  CHECK(client.current_endpoint() == etcd.address(1));
  CHECK(client.stats().reconnects >= 1);
  // Until the election is over (up to twice the election timeout after the leader stopped):
  // a member without a leader refuses at once (hasleader), so this asks again, every 100 ms,
  // for at most 15 s.
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    auto [put_status, put_response] = await<etcdserverpb::PutResponse>(
        io, [&](auto d) { client.put(put_request("/t/k", "after"), d); });
    done = put_status.ok();
    CHECK(client.current_endpoint() != etcd.address(0));
    if (!done) std::this_thread::sleep_for(100ms);
  }
  CHECK(done);
  etcd.resume(0);
}

TEST_CASE("etcd client: a killed member: a range is tried on the next one, a write fails once and moves on",
          "[etcd][unary][failover]") {
  EtcdCluster etcd(3);
  etcd.kill(0);
  asio::io_context io;
  Client reader(io, test_options(etcd.addresses(), 5000ms));
  etcdserverpb::RangeRequest range;
  range.set_key("/t/k");
  auto [status, response] = await<etcdserverpb::RangeResponse>(io, [&](auto d) { reader.range(range, d); });
  CHECK(status.ok());
  CHECK(reader.current_endpoint() != etcd.address(0));
  CHECK(reader.stats().failures_of(FailureKind::unavailable) == 0);  // retried, not failed

  Client writer(io, test_options(etcd.addresses(), 5000ms));
  auto [first, ignored] = await<etcdserverpb::PutResponse>(
      io, [&](auto d) { writer.put(put_request("/t/k", "1"), d); });
  CHECK(first.error_code() == grpc::StatusCode::UNAVAILABLE);  // not retried: a write
  CHECK(writer.current_endpoint() == etcd.address(1));
  auto [second, put_response] = await<etcdserverpb::PutResponse>(
      io, [&](auto d) { writer.put(put_request("/t/k", "2"), d); });
  CHECK(second.ok());
}

TEST_CASE("etcd client: a member without a leader refuses at once (hasleader)", "[etcd][unary][failover]") {
  EtcdCluster etcd(3);
  asio::io_context io;
  Client client(io, test_options({etcd.address(2)}, 5000ms));
  put(io, client, "/t/k", "v");
  etcd.kill(0);
  etcd.kill(1);
  // Member 2 notices within an election timeout (1 s); until then a read may time out.
  grpc::Status status;
  std::chrono::steady_clock::duration took{};
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto started = std::chrono::steady_clock::now();
    auto [s, r] = await<etcdserverpb::RangeResponse>(io, [&](auto d) {
      etcdserverpb::RangeRequest range;
      range.set_key("/t/k");
      client.range(range, d);
    });
    took = std::chrono::steady_clock::now() - started;
    status = s;
    if (status.error_message().find("no leader") != std::string::npos) break;
  }
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(status.error_message(), Catch::Contains("no leader"));
  CHECK(took < 1s);  // refused, not timed out
}

}  // namespace TNL_UNITY_ID
