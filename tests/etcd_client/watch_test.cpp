// The watch stream against real etcd: events in revision order with prev_kv, resumed
// without losing or repeating an event after its member is killed or stopped, and
// compaction.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <tuple>
#include <vector>

#include "etcd_client_test_support.hpp"
#include "etcd_cluster.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using tnl::etcd::Client;
using Clock = std::chrono::steady_clock;

namespace {

/// What a test compares of an event.
struct Seen {
  int type;
  std::string key;
  std::string value;
  std::int64_t revision;
  std::int64_t create_revision;
  bool has_prev;
  std::string prev_value;
  bool operator==(const Seen& other) const {
    return std::tie(type, key, value, revision, create_revision, has_prev, prev_value) ==
           std::tie(other.type, other.key, other.value, other.revision, other.create_revision, other.has_prev,
                    other.prev_value);
  }
};

std::ostream& operator<<(std::ostream& out, const Seen& seen) {
  return out << (seen.type == mvccpb::Event::DELETE ? "DELETE " : "PUT ") << seen.key << "=" << seen.value << "@"
             << seen.revision;
}

/// Collects a watch's events.
struct Recorder {
  std::vector<Seen> events;
  std::vector<std::int64_t> header_revisions;
  int compactions = 0;
  std::size_t events_before_compaction = 0;

  tnl::etcd::Watch::OnEvents on_events() {
    return [this](const std::vector<mvccpb::Event>& batch, std::int64_t header_revision) {
      REQUIRE(!batch.empty());
      for (const auto& event : batch) {
        events.push_back({event.type(), event.kv().key(), event.kv().value(), event.kv().mod_revision(),
                          event.kv().create_revision(), event.has_prev_kv(), event.prev_kv().value()});
        CHECK(header_revision >= event.kv().mod_revision());
      }
      header_revisions.push_back(header_revision);
    };
  }
  tnl::etcd::Watch::OnCompacted on_compacted() {
    return [this] {
      ++compactions;
      events_before_compaction = events.size();
    };
  }
  [[nodiscard]] std::int64_t last_revision() const { return events.empty() ? 0 : events.back().revision; }
};

}  // namespace

TEST_CASE("etcd watch: events in revision order, a txn's together, with prev_kv", "[etcd][watch]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  const auto start = put(io, client, "/other", "x") + 1;
  Recorder recorder;
  auto watch = client.watch("/w/", prefix_end("/w/"), start, recorder.on_events(), recorder.on_compacted());

  const auto r1 = put(io, client, "/w/a", "1");
  const auto r2 = put(io, client, "/w/a", "2");
  put(io, client, "/x/not-watched", "x");
  etcdserverpb::TxnRequest txn;
  txn.add_success()->mutable_request_put()->set_key("/w/b");
  txn.add_success()->mutable_request_put()->set_key("/w/c");
  auto [txn_status, txn_response] = await<etcdserverpb::TxnResponse>(io, [&](auto done) { client.txn(txn, done); });
  REQUIRE(txn_status.ok());
  const auto r3 = txn_response.header().revision();
  etcdserverpb::DeleteRangeRequest erase;
  erase.set_key("/w/a");
  auto [erase_status, erased] =
      await<etcdserverpb::DeleteRangeResponse>(io, [&](auto done) { client.delete_range(erase, done); });
  REQUIRE(erase_status.ok());
  const auto r4 = erased.header().revision();

  REQUIRE(run_until(io, [&] { return recorder.last_revision() == r4; }));
  const std::vector<Seen> expected{
      {mvccpb::Event::PUT, "/w/a", "1", r1, r1, false, ""},
      {mvccpb::Event::PUT, "/w/a", "2", r2, r1, true, "1"},
      {mvccpb::Event::PUT, "/w/b", "", r3, r3, false, ""},
      {mvccpb::Event::PUT, "/w/c", "", r3, r3, false, ""},
      {mvccpb::Event::DELETE, "/w/a", "", r4, 0, true, "2"},
  };
  CHECK(recorder.events == expected);
  CHECK(watch->next_revision() == r4 + 1);
  CHECK(watch->watching());
  CHECK(recorder.compactions == 0);
}

