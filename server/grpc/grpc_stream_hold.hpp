// One `Acquire` stream of tcpnetlock.v1.LockExtensions: a lock held for as long as the
// stream stays open, the gRPC twin of a line-protocol connection lock.
//
// The transport's side is a GrpcStreamWriter (GrpcH2Stream, on the loop), which tells the
// hold when a write is done, when the client cancels or goes away, and when the stream is
// over. GrpcStreamHold asks the backend for a connection hold (with itself as the
// HoldWatcher), writes `granted`, and then: the client cancels or goes away -> the hold is
// released at once; the backend takes it away (lost) -> `lost` is written and the stream
// ends ABORTED; the server shuts down -> released, and the stream ends UNAVAILABLE.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "lock_backend.hpp"
#include "tcpnetlock/v1/lock_extensions.pb.h"

namespace tnl {

namespace ext = ::tcpnetlock::v1;

/// Where a server-streaming call's messages go: the transport's stream. One write at a time:
/// the transport calls GrpcStreamHold::write_done once a write is taken.
class GrpcStreamWriter {
 public:
  virtual ~GrpcStreamWriter() = default;
  /// Sends one message.
  virtual void write(const google::protobuf::MessageLite& message) = 0;
  /// Sends one message, then `status`, ending the stream.
  virtual void write_and_finish(const google::protobuf::MessageLite& message, const grpc::Status& status) = 0;
  /// Ends the stream with `status`.
  virtual void finish(const grpc::Status& status) = 0;
};

class GrpcStreamHold : public HoldWatcher, public std::enable_shared_from_this<GrpcStreamHold> {
 public:
  /// Set by the transport before the stream is started (read-only afterwards).
  std::string authorization;
  std::string peer;
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();

  explicit GrpcStreamHold(std::shared_ptr<GrpcStreamWriter> writer) : writer_(std::move(writer)) {}

  /// Loop: asks `backend` for the lock `request` (validated: a connection hold); `on_end`
  /// runs once the stream is answered (the front end forgets it).
  void start(LockBackend& backend, AcquireRequest request, std::function<void()> on_end);
  /// Loop: ends the stream with `status` before it started (refused).
  void refuse(const grpc::Status& status) { finish(status); }
  /// Loop: the server is going: releases what is held and ends the stream UNAVAILABLE.
  void shut_down();

  // From the transport:
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

  std::shared_ptr<GrpcStreamWriter> writer_;
  LockBackend* backend_ = nullptr;
  State state_ = State::starting;
  LockId id_;
  std::string name_;
  ext::AcquireEvent event_;  ///< the event being written
  bool writing_ = false;
  bool finished_ = false;
  /// A finish waiting for the write in flight (one operation at a time).
  std::optional<grpc::Status> finish_after_write_;
  bool lost_after_write_ = false;
  std::function<void()> on_end_;
};

}  // namespace tnl
