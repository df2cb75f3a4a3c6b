#include "etcd_client.hpp"

#include <utility>

#include "unary_call.hpp"

namespace tnl::etcd {

namespace {
using Clock = std::chrono::steady_clock;
using Member = EndpointPool::Member;
}  // namespace

template <class Request, class Response>
struct Client::Operation final : Client::Pending {
  /// Starts the attempt: calls the stub's async method on `member`.
  using Invoke = std::function<void(Member&, grpc::ClientContext*, const Request*, Response*,
                                    std::function<void(grpc::Status)>)>;
  Request request;
  Done<Response> done;
  Invoke invoke;
  Clock::time_point started;
  std::size_t attempts = 0;
  bool retry_unavailable = false;
};

Client::Client(asio::io_context& io, ClientOptions options)
    : core_(std::make_shared<ClientCore>(io, std::move(options))), gate_(Gate::make(io)) {}

Client::~Client() {
  if (!gate_->close()) {
    // A call object gRPC has not released yet holds a channel reference: the channels must
    // not end on a gRPC thread (gate.hpp). Left for the process's lifetime instead.
    new std::shared_ptr<ClientCore>(core_);
  }
  // The callers' callbacks (and whatever they captured) end here, on the loop thread.
  pending_.clear();
}

const std::string& Client::current_endpoint() const { return core_->pool.member(core_->pool.current()).endpoint; }

template <class Request, class Response, class Invoke>
void Client::call(Request request, Done<Response> done, Invoke invoke, bool retry_unavailable) {
  auto operation = std::make_unique<Operation<Request, Response>>();
  operation->request = std::move(request);
  operation->done = std::move(done);
  operation->invoke = std::move(invoke);
  operation->started = Clock::now();
  operation->retry_unavailable = retry_unavailable;
  const std::uint64_t id = next_id_++;
  pending_.emplace(id, std::move(operation));
  ++core_->stats.requests;
  issue<Request, Response>(id);
}

template <class Request, class Response>
void Client::issue(std::uint64_t id) {
  auto& operation = static_cast<Operation<Request, Response>&>(*pending_.at(id));
  ++operation.attempts;
  const std::size_t member = core_->pool.pick(core_->stats);
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  // Kept for another attempt only when one may follow (a range after UNAVAILABLE); every
  // other request (a batch's transaction above all) moves into its only attempt, uncopied.
  if (operation.retry_unavailable) {
    call->request = operation.request;
  } else {
    call->request.Swap(&operation.request);
  }
  call->context.set_deadline(std::chrono::system_clock::now() + core_->options.call_timeout);
  // A member without a leader answers UNAVAILABLE at once instead of timing out.
  call->context.AddMetadata("hasleader", "true");
  if (!gate_->enter(call)) return;  // closing: the destructor drops the operation
  operation.invoke(core_->pool.member(member), &call->context, &call->request, &call->response,
                   [this, gate = gate_, call, id, member](grpc::Status status) {
                     // gRPC thread: only the gate and the call are touched here. The
                     // response moves out, so that the handler does not keep the call
                     // (and its context's channel reference) alive (gate.hpp).
                     auto response = std::make_shared<Response>();
                     response->Swap(&call->response);
                     gate->leave(call.get(), [this, response, id, member, status = std::move(status)] {
                       on_result<Request, Response>(id, member, status, *response);
                     });
                   });
}

template <class Request, class Response>
void Client::on_result(std::uint64_t id, std::size_t member, const grpc::Status& status, Response& response) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto& operation = static_cast<Operation<Request, Response>&>(*it->second);
  if (!status.ok()) {
    const auto kind = ClientStats::kind_of(status);
    core_->pool.failed(member, status, core_->stats);
    if (kind == FailureKind::unavailable && operation.retry_unavailable && operation.attempts < core_->pool.size()) {
      issue<Request, Response>(id);
      return;
    }
    core_->stats.count_failure(status);
  }
  core_->stats.request_duration.observe(std::chrono::duration<double>(Clock::now() - operation.started).count());
  auto done = std::move(operation.done);
  pending_.erase(it);
  if (!status.ok()) response = Response();  // nothing half-filled reaches the caller
  done(status, response);  // last: it may destroy this client
}

