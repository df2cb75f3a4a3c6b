#include "grpc_method_handlers.hpp"

namespace tnl {

void SingleRequestHandler::message(GrpcH2Stream& stream, std::string&& bytes) {
  if (has_message_) {
    return stream.send_status(grpc::Status(grpc::StatusCode::INTERNAL, "more than one request message"));
  }
  has_message_ = true;
  bytes_ = std::move(bytes);
}

void SingleRequestHandler::end_of_requests(GrpcH2Stream& stream) {
  if (!has_message_) return stream.send_status(grpc::Status(grpc::StatusCode::INTERNAL, "no request message"));
  start(stream, bytes_);
}

void AcquireHandler::start(GrpcH2Stream& stream, const std::string& bytes) {
  ext::AcquireRequest request;
  if (!request.ParseFromString(bytes)) {
    return stream.send_status(grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse the request message"));
  }
  hold_ = std::make_shared<GrpcStreamHold>(stream.shared_from_this());
  hold_->authorization = stream.request().authorization;
  hold_->peer = stream.peer();
  hold_->deadline = stream.request().deadline;
  start_(hold_, request);
}

void AcquireHandler::cancelled() {
  if (hold_) hold_->cancelled();
}

void AcquireHandler::over(bool) {
  if (hold_) hold_->done();
}

void AcquireHandler::write_done(bool ok) {
  if (hold_) hold_->write_done(ok);
}

void ReflectionHandler::message(GrpcH2Stream& stream, std::string&& bytes) {
  reflection::ServerReflectionRequest request;
  if (!request.ParseFromString(bytes)) {
    return stream.send_status(grpc::Status(grpc::StatusCode::INTERNAL, "cannot parse the request message"));
  }
  // A client that asks without reading the answers gets no more than this held for it, and
  // all such clients together no more than `most_unsent_overall` (100 streams a connection,
  // 1024 connections, at 4 MB each, would be 400 GB).
  constexpr std::size_t most_unsent = 4 * 1024 * 1024;
  constexpr std::size_t most_unsent_overall = 64 * 1024 * 1024;
  if (stream.unsent_bytes() > most_unsent || GrpcH2Stream::all_unsent_bytes() > most_unsent_overall) {
    return stream.send_status(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "answers not read"));
  }
  stream.send_message(reflection_.answer(request, sent_));
}

void ReflectionHandler::end_of_requests(GrpcH2Stream& stream) { stream.send_status(grpc::Status::OK); }

}  // namespace tnl
