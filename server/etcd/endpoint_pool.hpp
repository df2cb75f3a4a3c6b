// The etcd members a Client talks to: one gRPC channel (and stubs) per endpoint, and which
// one calls go to now. Calls stay on one member until it fails them; then they move to the
// next. Loop thread only.
#pragma once

#include <grpcpp/channel.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "client_options.hpp"
#include "client_stats.hpp"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace tnl::etcd {

class EndpointPool {
 public:
  /// One etcd member: its channel (connected lazily, reconnected by gRPC with backoff
  /// bounded by the options' backoff_max) and the stubs of the services we call.
  struct Member {
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  };

  /// Throws std::invalid_argument when there is no endpoint.
  explicit EndpointPool(const ClientOptions& options);

  /// The member the next call goes to: the current one, or the first after it whose channel
  /// is not known to be failing (TRANSIENT_FAILURE), which then becomes current.
  std::size_t pick(ClientStats& stats);
  /// A call or stream on member `index` failed (unavailable, deadline, broken): if it is
  /// the current member, the next one becomes current (counted as a reconnect).
  void failed(std::size_t index, ClientStats& stats);

  [[nodiscard]] Member& member(std::size_t index) { return members_[index]; }
  [[nodiscard]] std::size_t size() const { return members_.size(); }
  [[nodiscard]] std::size_t current() const { return current_; }

 private:
  std::vector<Member> members_;
  std::size_t current_ = 0;
};

}  // namespace tnl::etcd
