// One etcd watch over one Watch bidi stream: events in revision order (with prev_kv if asked),
// re-established on the next endpoint (with backoff) from the last delivered revision + 1
// when it breaks, without losing or repeating an event. Made by Client::watch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "io_types.hpp"
#include "stream_session.hpp"

namespace tnl::etcd {

class Watch final : StreamSession<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  /// Events of one or more revisions, ascending, none seen before; and the header revision
  /// of the response that carried them.
  using OnEvents = std::function<void(const std::vector<mvccpb::Event>&, std::int64_t header_revision)>;
  /// etcd has compacted past the next revision this watch needed: events were lost. The
  /// watch continues from the oldest revision etcd still has (the compaction revision), so
  /// events after this call are again complete; the owner re-reads what it relies on.
  using OnCompacted = std::function<void()>;

  /// Starts at once: watches [key, range_end) from `start_revision` (0: from now); with
  /// `prev_kv`, each event that is not a creation carries the key's previous value (etcd
  /// reads it from the old revision: a cost per event).
  Watch(std::shared_ptr<ClientCore> core, std::string key, std::string range_end, std::int64_t start_revision,
        OnEvents on_events, OnCompacted on_compacted, bool prev_kv = true);
  /// Stops: the stream is cancelled and released by gRPC before this returns; no callback
  /// runs afterwards. Call on the event loop thread.
  ~Watch() override;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  /// The revision the watch continues from (the last delivered event's + 1); 0 until known.
  [[nodiscard]] std::int64_t next_revision() const { return next_revision_; }
  /// True while a watcher is created on an established stream.
  [[nodiscard]] bool watching() const { return watch_id_ >= 0; }

 private:
  void on_established() override;
  void on_message(etcdserverpb::WatchResponse& response) override;
  void on_reset() override;
  void on_broken(const grpc::Status& status) override;

  /// Asks for the watcher (on the current stream) from next_revision_.
  void send_create();
  /// Every call_timeout: breaks a stream that did not answer the previous progress request
  /// (a stopped or partitioned member), else sends one.
  void arm_probe();

  std::string key_;
  std::string range_end_;
  std::int64_t next_revision_;
  std::int64_t watch_id_ = -1;
  bool prev_kv_;
  OnEvents on_events_;
  OnCompacted on_compacted_;
  SteadyTimer probe_;
  /// Nothing received since the last progress request was sent.
  bool probe_unanswered_ = false;
};

}  // namespace tnl::etcd
