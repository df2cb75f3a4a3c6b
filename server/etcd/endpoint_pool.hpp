// The etcd members a Client talks to: one gRPC channel (and stubs) per endpoint, and which
// one calls go to now. Calls stay on one member until it fails them; then they move to the
// next one not under suspicion. A member that timed out (stopped, partitioned) stays
// suspect for 5 call timeouts, one that refused (down, no leader) for backoff_max: when
// every member has failed lately (an election), the one that failed most mildly and longest
// ago is tried first, not a member that is known to hang. Loop thread only.
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
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
    /// Not chosen before this unless every member is suspect.
    std::chrono::steady_clock::time_point suspect_until{};
  };

  /// Throws std::invalid_argument when there is no endpoint.
  explicit EndpointPool(const ClientOptions& options);

  /// The member the next call goes to: the current one unless it is suspect or its channel
  /// is failing (TRANSIENT_FAILURE); else the first after it that is neither; else the one
  /// whose suspicion ends first. A change is counted as a reconnect.
  std::size_t pick(ClientStats& stats);
  /// A call or stream on member `index` failed with `status`: the member becomes suspect
  /// (see above; other failures, e.g. a lease not found, are the member's answer, not its
  /// fault, and change nothing).
  void failed(std::size_t index, const grpc::Status& status, ClientStats& stats);

  [[nodiscard]] Member& member(std::size_t index) { return members_[index]; }
  [[nodiscard]] std::size_t size() const { return members_.size(); }
  [[nodiscard]] std::size_t current() const { return current_; }

 private:
  std::vector<Member> members_;
  std::size_t current_ = 0;
  std::chrono::milliseconds timeout_suspicion_;
  std::chrono::milliseconds refusal_suspicion_;
};

}  // namespace tnl::etcd
