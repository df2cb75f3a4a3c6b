#include "keep_alive.hpp"

#include <fmt/format.h>

namespace tnl::etcd {

using etcdserverpb::LeaseKeepAliveRequest;
using etcdserverpb::LeaseKeepAliveResponse;

KeepAlive::KeepAlive(std::shared_ptr<ClientCore> core, std::int64_t lease, std::chrono::milliseconds every,
                     OnAck on_ack, OnDown on_down)
    : StreamSession(std::move(core), "lease keepalive",
                    [](EndpointPool::Member& member, grpc::ClientContext* context,
                       grpc::ClientBidiReactor<LeaseKeepAliveRequest, LeaseKeepAliveResponse>* reactor) {
                      member.lease->async()->LeaseKeepAlive(context, reactor);
                    }),
      lease_(lease),
      every_(std::max(every, std::chrono::milliseconds(1))),
      on_ack_(std::move(on_ack)),
      on_down_(std::move(on_down)),
      tick_(this->core().io),
      answer_deadline_(this->core().io) {
  start();
  arm_tick();
}

KeepAlive::~KeepAlive() { stop(); }

void KeepAlive::now() { send_one(); }

void KeepAlive::send_one() {
  if (queued_ > 0 || !established()) return;
  LeaseKeepAliveRequest request;
  request.set_id(lease_);
  if (send(std::move(request))) ++queued_;
}

void KeepAlive::on_established() { send_one(); }

void KeepAlive::on_sending(const LeaseKeepAliveRequest&) {
  --queued_;
  sent_.push_back(std::chrono::steady_clock::now());
  if (sent_.size() == 1) arm_answer_deadline();
}

void KeepAlive::on_message(LeaseKeepAliveResponse& response) {
  if (sent_.empty()) return;  // not an answer to ours (etcd sends none unasked)
  const auto sent = sent_.front();
  sent_.pop_front();
  if (!sent_.empty()) {
    arm_answer_deadline();
  } else {
    answer_deadline_.cancel();
  }
  on_ack_(sent, response.ttl());  // last: may destroy this
}

void KeepAlive::on_reset() {
  sent_.clear();
  queued_ = 0;
  answer_deadline_.cancel();
}

void KeepAlive::on_broken(const grpc::Status& status) {
  if (on_down_) on_down_(status);  // last: may destroy this
}

void KeepAlive::arm_tick() {
  tick_.expires_after(every_);
  tick_.async_wait([this, gate = gate()](std::error_code error) {
    if (error || !gate->open()) return;
    arm_tick();
    send_one();
  });
}

void KeepAlive::arm_answer_deadline() {
  const auto timeout = core().options.call_timeout;
  answer_deadline_.expires_at(sent_.front() + timeout);
  answer_deadline_.async_wait([this, gate = gate(), timeout](std::error_code error) {
    if (error || !gate->open() || sent_.empty()) return;
    if (std::chrono::steady_clock::now() < sent_.front() + timeout) return;  // re-armed meanwhile
    break_stream(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              fmt::format("no keepalive answer from {} within {} ms", endpoint(), timeout.count())));
  });
}

}  // namespace tnl::etcd
