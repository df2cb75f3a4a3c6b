#include "endpoint_pool.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace tnl::etcd {

namespace {

int clamp_ms(std::chrono::milliseconds ms) {
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(ms.count(), 1, 3'600'000));
}

}  // namespace

EndpointPool::EndpointPool(const ClientOptions& options) {
  if (options.endpoints.empty()) throw std::invalid_argument("no etcd endpoint given");
  grpc::ChannelArguments args;
  // Connections of our own, not shared with other clients in the process (tests run
  // several; each must see its own reconnects).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A member that comes back is used again within about backoff_max (gRPC's default
  // reconnect backoff grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, clamp_ms(options.backoff_min));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, clamp_ms(std::max(options.backoff_min, options.backoff_max)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, clamp_ms(std::max(options.call_timeout, std::chrono::milliseconds(1000))));
  // A listing of many locks is one Range response: larger than gRPC's default 4 MiB limit.
  args.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  for (const auto& endpoint : options.endpoints) {
    Member member;
    member.endpoint = endpoint;
    member.channel = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
    member.kv = etcdserverpb::KV::NewStub(member.channel);
    member.lease = etcdserverpb::Lease::NewStub(member.channel);
    member.watch = etcdserverpb::Watch::NewStub(member.channel);
    members_.push_back(std::move(member));
  }
}

std::size_t EndpointPool::pick(ClientStats& stats) {
  for (std::size_t step = 0; step < members_.size(); ++step) {
    const std::size_t index = (current_ + step) % members_.size();
    // true: an idle channel starts connecting.
    if (members_[index].channel->GetState(true) != GRPC_CHANNEL_TRANSIENT_FAILURE) {
      if (index != current_) {
        spdlog::info("etcd client: {} is failing; using {}", members_[current_].endpoint, members_[index].endpoint);
        current_ = index;
        ++stats.reconnects;
      }
      return index;
    }
  }
  return current_;  // all failing: the call fails fast and says so
}

void EndpointPool::failed(std::size_t index, ClientStats& stats) {
  if (index != current_ || members_.size() < 2) return;
  current_ = (current_ + 1) % members_.size();
  ++stats.reconnects;
  spdlog::info("etcd client: {} failed a call; using {}", members_[index].endpoint, members_[current_].endpoint);
}

}  // namespace tnl::etcd
