#include "watch.hpp"

#include <fmt/format.h>

namespace tnl::etcd {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

Watch::Watch(std::shared_ptr<ClientCore> core, std::string key, std::string range_end, std::int64_t start_revision,
             OnEvents on_events, OnCompacted on_compacted, bool prev_kv)
    : StreamSession(std::move(core), "watch",
                    [](EndpointPool::Member& member, grpc::ClientContext* context,
                       grpc::ClientBidiReactor<WatchRequest, WatchResponse>* reactor) {
                      member.watch->async()->Watch(context, reactor);
                    }),
      key_(std::move(key)),
      range_end_(std::move(range_end)),
      next_revision_(std::max<std::int64_t>(start_revision, 0)),
      prev_kv_(prev_kv),
      on_events_(std::move(on_events)),
      on_compacted_(std::move(on_compacted)),
      probe_(this->core().io) {
  start();
  arm_probe();
}

Watch::~Watch() { stop(); }

void Watch::send_create() {
  WatchRequest request;
  auto& create = *request.mutable_create_request();
  create.set_key(key_);
  create.set_range_end(range_end_);
  create.set_start_revision(next_revision_);  // 0: from now; the created answer says which
  create.set_prev_kv(prev_kv_);
  send(std::move(request));
}

void Watch::on_established() {
  watch_id_ = -1;
  probe_unanswered_ = false;
  send_create();
}

void Watch::on_message(WatchResponse& response) {
  probe_unanswered_ = false;
  if (response.compact_revision() > 0) {
    // Our watcher is cancelled: the revisions from next_revision_ up to the compaction are
    // gone. Continue from the oldest revision etcd has (nothing after it is lost), then tell
    // the owner, which re-reads what it relies on.
    next_revision_ = response.compact_revision();
    watch_id_ = -1;
    send_create();
    if (on_compacted_) on_compacted_();  // last: may destroy this
    return;
  }
  if (response.created()) {
    if (response.canceled()) {
      break_stream(grpc::Status(grpc::StatusCode::UNKNOWN,
                                fmt::format("watch not created on {}: {}", endpoint(), response.cancel_reason())));
      return;
    }
    watch_id_ = response.watch_id();
    // From now: the watcher starts after the revision in the header.
    if (next_revision_ == 0) next_revision_ = response.header().revision() + 1;
    return;
  }
  if (response.canceled()) {
    if (response.watch_id() == watch_id_) {
      break_stream(grpc::Status(grpc::StatusCode::UNKNOWN,
                                fmt::format("watch cancelled by {}: {}", endpoint(), response.cancel_reason())));
    }
    return;
  }
  if (response.events_size() == 0 || response.watch_id() != watch_id_) return;  // progress, or not ours
  std::vector<mvccpb::Event> events;
  events.reserve(static_cast<std::size_t>(response.events_size()));
  for (auto& event : *response.mutable_events()) {
    // After a re-establishment nothing before next_revision_ is delivered again.
    if (event.kv().mod_revision() >= next_revision_) events.push_back(std::move(event));
  }
  if (events.empty()) return;
  next_revision_ = events.back().kv().mod_revision() + 1;
  on_events_(events, response.header().revision());  // last: may destroy this
}

void Watch::on_reset() {
  watch_id_ = -1;
  probe_unanswered_ = false;
}

void Watch::on_broken(const grpc::Status&) {}

void Watch::arm_probe() {
  probe_.expires_after(core().options.call_timeout);
  probe_.async_wait([this, gate = gate()](std::error_code error) {
    if (error || !gate->open()) return;
    arm_probe();
    if (!established()) return;
    if (probe_unanswered_) {
      break_stream(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                fmt::format("no watch progress answer from {} within {} ms", endpoint(),
                                            core().options.call_timeout.count())));
      return;
    }
    WatchRequest request;
    request.mutable_progress_request();
    if (send(std::move(request))) probe_unanswered_ = true;
  });
}

}  // namespace tnl::etcd