void Client::range(etcdserverpb::RangeRequest request, Done<etcdserverpb::RangeResponse> done) {
  call<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
      std::move(request), std::move(done),
      [](Member& m, grpc::ClientContext* c, const etcdserverpb::RangeRequest* q, etcdserverpb::RangeResponse* r,
         std::function<void(grpc::Status)> cb) { m.kv->async()->Range(c, q, r, std::move(cb)); },
      true);
}

void Client::txn(etcdserverpb::TxnRequest request, Done<etcdserverpb::TxnResponse> done) {
  call<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
      std::move(request), std::move(done),
      [](Member& m, grpc::ClientContext* c, const etcdserverpb::TxnRequest* q, etcdserverpb::TxnResponse* r,
         std::function<void(grpc::Status)> cb) { m.kv->async()->Txn(c, q, r, std::move(cb)); },
      false);
}

void Client::put(etcdserverpb::PutRequest request, Done<etcdserverpb::PutResponse> done) {
  call<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
      std::move(request), std::move(done),
      [](Member& m, grpc::ClientContext* c, const etcdserverpb::PutRequest* q, etcdserverpb::PutResponse* r,
         std::function<void(grpc::Status)> cb) { m.kv->async()->Put(c, q, r, std::move(cb)); },
      false);
}

void Client::delete_range(etcdserverpb::DeleteRangeRequest request, Done<etcdserverpb::DeleteRangeResponse> done) {
  call<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
      std::move(request), std::move(done),
      [](Member& m, grpc::ClientContext* c, const etcdserverpb::DeleteRangeRequest* q,
         etcdserverpb::DeleteRangeResponse* r,
         std::function<void(grpc::Status)> cb) { m.kv->async()->DeleteRange(c, q, r, std::move(cb)); },
      false);
}

void Client::lease_grant(std::int64_t ttl_seconds, Done<etcdserverpb::LeaseGrantResponse> done) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  call<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>(
      std::move(request), std::move(done),
      [](Member& m, grpc::ClientContext* c, const etcdserverpb::LeaseGrantRequest* q,
         etcdserverpb::LeaseGrantResponse* r,
         std::function<void(grpc::Status)> cb) { m.lease->async()->LeaseGrant(c, q, r, std::move(cb)); },
      false);
}

void Client::lease_revoke(std::int64_t lease, Done<etcdserverpb::LeaseRevokeResponse> done) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease);
  call<etcdserverpb::LeaseRevokeRequest, etcdserverpb::LeaseRevokeResponse>(
      std::move(request), std::move(done),
      [](Member& m, grpc::ClientContext* c, const etcdserverpb::LeaseRevokeRequest* q,
         etcdserverpb::LeaseRevokeResponse* r,
         std::function<void(grpc::Status)> cb) { m.lease->async()->LeaseRevoke(c, q, r, std::move(cb)); },
      false);
}

std::unique_ptr<KeepAlive> Client::keep_alive(std::int64_t lease, std::chrono::milliseconds every,
                                              KeepAlive::OnAck on_ack, KeepAlive::OnDown on_down) {
  return std::make_unique<KeepAlive>(core_, lease, every, std::move(on_ack), std::move(on_down));
}

std::unique_ptr<Watch> Client::watch(std::string key, std::string range_end, std::int64_t start_revision,
                                     Watch::OnEvents on_events, Watch::OnCompacted on_compacted, bool prev_kv) {
  return std::make_unique<Watch>(core_, std::move(key), std::move(range_end), start_revision, std::move(on_events),
                                 std::move(on_compacted), prev_kv);
}

}  // namespace tnl::etcd
