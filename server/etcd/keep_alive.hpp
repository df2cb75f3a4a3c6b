// Keeps one etcd lease alive over one LeaseKeepAlive bidi stream, re-established on the
// next endpoint (with backoff) when it breaks. Made by Client::keep_alive.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "io_types.hpp"
#include "stream_session.hpp"

namespace tnl::etcd {

class KeepAlive final : StreamSession<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse> {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  /// An acknowledged keepalive: the steady time its request was handed to gRPC (never
  /// later than it left: a lease's expiry computed from it errs on the early side) and the
  /// TTL etcd answered (<= 0: the lease is gone).
  using OnAck = std::function<void(TimePoint sent, std::int64_t ttl)>;
  /// The stream broke (the status says why); it is re-established on the next endpoint.
  using OnDown = std::function<void(const grpc::Status&)>;

  /// Starts at once: opens the stream and sends a keepalive, then one every `every`.
  KeepAlive(std::shared_ptr<ClientCore> core, std::int64_t lease, std::chrono::milliseconds every, OnAck on_ack,
            OnDown on_down);
  /// Stops: the stream is cancelled and released by gRPC before this returns; no callback
  /// runs afterwards. Call on the event loop thread.
  ~KeepAlive() override;
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;

  /// Sends a keepalive at once (if a stream is up; one is sent anyway whenever a stream is
  /// established), without waiting for the next period.
  void now();

  /// The lease kept alive.
  [[nodiscard]] std::int64_t lease() const { return lease_; }

 private:
  void on_established() override;
  void on_sending(const etcdserverpb::LeaseKeepAliveRequest& request) override;
  void on_message(etcdserverpb::LeaseKeepAliveResponse& response) override;
  void on_reset() override;
  void on_broken(const grpc::Status& status) override;

  /// Queues a keepalive unless one is waiting to be sent already.
  void send_one();
  void arm_tick();
  void arm_answer_deadline();

  std::int64_t lease_;
  std::chrono::milliseconds every_;
  OnAck on_ack_;
  OnDown on_down_;
  SteadyTimer tick_;
  /// Fires when the oldest unanswered keepalive has waited call_timeout: the stream is dead.
  SteadyTimer answer_deadline_;
  /// Send times of the keepalives on the current stream not answered yet, oldest first
  /// (etcd answers them in order, one answer each).
  std::deque<TimePoint> sent_;
  /// Keepalives queued but not handed to gRPC yet (0 or 1).
  int queued_ = 0;
};

}  // namespace tnl::etcd
