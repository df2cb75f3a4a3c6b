// The handlers of the three kinds of gRPC methods served (GrpcStreamHandler): unary (one
// request, one answer, through a GrpcCall), server streaming (Acquire, through a
// GrpcStreamHold) and the reflection service's bidirectional stream.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "grpc_call.hpp"
#include "grpc_h2_stream.hpp"
#include "grpc_reflection.hpp"
#include "grpc_stream_handler.hpp"
#include "grpc_stream_hold.hpp"

namespace tnl {

/// A method that takes exactly one request message: parsed once the client half-closes.
class SingleRequestHandler : public GrpcStreamHandler {
 public:
  void message(GrpcH2Stream& stream, std::string&& bytes) final;
  void end_of_requests(GrpcH2Stream& stream) final;

 protected:
  /// The request's bytes, once whole.
  virtual void start(GrpcH2Stream& stream, const std::string& bytes) = 0;

 private:
  std::string bytes_;
  bool has_message_ = false;
};

/// A unary method: the request parsed into Request, the call handed to `start`, which
/// answers it with Response filled.
template <typename Request, typename Response>
class UnaryHandler final : public SingleRequestHandler {
 public:
  using Start = std::function<void(const std::shared_ptr<GrpcCall>&, const Request&, Response&)>;
  explicit UnaryHandler(Start start) : start_(std::move(start)) {}

  void cancelled() override {
    if (call_) call_->cancelled_by_client();
  }
  void over(bool delivered) override {
    if (call_) call_->done(delivered);
  }

 private:
  void start(GrpcH2Stream& stream, const std::string& bytes) override {
    if (!request_.ParseFromString(bytes)) {
      return stream.send_status(grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse the request message"));
    }
    call_ = std::make_shared<GrpcCall>(stream.shared_from_this(), response_);
    call_->authorization = stream.request().authorization;
    call_->peer = stream.peer();
    call_->deadline = stream.request().deadline;
    start_(call_, request_, response_);
  }

  Start start_;
  Request request_;
  Response response_;
  std::shared_ptr<GrpcCall> call_;
};

/// LockExtensions.Acquire: the lock held for as long as the stream is open.
class AcquireHandler final : public SingleRequestHandler {
 public:
  using Start = std::function<void(const std::shared_ptr<GrpcStreamHold>&, const ext::AcquireRequest&)>;
  explicit AcquireHandler(Start start) : start_(std::move(start)) {}

  void cancelled() override;
  void over(bool delivered) override;
  void write_done(bool ok) override;

 private:
  void start(GrpcH2Stream& stream, const std::string& bytes) override;

  Start start_;
  std::shared_ptr<GrpcStreamHold> hold_;
};

/// ServerReflection.ServerReflectionInfo: one answer per request, OK once the client ends.
class ReflectionHandler final : public GrpcStreamHandler {
 public:
  explicit ReflectionHandler(const GrpcReflection& reflection) : reflection_(reflection) {}

  void message(GrpcH2Stream& stream, std::string&& bytes) override;
  void end_of_requests(GrpcH2Stream& stream) override;
  void cancelled() override {}
  void over(bool) override {}

 private:
  const GrpcReflection& reflection_;
  /// The files this stream has been sent.
  std::set<std::string> sent_;
};

}  // namespace tnl
