// One unary gRPC call, handed from gRPC's threads to the event loop and answered there.
//
// gRPC runs a method (and OnCancel, OnDone) on its own threads. Those touch nothing of the
// lock state: the method posts the call to the loop (GrpcFrontEnd), and OnCancel and
// OnDone post what they learnt. On the loop, GrpcCall is the call's handle: it is answered
// with finish() exactly once; the reactor (and the request and response messages, which
// gRPC owns) stay valid until then, since gRPC runs OnDone only after Finish. After
// finish() the loop touches neither.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "etcd/tsan_annotations.hpp"

namespace tnl {

/// Until when (steady clock) an answer sent still reaches the caller before its `deadline`
/// (system clock; max: none, then nullopt). gRPC sends the deadline as a timeout relative to
/// the request, so the server's deadline is later than the caller's by the request's transit:
/// an answer sent in between arrives after the caller gave up, and a lock granted with it
/// would be held for nobody. A margin is kept: a quarter of the time left, at most 100 ms.
inline std::optional<std::chrono::steady_clock::time_point> answer_by(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  const auto left =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - std::chrono::system_clock::now());
  if (left <= std::chrono::steady_clock::duration::zero()) return now;
  const auto margin = std::min<std::chrono::steady_clock::duration>(left / 4, std::chrono::milliseconds(100));
  return now + left - margin;
}

/// The loop's side of one call. Loop thread only, but for the fields set before it is posted.
class GrpcCall {
 public:
  /// Set on gRPC's thread before the call is posted (read-only afterwards).
  std::string authorization;  ///< the `authorization` metadata, or empty
  std::string peer;           ///< the client's address, for logs
  std::chrono::system_clock::time_point deadline;  ///< the call's deadline (max: none)
  /// The size of the answer's message (empty: not counted); read by finish() only.
  std::function<std::size_t()> answer_size;

  explicit GrpcCall(grpc::ServerUnaryReactor* reactor) : reactor_(reactor) {}

  /// Answers the call; later calls do nothing.
  void finish(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    on_cancel_ = nullptr;
    if (status.ok() && answer_size) answer_bytes_ = answer_size();
    if (on_finish_) std::exchange(on_finish_, nullptr)();
    etcd::tsan_release(reactor_);  // what the loop did happens before OnDone (uninstrumented gRPC between)
    reactor_->Finish(status);
    reactor_ = nullptr;
  }
  [[nodiscard]] bool finished() const { return finished_; }
  /// Whether the client cancelled it (or its deadline passed) before it was answered.
  [[nodiscard]] bool cancelled() const { return cancelled_; }
  /// Runs `action` if the client cancels before the call is answered.
  void on_cancel(std::function<void()> action) { on_cancel_ = std::move(action); }
  /// Runs `action` once the call is over: `delivered` false when gRPC could not hand the
  /// answer over (the client cancelled, or went away).
  void on_done(std::function<void(bool delivered)> action) { on_done_ = std::move(action); }
  /// Runs `action` when finish() is called (the front end forgets the call).
  void on_finish(std::function<void()> action) { on_finish_ = std::move(action); }
  /// Runs `action` once gRPC is done with the call (after on_done's), answered or not.
  void on_over(std::function<void()> action) { on_over_ = std::move(action); }
  /// The size of the OK answer given (0 before, or when not counted).
  [[nodiscard]] std::size_t answer_bytes() const { return answer_bytes_; }

  /// Loop: gRPC says the call was cancelled.
  void cancelled_by_client() {
    cancelled_ = true;
    if (!finished_ && on_cancel_) std::exchange(on_cancel_, nullptr)();
  }
  /// Loop: gRPC says the call is over.
  void done(bool delivered) {
    if (on_done_) std::exchange(on_done_, nullptr)(delivered);
    if (on_over_) std::exchange(on_over_, nullptr)();
  }

 private:
  grpc::ServerUnaryReactor* reactor_;
  bool finished_ = false;
  bool cancelled_ = false;
  std::function<void()> on_cancel_;
  std::function<void(bool)> on_done_;
  std::function<void()> on_finish_;
  std::function<void()> on_over_;
  std::size_t answer_bytes_ = 0;
};

/// gRPC's side: the reactor, created and run on gRPC's threads. Deletes itself in OnDone.
class GrpcUnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  GrpcUnaryReactor(asio::io_context& io, grpc::CallbackServerContext* context)
      : io_(io), context_(context), call_(std::make_shared<GrpcCall>(this)) {
    etcd::tsan_release(this);  // made on one gRPC thread, its reactions may run on others
  }

  /// The loop's handle (hand it to the loop with asio::post only).
  [[nodiscard]] const std::shared_ptr<GrpcCall>& call() const { return call_; }

  /// The reactions only post to the loop and never block: gRPC may run them on the thread
  /// that completed the call's last operation rather than hand them to its executor (an
  /// extra thread hop, and one ThreadSanitizer cannot follow through uninstrumented gRPC).
  bool InternalInlineable() override { return true; }

  void OnCancel() override {
    etcd::tsan_acquire(this);
    asio::post(io_, [call = call_] { call->cancelled_by_client(); });
    etcd::tsan_release(this);
  }
  void OnDone() override {
    etcd::tsan_acquire(this);
    // IsCancelled() may be read here: true when the answer did not reach the client.
    asio::post(io_, [call = std::move(call_), delivered = !context_->IsCancelled()] { call->done(delivered); });
    delete this;
  }

 private:
  asio::io_context& io_;
  grpc::CallbackServerContext* context_;
  std::shared_ptr<GrpcCall> call_;
};

}  // namespace tnl
