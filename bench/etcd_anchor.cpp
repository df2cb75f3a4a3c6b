#include "etcd_anchor.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace bench {

namespace {

constexpr auto call_deadline = std::chrono::seconds(30);
/// The anchor's lease TTL, as `etcdctl lock --ttl` defaults to.
constexpr std::int64_t lease_ttl = 10;

/// A connection of its own: gRPC shares connections between channels with equal arguments
/// unless each channel keeps a local subchannel pool.
std::shared_ptr<grpc::Channel> own_channel(const std::string& endpoint) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
}

/// The end of the key range of every key starting with `prefix` (etcd's "prefix end").
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = prefix.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

void check(const grpc::Status& status, const char* what) {
  if (!status.ok()) throw std::runtime_error(std::string(what) + ": " + status.error_message());
}

/// One client of the anchor: its own connection, and the four calls of a lock's life.
class LockClient {
 public:
  explicit LockClient(const std::string& endpoint)
      : channel_(own_channel(endpoint)),
        lease_(etcdserverpb::Lease::NewStub(channel_)),
        lock_(v3lockpb::Lock::NewStub(channel_)) {}

  std::int64_t grant() {
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(lease_ttl);
    etcdserverpb::LeaseGrantResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    check(lease_->LeaseGrant(&context, request, &response), "LeaseGrant");
    if (!response.error().empty()) throw std::runtime_error("LeaseGrant: " + response.error());
    return response.id();
  }
  std::string lock(const std::string& name, std::int64_t lease) {
    v3lockpb::LockRequest request;
    request.set_name(name);
    request.set_lease(lease);
    v3lockpb::LockResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    check(lock_->Lock(&context, request, &response), "Lock");
    return response.key();
  }
  void unlock(const std::string& key) {
    v3lockpb::UnlockRequest request;
    request.set_key(key);
    v3lockpb::UnlockResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    check(lock_->Unlock(&context, request, &response), "Unlock");
  }
  void revoke(std::int64_t lease) {
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(lease);
    etcdserverpb::LeaseRevokeResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    check(lease_->LeaseRevoke(&context, request, &response), "LeaseRevoke");
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<v3lockpb::Lock::Stub> lock_;
};

}  // namespace

CycleOutcome run_etcd_lock_cycles(const std::string& endpoint, int clients, Clock::duration duration,
                                  const std::string& prefix) {
  std::vector<std::unique_ptr<LockClient>> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(std::make_unique<LockClient>(endpoint));
  // Connect every client before the clock starts, as the replica's clients connect to a
  // replica that already holds its connection to etcd.
  for (auto& connection : connections) connection->revoke(connection->grant());

  std::mutex mutex;
  std::vector<double> micros;
  micros.reserve(1 << 20);
  std::string failure;
  Clock::time_point last_completion;
  const auto start = Clock::now();
  const auto stop_at = start + duration;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      std::vector<double> mine;
      Clock::time_point last = start;
      try {
        for (std::uint64_t n = 0; Clock::now() < stop_at && n < 10'000'000; ++n) {
          const auto began = Clock::now();
          auto& client = *connections[static_cast<std::size_t>(i)];
          const std::int64_t lease = client.grant();
          const std::string key = client.lock(prefix + "cycle-" + std::to_string(i) + "-" + std::to_string(n), lease);
          client.unlock(key);
          client.revoke(lease);
          last = Clock::now();
          mine.push_back(micros_between(began, last));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> hold(mutex);
        if (failure.empty()) failure = e.what();
      }
      std::lock_guard<std::mutex> hold(mutex);
      micros.insert(micros.end(), mine.begin(), mine.end());
      if (last > last_completion) last_completion = last;
    });
  }
  for (auto& thread : threads) thread.join();
  if (!failure.empty()) throw std::runtime_error("etcd Lock cycle: " + failure);
  return {std::move(micros), seconds_between(start, last_completion)};
}

