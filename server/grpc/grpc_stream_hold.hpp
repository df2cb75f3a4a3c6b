// One `Acquire` stream of tcpnetlock.v1.LockExtensions: a lock held for as long as the
// stream stays open, the gRPC twin of a line-protocol connection lock.
//
// gRPC's side is GrpcStreamReactor (its threads: OnWriteDone, OnCancel, OnDone post to the
// loop); the loop's side is GrpcStreamHold, which asks the backend for a connection hold
// (with itself as the HoldWatcher), writes `granted`, and then: the client cancels or goes
// away (OnCancel) -> the hold is released at once; the backend takes it away (lost) ->
// `lost` is written and the stream ends ABORTED; the server shuts down -> released, and
// the stream ends UNAVAILABLE. The reactor, and the event being written, stay valid until
// finish(): gRPC runs OnDone only after Finish.
#pragma once

#include <grpcpp/grpcpp.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "lock_backend.hpp"
#include "tcpnetlock/v1/lock_extensions.pb.h"

namespace tnl {

namespace ext = ::tcpnetlock::v1;

class GrpcStreamHold : public HoldWatcher, public std::enable_shared_from_this<GrpcStreamHold> {
 public:
  using Reactor = grpc::ServerWriteReactor<ext::AcquireEvent>;
  /// Set on gRPC's thread before the stream is posted (read-only afterwards).
  std::string authorization;
  std::string peer;
  std::chrono::system_clock::time_point deadline;

  explicit GrpcStreamHold(Reactor* reactor) : reactor_(reactor) {}

  /// Loop: asks `backend` for the lock `request` (validated: a connection hold); `on_end`
  /// runs once the stream is answered (the front end forgets it).
  void start(LockBackend& backend, AcquireRequest request, std::function<void()> on_end);
  /// Loop: ends the stream with `status` before it started (refused).
  void refuse(const grpc::Status& status) { finish(status); }
  /// Loop: the server is going: releases what is held and ends the stream UNAVAILABLE.
  void shut_down();

  // Loop, from the reactor's posts:
  void cancelled();
  void write_done(bool ok);
  void done();

  /// The backend took the hold away.
  void lost(const LockId& id, std::string_view reason) override;

  [[nodiscard]] bool finished() const { return finished_; }

 private:
  enum class State { starting, waiting, holding, over };
  /// Ends the stream (once).
  void finish(const grpc::Status& status);
  /// Releases the hold (if held) with the holder's consent.
  void release(std::string_view why);

  Reactor* reactor_;
  LockBackend* backend_ = nullptr;
  State state_ = State::starting;
  LockId id_;
  std::string name_;
  ext::AcquireEvent event_;  ///< the event being written (valid until its OnWriteDone)
  bool writing_ = false;
  bool finished_ = false;
  /// A finish waiting for the write in flight (gRPC allows one operation at a time).
  std::optional<grpc::Status> finish_after_write_;
  bool lost_after_write_ = false;
  std::function<void()> on_end_;
};

/// gRPC's side of one Acquire stream; deletes itself in OnDone.
class GrpcStreamReactor final : public grpc::ServerWriteReactor<ext::AcquireEvent> {
 public:
  GrpcStreamReactor(asio::io_context& io, grpc::CallbackServerContext* context);
  [[nodiscard]] const std::shared_ptr<GrpcStreamHold>& hold() const { return hold_; }

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;
  /// As GrpcUnaryReactor's: the reactions only post to the loop.
  bool InternalInlineable() override { return true; }

 private:
  asio::io_context& io_;
  std::shared_ptr<GrpcStreamHold> hold_;
};

}  // namespace tnl
