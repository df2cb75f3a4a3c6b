// The fixture of the etcd backend tests: one etcd, one loop, two replicas ("Cluster"), and
// what a request, a holder and a listing are told. Test-only (each test file has its own copy).
#pragma once

#include <catch2/catch.hpp>

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "etcd/etcd_client.hpp"
#include "etcd_lock_backend.hpp"
#include "etcd_cluster.hpp"
#include "io_run.hpp"

using namespace std::chrono_literals;
using tnl::AcquireOutcome;
using tnl::AcquireRequest;
using tnl::AcquireResult;
using tnl::EtcdBackendOptions;
using tnl::EtcdLockBackend;
using tnl::HoldKind;
using tnl::LockId;
using tnl::LockQuery;
using tnl::LockView;
using tnl::ReleaseBy;
using tnl::ReleaseOutcome;
using tnl::RenewOutcome;
using tnl::test::EtcdCluster;
using tnl::test::run_until;
using Clock = std::chrono::steady_clock;

namespace {

/// gRPC's callback completion queue stays up for the whole run. gRPC 1.51 (without a
/// background poller) runs callbacks on one "alternative" queue shared by every channel,
/// started with the first channel that makes a callback call and shut down with the last
/// one; restarting it between tests (every client destroyed, then new ones made) made its
/// thread free the queue twice (ASan) or abort on `prior > 0` (about one run in eight).
/// So one channel that has made a callback call is kept for the whole run (never freed), as
/// gRPC itself stays initialised.
struct CallbackQueueKeeper {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> stub;
  grpc::ClientContext context;
  etcdserverpb::RangeRequest request;
  etcdserverpb::RangeResponse response;
};
/// Never freed, and reachable from here (no leak for LeakSanitizer).
CallbackQueueKeeper* callback_queue_keeper = nullptr;

void keep_grpc_callback_queue() {
  if (callback_queue_keeper != nullptr) return;
  grpc_init();
  auto* keeper = new CallbackQueueKeeper;
  keeper->channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  keeper->stub = etcdserverpb::KV::NewStub(keeper->channel);
  keeper->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  keeper->stub->async()->Range(&keeper->context, &keeper->request, &keeper->response, [](grpc::Status) {});
  callback_queue_keeper = keeper;
}

/// Order of events across replicas, for "the loser hears first".
int next_sequence = 0;

/// The answer to one request, and how often it came (exactly once, always).
struct Answer {
  std::optional<AcquireOutcome> outcome;
  LockId id;           ///< what acquire() returned
  LockId answered_id;  ///< what the completion said
  tnl::FencingToken token = 0;
  int calls = 0;
  int sequence = 0;
  [[nodiscard]] bool granted() const { return outcome == AcquireOutcome::granted; }
};

/// Records what a holder is told.
struct Watcher : tnl::HoldWatcher {
  std::vector<std::pair<LockId, std::string>> lost_ids;
  int sequence = 0;
  void lost(const LockId& id, std::string_view reason) override {
    lost_ids.emplace_back(id, std::string(reason));
    sequence = ++next_sequence;
  }
};

struct Replica {
  tnl::ServerStats stats;
  std::unique_ptr<tnl::etcd::Client> client;
  std::unique_ptr<EtcdLockBackend> backend;
};

/// One etcd, one loop, two replicas with one realm prefix.
class Cluster {
 public:
  /// `distlock_layout`: the realm's distlock names ("__test__-NAME") as distlock keeps them.
  explicit Cluster(std::chrono::seconds ttl = 4s, std::chrono::milliseconds lock_delay = 0ms,
                   bool distlock_layout = false)
      : distlock_layout_(distlock_layout) {
    keep_grpc_callback_queue();
    for (int i = 0; i < 2; ++i) add(ttl, lock_delay);
    REQUIRE(run_until(io, [&] { return a().available() && b().available(); }, 15s));
  }
  ~Cluster() {
    for (auto& replica : replicas) replica->backend.reset();
    for (auto& replica : replicas) replica->client.reset();
  }

