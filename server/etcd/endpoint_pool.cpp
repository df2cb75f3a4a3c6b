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

EndpointPool::EndpointPool(const ClientOptions& options)
    : timeout_suspicion_(5 * options.call_timeout),
      refusal_suspicion_(std::max(options.backoff_min, options.backoff_max)) {
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
  // No bandwidth-delay probing: on a busy connection gRPC pings with most data frames it
  // reads (a send and a ping ack to read each), for a window our small messages never need.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
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
  const auto now = std::chrono::steady_clock::now();
  const auto usable = [&](const Member& member) {
    // true: an idle channel starts connecting.
    return member.suspect_until <= now && member.channel->GetState(true) != GRPC_CHANNEL_TRANSIENT_FAILURE;
  };
  std::size_t chosen = members_.size();
  for (std::size_t step = 0; step < members_.size() && chosen == members_.size(); ++step) {
    const std::size_t index = (current_ + step) % members_.size();
    if (usable(members_[index])) chosen = index;
  }
  if (chosen == members_.size()) {
    // Every member failed lately: the one whose suspicion ends first.
    chosen = current_;
    for (std::size_t index = 0; index < members_.size(); ++index) {
      if (members_[index].suspect_until < members_[chosen].suspect_until) chosen = index;
    }
  }
  if (chosen != current_) {
    spdlog::info("etcd client: calls move from {} to {}", members_[current_].endpoint, members_[chosen].endpoint);
    current_ = chosen;
    ++stats.reconnects;
  }
  return current_;
}

void EndpointPool::failed(std::size_t index, const grpc::Status& status, ClientStats& stats) {
  const auto kind = ClientStats::kind_of(status);
  if (kind == FailureKind::other) return;
  const auto suspicion = kind == FailureKind::deadline_exceeded ? timeout_suspicion_ : refusal_suspicion_;
  members_[index].suspect_until = std::chrono::steady_clock::now() + suspicion;
  if (index == current_ && members_.size() > 1) pick(stats);
}

}  // namespace tnl::etcd