CycleOutcome run_recipe_cycles(const std::string& endpoint, int clients, Clock::duration duration,
                               const std::string& prefix, RecipeVariant variant) {
  const bool index = variant.index;
  // One lease for every key (a replica's), long enough for the run without keepalives.
  LockClient leases(endpoint);
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(600);
  etcdserverpb::LeaseGrantResponse granted;
  {
    auto lease_stub = etcdserverpb::Lease::NewStub(own_channel(endpoint));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    check(lease_stub->LeaseGrant(&context, grant, &granted), "LeaseGrant");
  }
  const std::int64_t lease = granted.id();

  // The replica's one watch on the prefix, read by a thread of its own.
  auto watch_channel = own_channel(endpoint);
  auto watch_stub = etcdserverpb::Watch::NewStub(watch_channel);
  grpc::ClientContext watch_context;
  auto watch = watch_stub->Watch(&watch_context);
  std::vector<std::pair<std::string, std::string>> ranges;
  if (variant.split) {
    const std::string ids = prefix + ".ids/";
    ranges = {{prefix, ids}, {prefix_end(ids), prefix_end(prefix)}};
  } else {
    ranges = {{prefix, prefix_end(prefix)}};
  }
  for (const auto& [key, end] : ranges) {
    etcdserverpb::WatchRequest create;
    create.mutable_create_request()->set_key(key);
    create.mutable_create_request()->set_range_end(end);
    create.mutable_create_request()->set_prev_kv(variant.prev_kv);
    if (!watch->Write(create)) throw std::runtime_error("Watch: cannot create");
  }
  std::atomic<std::int64_t> events{0};
  std::thread watcher([&] {
    etcdserverpb::WatchResponse response;
    while (watch->Read(&response)) events += response.events_size();
  });

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kvs;
  for (int i = 0; i < clients; ++i) {
    channels.push_back(own_channel(endpoint));
    kvs.push_back(etcdserverpb::KV::NewStub(channels.back()));
  }
  // A value of the size the backend writes (its JSON: id, kind, limit, client, peer, times).
  const std::string value(180, 'v');
  std::mutex mutex;
  std::vector<double> micros;
  micros.reserve(1 << 20);
  std::string failure;
  Clock::time_point last_completion;
  const auto start = Clock::now();
  const auto stop_at = start + duration;
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      std::vector<double> mine;
      Clock::time_point last = start;
      auto& kv = *kvs[static_cast<std::size_t>(i)];
      try {
        for (std::uint64_t n = 0; Clock::now() < stop_at && n < 10'000'000; ++n) {
          const auto began = Clock::now();
          const std::string id = std::to_string(i) + "-" + std::to_string(n) + "-0123456789abcdef0123456789";
          const std::string name_prefix = prefix + "cycle-" + std::to_string(i) + "-" + std::to_string(n) + "/";
          const std::string key = name_prefix + id;
          const std::string index_key = prefix + ".ids/" + id;
          etcdserverpb::TxnRequest acquire;
          auto* put = acquire.add_success()->mutable_request_put();
          put->set_key(key);
          put->set_value(value);
          put->set_lease(lease);
          if (index) {
            auto* put_index = acquire.add_success()->mutable_request_put();
            put_index->set_key(index_key);
            put_index->set_value(key);
            put_index->set_lease(lease);
          }
          if (variant.head_range) {
            auto* first = acquire.add_success()->mutable_request_range();
            first->set_key(name_prefix);
            first->set_range_end(prefix_end(name_prefix));
            first->set_sort_order(etcdserverpb::RangeRequest::ASCEND);
            first->set_sort_target(etcdserverpb::RangeRequest::CREATE);
            first->set_limit(1);
          }
          auto* latest = acquire.add_success()->mutable_request_range();
          latest->set_key(name_prefix);
          latest->set_range_end(prefix_end(name_prefix));
          latest->set_sort_order(etcdserverpb::RangeRequest::DESCEND);
          latest->set_sort_target(etcdserverpb::RangeRequest::CREATE);
          latest->set_limit(2);
          latest->set_keys_only(variant.head_range);
          etcdserverpb::TxnResponse acquired;
          {
            grpc::ClientContext context;
            context.set_deadline(std::chrono::system_clock::now() + call_deadline);
            check(kv.Txn(&context, acquire, &acquired), "Txn (acquire)");
          }
          const std::int64_t created = acquired.header().revision();
          const int head = index ? 2 : 1;  // the first range's response (the only one without head_range)
          if (acquired.responses_size() <= head || acquired.responses(head).response_range().kvs_size() != 1 ||
              acquired.responses(head).response_range().kvs(0).create_revision() != created) {
            throw std::runtime_error("acquire: my key is not the first");
          }
          etcdserverpb::TxnRequest release;
          auto* compare = release.add_compare();
          compare->set_result(etcdserverpb::Compare::EQUAL);
          compare->set_target(etcdserverpb::Compare::CREATE);
          compare->set_key(key);
          compare->set_create_revision(created);
          release.add_success()->mutable_request_delete_range()->set_key(key);
          if (index) release.add_success()->mutable_request_delete_range()->set_key(index_key);
          etcdserverpb::TxnResponse released;
          {
            grpc::ClientContext context;
            context.set_deadline(std::chrono::system_clock::now() + call_deadline);
            check(kv.Txn(&context, release, &released), "Txn (release)");
          }
          if (!released.succeeded()) throw std::runtime_error("release: compare failed");
          last = Clock::now();
          mine.push_back(micros_between(began, last));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> hold(mutex);
        if (failure.empty()) failure = e.what();
      }
      std::lock_guard<std::mutex> hold(mutex);
      micros.insert(micros.end(), mine.begin(), mine.end());
      if (last > last_completion) last_completion = last;
    });
  }
  for (auto& thread : threads) thread.join();
  watch_context.TryCancel();
  watcher.join();
  watch->Finish();
  leases.revoke(lease);
  if (!failure.empty()) throw std::runtime_error("recipe cycle: " + failure);
  if (events.load() == 0 && !micros.empty()) throw std::runtime_error("recipe cycle: the watch saw no event");
  return {std::move(micros), seconds_between(start, last_completion)};
}

