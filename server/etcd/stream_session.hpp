// What KeepAlive and Watch share: one bidi stream at a time to the current member, writes
// queued one at a time, and re-establishment after a break on the next member, with
// backoff (backoff_min doubling to backoff_max; back to backoff_min after an answer).
// The derived class says what to send on a new stream and what to make of answers, and
// breaks a stream it takes for dead (no answer in time). Loop thread only.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "bidi_stream.hpp"
#include "client_core.hpp"
#include "gate.hpp"
#include "io_types.hpp"

namespace tnl::etcd {

template <class Request, class Response>
class StreamSession : BidiStream<Request, Response>::Sink {
 public:
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

 protected:
  using Stream = BidiStream<Request, Response>;
  /// Calls the stub's async method for a new stream on `member`.
  using Bind = std::function<void(EndpointPool::Member& member, grpc::ClientContext*,
                                  grpc::ClientBidiReactor<Request, Response>*)>;

  /// `what` names the stream in logs ("lease keepalive", "watch").
  StreamSession(std::shared_ptr<ClientCore> core, std::string what, Bind bind)
      : core_(std::move(core)), gate_(Gate::make(core_->io)), what_(std::move(what)), bind_(std::move(bind)),
        retry_(core_->io), backoff_(core_->options.backoff_min) {}
  ~StreamSession() override { stop(); }

  /// Opens the first stream. Call at the end of the derived constructor.
  void start() { connect(); }

  /// Ends everything: the stream is cancelled and released by gRPC before this returns; no
  /// reaction or timer of this session acts afterwards. Call first in the derived
  /// destructor (its members are gone by the time this base's destructor runs).
  void stop() {
    if (!gate_->open()) return;
    retry_.cancel();
    // Not held across close(): it waits until gRPC has destroyed the stream objects.
    stream_.reset();
    if (!gate_->close()) {
      // A stream object gRPC has not released holds a channel reference: the channels
      // must not end on a gRPC thread (gate.hpp). Left for the process's lifetime instead.
      new std::shared_ptr<ClientCore>(core_);
    }
  }

  /// Queues `request` on the current stream; false (dropped) when no stream is up.
  bool send(Request request) {
    if (!stream_ || ending_) return false;
    writes_.push_back(std::move(request));
    pump();
    return true;
  }

  /// The derived class takes the current stream for dead: it is cancelled, and on_broken
  /// gets `reason` once gRPC has let go of it.
  void break_stream(grpc::Status reason) {
    if (!stream_ || ending_) return;
    reason_ = std::move(reason);
    ending_ = true;
    stream_->finish(true);
  }

  /// True while a stream is up (started, not ending).
  [[nodiscard]] bool established() const { return stream_ && !ending_; }
  [[nodiscard]] ClientCore& core() { return *core_; }
  [[nodiscard]] const std::string& endpoint() const { return core_->pool.member(endpoint_).endpoint; }
  /// Open until stop(): timer handlers check it (a handler already queued still runs).
  [[nodiscard]] const std::shared_ptr<Gate>& gate() const { return gate_; }

  /// A new stream was started: queue what it needs first.
  virtual void on_established() = 0;
  /// `request` is about to be handed to gRPC.
  virtual void on_sending(const Request& request) { (void)request; }
  /// An answer on the current stream.
  virtual void on_message(Response& response) = 0;
  /// The current stream is over: forget what belonged to it (before on_broken).
  virtual void on_reset() = 0;
  /// Tells the owner the stream broke. Called last: it may destroy this object.
  virtual void on_broken(const grpc::Status& status) = 0;

 private:
  void connect() {
    if (!gate_->open()) return;
    endpoint_ = core_->pool.pick(core_->stats);
    writes_.clear();
    writing_ = false;
    ending_ = false;
    reason_.reset();
    typename Stream::Sink* sink = this;  // (a private base: converted here, not in make_shared)
    auto stream = std::make_shared<Stream>(gate_, sink, ++stream_id_);
    auto& member = core_->pool.member(endpoint_);
    if (!stream->start([&](grpc::ClientContext* context, grpc::ClientBidiReactor<Request, Response>* reactor) {
          bind_(member, context, reactor);
        }))
      return;
    stream_ = std::move(stream);
    on_established();
  }

  void pump() {
    if (writing_ || writes_.empty() || !stream_ || ending_) return;
    Request request = std::move(writes_.front());
    writes_.pop_front();
    on_sending(request);
    writing_ = true;
    stream_->write(std::move(request));
  }

  void on_response(std::uint64_t id, Response& response) override {
    if (id != stream_id_ || !stream_ || ending_) return;
    if (broken_before_) {
      spdlog::info("etcd client: {} stream re-established on {}", what_, endpoint());
      broken_before_ = false;
    }
    backoff_ = core_->options.backoff_min;
    on_message(response);
  }

  void on_write_done(std::uint64_t id, bool ok) override {
    if (id != stream_id_ || !stream_) return;
    writing_ = false;
    if (!ok) {
      // The stream is over; its status comes with on_done.
      if (!ending_) {
        ending_ = true;
        stream_->finish(false);
      }
      return;
    }
    pump();
  }

  void on_read_failed(std::uint64_t id) override {
    if (id != stream_id_ || !stream_ || ending_) return;
    ending_ = true;
    stream_->finish(false);
  }

  void on_done(std::uint64_t id, const grpc::Status& status) override {
    if (id != stream_id_ || !stream_) return;
    stream_.reset();
    ending_ = false;
    grpc::Status why = reason_ ? *reason_ : status;
    reason_.reset();
    if (why.ok()) why = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended by the server");
    core_->stats.count_failure(why);
    spdlog::warn("etcd client: {} stream on {} broke ({}: {}); re-establishing in {} ms", what_, endpoint(),
                 static_cast<int>(why.error_code()), why.error_message(), backoff_.count());
    // A broken stream is the member's fault whatever the status says (an answer that ends
    // a stream is one too): the next one is tried.
    core_->pool.failed(endpoint_, why.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? why
                       : grpc::Status(grpc::StatusCode::UNAVAILABLE, why.error_message()), core_->stats);
    broken_before_ = true;
    retry_.expires_after(backoff_);
    retry_.async_wait([this, gate = gate_](std::error_code error) {
      if (error || !gate->open()) return;
      ++core_->stats.reconnects;
      connect();
    });
    backoff_ = std::min(backoff_ * 2, std::max(core_->options.backoff_min, core_->options.backoff_max));
    on_reset();
    on_broken(why);
  }

  std::shared_ptr<ClientCore> core_;
  std::shared_ptr<Gate> gate_;
  std::string what_;
  Bind bind_;
  SteadyTimer retry_;
  std::chrono::milliseconds backoff_;
  std::shared_ptr<Stream> stream_;  ///< the current stream; null while re-establishing
  std::uint64_t stream_id_ = 0;
  std::size_t endpoint_ = 0;
  std::deque<Request> writes_;
  bool writing_ = false;  ///< a write is with gRPC
  bool ending_ = false;   ///< finish() called; waiting for on_done
  bool broken_before_ = false;
  std::optional<grpc::Status> reason_;
};

}  // namespace tnl::etcd
