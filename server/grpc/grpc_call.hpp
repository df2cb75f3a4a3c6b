// One unary gRPC call on the event loop.
//
// The transport (GrpcH2Stream, on the loop too) parses the request, makes the GrpcCall with
// the response message to fill and the GrpcReply to send it through, and hands it to the
// method. The call is answered with finish() exactly once; the request and response stay
// valid until then. The transport tells the call when the client cancelled and when the
// stream is over; on_done's action runs only once both the call is finished and the stream
// over, whichever comes last, as with gRPC's own reactors.
#pragma once

#include <grpcpp/support/status.h>
#include <google/protobuf/message_lite.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

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

/// Where a unary call's answer goes: the transport's stream.
class GrpcReply {
 public:
  virtual ~GrpcReply() = default;
  /// Sends `status`, with `response` before it when the status is OK.
  virtual void send(const grpc::Status& status, const google::protobuf::MessageLite& response) = 0;
};

/// The loop's handle of one unary call (loop thread only).
class GrpcCall {
 public:
  /// Set by the transport before the call is handed to its method (read-only afterwards).
  std::string authorization;  ///< the `authorization` metadata, or empty
  std::string peer;           ///< the client's address, for logs
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();  ///< max: none

  /// `response`: the message finish() sends with OK (owned by the transport, outlives the call).
  GrpcCall(std::shared_ptr<GrpcReply> reply, const google::protobuf::MessageLite& response)
      : reply_(std::move(reply)), response_(response) {}

  /// Answers the call; later calls do nothing.
  void finish(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    on_cancel_ = nullptr;
    if (status.ok()) answer_bytes_ = response_.ByteSizeLong();
    if (on_finish_) std::exchange(on_finish_, nullptr)();
    std::exchange(reply_, nullptr)->send(status, response_);
    if (over_) run_done(*over_);
  }
  [[nodiscard]] bool finished() const { return finished_; }
  /// Whether the client cancelled it (or its deadline passed) before it was answered.
  [[nodiscard]] bool cancelled() const { return cancelled_; }
  /// Runs `action` if the client cancels before the call is answered.
  void on_cancel(std::function<void()> action) { on_cancel_ = std::move(action); }
  /// Runs `action` once the call is over: `delivered` false when the answer could not be
  /// handed to the client (it cancelled, or went away).
  void on_done(std::function<void(bool delivered)> action) { on_done_ = std::move(action); }
  /// Runs `action` when finish() is called (the front end forgets the call).
  void on_finish(std::function<void()> action) { on_finish_ = std::move(action); }
  /// Runs `action` once the call is over (after on_done's), answered or not.
  void on_over(std::function<void()> action) { on_over_ = std::move(action); }
  /// The size of the OK answer given (0 before, or after an error status).
  [[nodiscard]] std::size_t answer_bytes() const { return answer_bytes_; }

  /// Transport: the client cancelled (or its deadline passed).
  void cancelled_by_client() {
    cancelled_ = true;
    if (!finished_ && on_cancel_) std::exchange(on_cancel_, nullptr)();
  }
  /// Transport: the stream is over (`delivered`: the answer was written to the client).
  /// Before finish(), on_done's action waits for it.
  void done(bool delivered) {
    if (over_) return;
    over_ = delivered;
    if (finished_) run_done(delivered);
  }

 private:
  void run_done(bool delivered) {
    if (on_done_) std::exchange(on_done_, nullptr)(delivered);
    if (on_over_) std::exchange(on_over_, nullptr)();
  }

  std::shared_ptr<GrpcReply> reply_;
  const google::protobuf::MessageLite& response_;
  bool finished_ = false;
  bool cancelled_ = false;
  /// Set once the stream is over: whether the answer was delivered.
  std::optional<bool> over_;
  std::function<void()> on_cancel_;
  std::function<void(bool)> on_done_;
  std::function<void()> on_finish_;
  std::function<void()> on_over_;
  std::size_t answer_bytes_ = 0;
};

}  // namespace tnl
