// An etcd v3 client over gRPC (Debian's gRPC C++ 1.51, callback API) for one asio event
// loop: unary calls with a deadline each, failing over to the next member; lease keepalive
// and watch streams re-established after a member dies.
//
// Threads: every method is called on the event loop thread, and every callback runs there
// (posted with asio::post); gRPC's threads touch nothing but their own call objects and the
// Gate. Calls go to the current member with `hasleader: true` (a member without a leader
// refuses them at once instead of timing out); one that fails with UNAVAILABLE or
// DEADLINE_EXCEEDED moves later calls to the next member. A failed Range (read-only) is
// tried again on the next member when it was UNAVAILABLE; other calls are not (a write may
// have been applied): their caller decides.
#pragma once

#include <grpcpp/support/status.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "client_core.hpp"
#include "client_options.hpp"
#include "client_stats.hpp"
#include "endpoints.hpp"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "gate.hpp"
#include "keep_alive.hpp"
#include "watch.hpp"

namespace tnl::etcd {

class Client {
 public:
  /// The result of a unary call: the status, and the response (empty unless status is OK).
  template <class Response>
  using Done = std::function<void(const grpc::Status&, Response&)>;

  /// Connects lazily (the first call). Throws std::invalid_argument without endpoints.
  Client(asio::io_context& io, ClientOptions options);
  /// Cancels the calls in flight and waits (bounded) until gRPC has let go of them: no
  /// callback runs after it returns, and none is posted. Call on the loop thread, with the
  /// loop running or not. KeepAlive and Watch objects it made keep working (they share the
  /// channels); destroy them on the loop thread too.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void range(etcdserverpb::RangeRequest request, Done<etcdserverpb::RangeResponse> done);
  void txn(etcdserverpb::TxnRequest request, Done<etcdserverpb::TxnResponse> done);
  void put(etcdserverpb::PutRequest request, Done<etcdserverpb::PutResponse> done);
  void delete_range(etcdserverpb::DeleteRangeRequest request, Done<etcdserverpb::DeleteRangeResponse> done);
  void lease_grant(std::int64_t ttl_seconds, Done<etcdserverpb::LeaseGrantResponse> done);
  void lease_revoke(std::int64_t lease, Done<etcdserverpb::LeaseRevokeResponse> done);

  /// Keeps `lease` alive: a keepalive every `every` over one bidi stream; each answer is
  /// handed over with the steady time its request was SENT (and the TTL etcd answered;
  /// <= 0: the lease is gone). Re-established on the next endpoint with backoff when it
  /// breaks (on_down is told each time), or when a keepalive is not answered within
  /// call_timeout. KeepAlive::now() sends one at once.
  std::unique_ptr<KeepAlive> keep_alive(std::int64_t lease, std::chrono::milliseconds every, KeepAlive::OnAck on_ack,
                                        KeepAlive::OnDown on_down);
  /// Watches [key, range_end) from start_revision (0: now; prev_kv as asked); events in revision
  /// order; re-established from the last event's revision + 1 after a break, or when a
  /// progress request is not answered within call_timeout; on_compacted when etcd has
  /// compacted past it (the watch then continues from the compaction revision).
  std::unique_ptr<Watch> watch(std::string key, std::string range_end, std::int64_t start_revision,
                               Watch::OnEvents on_events, Watch::OnCompacted on_compacted, bool prev_kv = true);

  /// Request latency histogram, reconnects, failures by kind (loop thread).
  [[nodiscard]] const ClientStats& stats() const { return core_->stats; }
  [[nodiscard]] const ClientOptions& options() const { return core_->options; }
  /// The member calls go to now.
  [[nodiscard]] const std::string& current_endpoint() const;
  /// Unary calls whose result has not been handed over yet.
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }

 private:
  /// A unary call from issue to result (loop side; its gRPC side is a UnaryCall).
  struct Pending {
    virtual ~Pending() = default;
  };
  template <class Request, class Response>
  struct Operation;

  template <class Request, class Response, class Invoke>
  void call(Request request, Done<Response> done, Invoke invoke, bool retry_unavailable);
  template <class Request, class Response>
  void issue(std::uint64_t id);
  template <class Request, class Response>
  void on_result(std::uint64_t id, std::size_t member, const grpc::Status& status, Response& response);

  std::shared_ptr<ClientCore> core_;
  std::shared_ptr<Gate> gate_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending_;
};

}  // namespace tnl::etcd
