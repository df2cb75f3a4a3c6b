// One attempt at a bidi stream (LeaseKeepAlive, Watch): the gRPC reactor. Its reactions run
// on gRPC's threads and only hand what happened to the event loop through the Gate; the
// loop side (a StreamSession, the Sink) starts it, writes on it and ends it. A hold keeps
// gRPC from finishing the stream (and this object) while the loop may still write on it:
// released by finish(), after which the loop does not touch it. Kept alive by itself until
// OnDone, the last reaction.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "gate.hpp"
#include "tsan_annotations.hpp"

namespace tnl::etcd {

template <class Request, class Response>
class BidiStream final : public grpc::ClientBidiReactor<Request, Response>,
                         public Gate::Call,
                         public std::enable_shared_from_this<BidiStream<Request, Response>> {
 public:
  /// The loop side: each method runs on the event loop, and only while the gate is open.
  /// `stream` is the id given at construction: events of an older stream can be told apart.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void on_response(std::uint64_t stream, Response& response) = 0;
    virtual void on_write_done(std::uint64_t stream, bool ok) = 0;
    /// No more responses: the stream is over (finish() it; on_done follows).
    virtual void on_read_failed(std::uint64_t stream) = 0;
    virtual void on_done(std::uint64_t stream, const grpc::Status& status) = 0;
  };

  BidiStream(std::shared_ptr<Gate> gate, Sink* sink, std::uint64_t id)
      : gate_(std::move(gate)), sink_(sink), id_(id) {}

  /// Loop thread: starts the stream; `bind(context, reactor)` calls the stub's async
  /// method (e.g. stub->async()->Watch). False when the gate is closed (nothing started).
  template <class Bind>
  bool start(Bind&& bind) {
    if (!gate_->enter(this->shared_from_this())) return false;
    self_ = this->shared_from_this();
    // etcd cancels the stream when its member loses the leader, instead of leaving it
    // silent (etcd's own clients do the same).
    context_.AddMetadata("hasleader", "true");
    bind(&context_, this);
    this->AddHold();
    this->StartRead(&response_);
    this->StartCall();
    return true;
  }

  /// Loop thread, before finish(), one at a time (after on_write_done of the previous).
  void write(Request request) {
    request_ = std::move(request);
    this->StartWrite(&request_);
  }

  /// Loop thread: the loop is done with the stream; with `cancel` gRPC is also asked to end
  /// it now (else it is over already). on_done follows. Idempotent.
  void finish(bool cancel) {
    if (released_.exchange(true)) return;
    if (cancel) context_.TryCancel();
    this->RemoveHold();
  }

  /// Gate::close: cancel and let go.
  void cancel() override {
    context_.TryCancel();
    finish(true);
  }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) {
      gate_->post([sink = sink_, id = id_] { sink->on_read_failed(id); });
      return;
    }
    auto response = std::make_shared<Response>();
    response->Swap(&response_);
    gate_->post([sink = sink_, id = id_, response] { sink->on_response(id, *response); });
    this->StartRead(&response_);
  }

  void OnWriteDone(bool ok) override {
    gate_->post([sink = sink_, id = id_, ok] { sink->on_write_done(id, ok); });
  }

  void OnDone(const grpc::Status& status) override {
    tsan_acquire(this);            // see InternalScheduleOnDone
    auto self = std::move(self_);  // this object may end with the reaction
    gate_->leave(this, [sink = sink_, id = id_, status] { sink->on_done(id, status); });
  }

#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer builds only: gRPC runs OnDone (when the last operation did not end in
  // a reaction) through its executor, inside uninstrumented libgrpc, so TSan would not see
  // that OnDone comes after everything the stream did before. This hook of gRPC's, not
  // meant to be overridden otherwise, is where that hand-over starts.
  void InternalScheduleOnDone(grpc::Status status) override {
    tsan_release(this);
    grpc::ClientBidiReactor<Request, Response>::InternalScheduleOnDone(std::move(status));
  }
#endif

  grpc::ClientContext context_;
  Request request_;
  Response response_;
  std::shared_ptr<Gate> gate_;
  Sink* sink_;  ///< only dereferenced on the loop, while the gate is open
  std::uint64_t id_;
  std::shared_ptr<BidiStream> self_;
  std::atomic<bool> released_{false};
};

}  // namespace tnl::etcd