TEST_CASE("etcd watch: from now (start revision 0)", "[etcd][watch]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  const auto before = put(io, client, "/w/a", "old");
  Recorder recorder;
  auto watch = client.watch("/w/", prefix_end("/w/"), 0, recorder.on_events(), recorder.on_compacted());
  REQUIRE(run_until(io, [&] { return watch->watching(); }));
  CHECK(watch->next_revision() == before + 1);
  const auto after = put(io, client, "/w/a", "new");
  REQUIRE(run_until(io, [&] { return recorder.last_revision() == after; }));
  REQUIRE(recorder.events.size() == 1);
  CHECK(recorder.events[0].value == "new");
}

TEST_CASE("etcd watch: its member killed or stopped mid-stream: resumed elsewhere, no event lost or repeated",
          "[etcd][watch][failover]") {
  const bool stop = GENERATE(false, true);
  INFO((stop ? "SIGSTOP" : "SIGKILL"));
  EtcdCluster etcd(3);
  asio::io_context io;
  Client watcher(io, test_options(etcd.addresses(), 800ms));
  // The writer never uses member 0.
  Client writer(io, test_options({etcd.address(1), etcd.address(2)}, 3000ms));
  const auto start = put(io, writer, "/w/start", "") + 1;
  Recorder recorder;
  auto watch = watcher.watch("/w/", prefix_end("/w/"), start, recorder.on_events(), recorder.on_compacted());
  REQUIRE(run_until(io, [&] { return watch->watching(); }));
  REQUIRE(watcher.current_endpoint() == etcd.address(0));

  std::int64_t last = 0;
  for (int i = 0; i < 60; ++i) {
    if (i == 20) {
      if (stop) {
        etcd.pause(0);
      } else {
        etcd.kill(0);
      }
    }
    // A write that failed (an election after member 0 went) is tried again: bounded.
    for (int attempt = 0;; ++attempt) {
      REQUIRE(attempt < 30);
      auto [status, response] = await<etcdserverpb::PutResponse>(io, [&](auto done) {
        writer.put(put_request("/w/k" + std::to_string(i % 7), std::to_string(i)), done);
      });
      if (status.ok()) {
        last = response.header().revision();
        break;
      }
    }
  }
  REQUIRE(run_until(io, [&] { return recorder.last_revision() >= last; }, 30s));
  CHECK(watcher.current_endpoint() != etcd.address(0));
  CHECK(watcher.stats().reconnects >= 1);
  CHECK(recorder.compactions == 0);

  // The same range watched afresh, uninterrupted, from the same revision: the same events.
  Recorder fresh;
  Client reader(io, test_options({etcd.address(1), etcd.address(2)}));
  auto check = reader.watch("/w/", prefix_end("/w/"), start, fresh.on_events(), fresh.on_compacted());
  REQUIRE(run_until(io, [&] { return fresh.last_revision() >= last; }));
  REQUIRE(recorder.events.size() >= 60);
  CHECK(recorder.events == fresh.events);
  for (std::size_t i = 1; i < recorder.events.size(); ++i) CHECK(recorder.events[i].revision > recorder.events[i - 1].revision);
  if (stop) etcd.resume(0);
}

TEST_CASE("etcd watch: from a compacted revision: on_compacted, then every event from the compaction on",
          "[etcd][watch][compaction]") {
  EtcdCluster etcd(1);
  asio::io_context io;
  Client client(io, test_options(etcd.addresses()));
  std::vector<std::int64_t> revisions;
  for (int i = 0; i < 5; ++i) revisions.push_back(put(io, client, "/w/k" + std::to_string(i), std::to_string(i)));
  etcd.etcdctl_out({"compact", std::to_string(revisions[3])});

  Recorder recorder;
  auto watch = client.watch("/w/", prefix_end("/w/"), revisions[0], recorder.on_events(), recorder.on_compacted());
  REQUIRE(run_until(io, [&] { return recorder.compactions == 1 && recorder.last_revision() == revisions[4]; }));
  CHECK(recorder.events_before_compaction == 0);
  REQUIRE(recorder.events.size() == 2);
  CHECK(recorder.events[0].revision == revisions[3]);
  CHECK(recorder.events[0].key == "/w/k3");
  CHECK(recorder.events[1].revision == revisions[4]);
  const auto after = put(io, client, "/w/later", "x");
  REQUIRE(run_until(io, [&] { return recorder.last_revision() == after; }));
  CHECK(recorder.compactions == 1);
}

}  // namespace TNL_UNITY_ID