std::vector<double> etcd_lock_handoffs(const std::string& endpoint, int waiters, int rounds, const std::string& prefix) {
  EtcdReader reader(endpoint);
  std::vector<std::unique_ptr<LockClient>> clients;
  for (int i = 0; i <= waiters; ++i) clients.push_back(std::make_unique<LockClient>(endpoint));
  std::vector<double> micros;
  for (int round = 0; round < rounds; ++round) {
    const std::string name = prefix + "handoff-" + std::to_string(round);
    std::vector<std::int64_t> leases;
    for (auto& client : clients) leases.push_back(client->grant());
    std::vector<std::string> keys(clients.size());
    keys[0] = clients[0]->lock(name, leases[0]);
    // Each waiter blocks in Lock in a thread of its own; it records when its answer came.
    std::vector<std::atomic<bool>> granted(clients.size());
    std::vector<Clock::time_point> granted_at(clients.size());
    std::vector<std::string> failures(clients.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < clients.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          keys[i] = clients[i]->lock(name, leases[i]);
          granted_at[i] = Clock::now();
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
        granted[i].store(true, std::memory_order_release);
      });
      // Queued in this order: its key exists before the next waiter asks.
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (reader.count_prefix(name + "/") != static_cast<std::int64_t>(i) + 1) {
        if (Clock::now() > deadline) throw std::runtime_error("etcd Lock waiter did not queue");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    for (std::size_t i = 0; i + 1 < clients.size(); ++i) {
      const auto start = Clock::now();
      clients[i]->unlock(keys[i]);
      // The waiter's own clock says when it was told (it sleeps in its blocking call).
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (!granted[i + 1].load(std::memory_order_acquire)) {
        if (Clock::now() > deadline) throw std::runtime_error("etcd Lock handoff stalled");
        std::this_thread::yield();  // two cores: leave etcd and the waiter room to run
      }
      if (!failures[i + 1].empty()) throw std::runtime_error("etcd Lock waiter: " + failures[i + 1]);
      if (round > 0) micros.push_back(micros_between(start, granted_at[i + 1]));  // round 0 warms up
    }
    clients.back()->unlock(keys.back());
    for (auto& thread : threads) thread.join();
    for (std::size_t i = 0; i < clients.size(); ++i) clients[i]->revoke(leases[i]);
  }
  return micros;
}

struct EtcdReader::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
};

EtcdReader::EtcdReader(const std::string& endpoint) : impl_(new Impl) {
  impl_->channel = own_channel(endpoint);
  impl_->kv = etcdserverpb::KV::NewStub(impl_->channel);
}

EtcdReader::~EtcdReader() { delete impl_; }

std::int64_t EtcdReader::count_prefix(const std::string& prefix) {
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(prefix_end(prefix));
  request.set_count_only(true);
  etcdserverpb::RangeResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + call_deadline);
  check(impl_->kv->Range(&context, request, &response), "Range");
  return response.count();
}

}  // namespace bench