  /// `layout`: this replica's layout (distlock's when true); the cluster's when unset.
  void add(std::chrono::seconds ttl, std::chrono::milliseconds lock_delay, std::optional<bool> layout = std::nullopt) {
    auto replica = std::make_unique<Replica>();
    tnl::etcd::ClientOptions client_options;
    client_options.endpoints = {etcd.address(0)};
    client_options.call_timeout = 1000ms;
    replica->client = std::make_unique<tnl::etcd::Client>(io, client_options);
    EtcdBackendOptions options;
    options.prefix = "/test/";
    options.lease_ttl = ttl;
    options.lock_delay = lock_delay;
    options.replica = "replica-" + std::to_string(replicas.size());
    options.distlock_layout = layout.value_or(distlock_layout_);
    replica->backend = std::make_unique<EtcdLockBackend>(io, *replica->client, options, replica->stats);
    replicas.push_back(std::move(replica));
  }

  EtcdLockBackend& a() { return *replicas[0]->backend; }
  EtcdLockBackend& b() { return *replicas[1]->backend; }

  /// Asks `backend` for `name`; the answer fills in later.
  std::shared_ptr<Answer> lock(EtcdLockBackend& backend, const std::string& name,
                               std::optional<std::chrono::milliseconds> wait = std::nullopt, std::size_t limit = 1,
                               std::shared_ptr<Watcher> watcher = nullptr, HoldKind kind = HoldKind::connection,
                               std::optional<Clock::duration> ttl = std::nullopt) {
    AcquireRequest request;
    request.name = name;
    request.limit = limit;
    request.client_id = "client";
    request.peer = "127.0.0.1:1";
    request.kind = kind;
    request.ttl = ttl;
    if (wait) request.deadline = *wait == 0ms ? Clock::time_point::max() : Clock::now() + *wait;
    auto answer = std::make_shared<Answer>();
    answer->id = backend.acquire(
        request,
        [answer](const AcquireResult& result) {
          answer->outcome = result.outcome;
          answer->token = result.token;
          answer->answered_id = result.id;
          ++answer->calls;
          answer->sequence = ++next_sequence;
        },
        watcher);
    if (answer->calls > 0) CHECK(answer->answered_id == answer->id);  // answered before returning
    return answer;
  }
  /// Waits for the answer to `answer`.
  void settle(const std::shared_ptr<Answer>& answer, std::chrono::seconds timeout = 10s) {
    REQUIRE(run_until(io, [&] { return answer->calls > 0; }, timeout));
    CHECK(answer->calls == 1);
    CHECK(answer->answered_id == answer->id);
  }
  std::shared_ptr<Answer> lock_now(EtcdLockBackend& backend, const std::string& name, std::size_t limit = 1,
                                   std::shared_ptr<Watcher> watcher = nullptr) {
    auto answer = lock(backend, name, std::nullopt, limit, std::move(watcher));
    settle(answer);
    return answer;
  }
  ReleaseOutcome release(EtcdLockBackend& backend, const LockId& id, ReleaseBy by) {
    std::optional<ReleaseOutcome> outcome;
    backend.release(id, by, "released by test", [&](ReleaseOutcome o) { outcome = o; });
    REQUIRE(run_until(io, [&] { return outcome.has_value(); }));
    return *outcome;
  }
  RenewOutcome renew(EtcdLockBackend& backend, const LockId& id, std::optional<Clock::duration> ttl) {
    std::optional<RenewOutcome> outcome;
    backend.renew(id, ttl, [&](RenewOutcome o) { outcome = o; });
    REQUIRE(run_until(io, [&] { return outcome.has_value(); }));
    return *outcome;
  }
  LockView read(EtcdLockBackend& backend, LockQuery query = {}) {
    std::optional<LockView> view;
    backend.read(query, [&](LockView v) { view = std::move(v); });
    REQUIRE(run_until(io, [&] { return view.has_value(); }));
    return *view;
  }
  /// Runs the loop for `duration`.
  void run_for(Clock::duration duration) {
    const auto end = Clock::now() + duration;
    run_until(io, [&] { return Clock::now() >= end; }, duration + 1s);
  }

  /// One member; a fast election, as nothing here tests elections.
  EtcdCluster etcd{tnl::test::EtcdClusterOptions{1, std::chrono::milliseconds(50), std::chrono::milliseconds(500)}};
  asio::io_context io;
  std::vector<std::unique_ptr<Replica>> replicas;

 private:
  bool distlock_layout_ = false;
};

inline const tnl::NameRecord* find_name(const LockView& view, const std::string& name) {
  if (!view.names) return nullptr;
  for (const auto& record : *view.names) {
    if (record.name == name) return &record;
  }
  return nullptr;
}

}  // namespace
