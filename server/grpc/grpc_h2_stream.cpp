#include "grpc_h2_stream.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <asio/post.hpp>
#include <cstring>
#include <utility>

#include "grpc_h2_connection.hpp"

namespace tnl {

namespace {

/// A header field for nghttp2 (it copies names and values).
nghttp2_nv field(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

/// The status's header fields: grpc-status and, when there is one, grpc-message (their
/// texts kept here), after the fields given first: no heap but for an error message.
class StatusFields {
 public:
  StatusFields(std::initializer_list<nghttp2_nv> first, const grpc::Status& status) {
    for (const auto& one : first) fields_[size_++] = one;
    const int code = static_cast<int>(status.error_code());  // 0 to 16
    if (code >= 0 && code < 10) {
      code_[0] = static_cast<char>('0' + code);
      code_size_ = 1;
    } else {
      const std::string text = std::to_string(code);
      code_size_ = std::min(text.size(), sizeof code_);
      std::memcpy(code_, text.data(), code_size_);
    }
    fields_[size_++] = field("grpc-status", std::string_view(code_, code_size_));
    if (!status.error_message().empty()) {
      message_ = grpc_wire::percent_encode(status.error_message());
      fields_[size_++] = field("grpc-message", message_);
    }
  }
  StatusFields(const StatusFields&) = delete;
  StatusFields& operator=(const StatusFields&) = delete;

  [[nodiscard]] const nghttp2_nv* data() const { return fields_.data(); }
  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  std::array<nghttp2_nv, 4> fields_{};
  std::size_t size_ = 0;
  char code_[12]{};
  std::size_t code_size_ = 0;
  std::string message_;
};

ssize_t read_stream_data(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                         std::uint32_t* flags, nghttp2_data_source* source, void*) {
  return static_cast<GrpcH2Stream*>(source->ptr)->read_data(buffer, length, flags);
}

}  // namespace

GrpcH2Stream::GrpcH2Stream(asio::io_context& io, std::weak_ptr<GrpcH2Connection> connection, std::int32_t id,
                           std::string peer)
    : io_(io), connection_(std::move(connection)), id_(id), peer_(std::move(peer)) {
  alive_.fetch_add(1, std::memory_order_relaxed);
}

std::atomic<std::size_t> GrpcH2Stream::all_unsent_{0};
std::atomic<std::size_t> GrpcH2Stream::alive_{0};

GrpcH2Stream::~GrpcH2Stream() {
  all_unsent_.fetch_sub(unsent_bytes(), std::memory_order_relaxed);
  alive_.fetch_sub(1, std::memory_order_relaxed);
}

std::shared_ptr<GrpcH2Connection> GrpcH2Stream::open_connection() const {
  if (closed_) return nullptr;
  return connection_.lock();
}

bool GrpcH2Stream::header(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 32;
  if (header_bytes_ > max_header_bytes) return false;
  if (name == ":method") {
    request_.method = value;
  } else if (name == ":path") {
    request_.path = value;
  } else if (name == "content-type") {
    request_.content_type = value;
  } else if (name == "authorization") {
    request_.authorization = value;
  } else if (name == "grpc-encoding") {
    request_.encoding = value;
  } else if (name == "grpc-timeout") {
    // A malformed timeout is ignored, as gRPC's own servers do: no deadline.
    if (const auto timeout = grpc_wire::parse_timeout(value)) {
      const auto now = std::chrono::system_clock::now();
      const auto most = std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::time_point::max() - now);
      request_.deadline =
          now + std::chrono::duration_cast<std::chrono::system_clock::duration>(std::min(*timeout, most));
    }
  }
  return true;
}

void GrpcH2Stream::headers_done(GrpcMethods& methods) {
  if (request_.method != "POST") return send_http_error("405");
  // "application/grpc", "application/grpc+proto", "application/grpc;...": gRPC's; else 415.
  const std::string_view type = request_.content_type;
  if (type.substr(0, 16) != "application/grpc" ||
      (type.size() > 16 && type[16] != '+' && type[16] != ';')) {
    return send_http_error("415");
  }
  handler_ = methods.handler_for(request_.path);
  if (!handler_) return send_status(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + request_.path));
}

void GrpcH2Stream::arm_deadline() {
  if (answered() || deadline_timer_ || request_.deadline == std::chrono::system_clock::time_point::max()) return;
  deadline_timer_ = std::make_unique<SteadyTimer>(io_);
  deadline_timer_->expires_after(request_.deadline - std::chrono::system_clock::now());
  deadline_timer_->async_wait([weak = weak_from_this()](std::error_code error) {
    if (error) return;
    if (auto self = weak.lock()) self->deadline_passed();
  });
}

void GrpcH2Stream::data(std::string_view bytes) {
  if (answered() || !handler_) return;  // answered early (an error): the rest is dropped
  reader_.append(bytes);
  std::string message;
  for (;;) {
    switch (reader_.next(message)) {
      case grpc_wire::MessageReader::Status::incomplete:
        return;
      case grpc_wire::MessageReader::Status::message:
        handler_->message(*this, std::move(message));
        if (answered()) return;
        break;
      case grpc_wire::MessageReader::Status::compressed:
        return send_status(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                        "compressed messages are not accepted (grpc-encoding: identity only)"));
      case grpc_wire::MessageReader::Status::too_large:
        return send_status(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                        "request message larger than " + std::to_string(max_message_bytes) + " bytes"));
    }
  }
}

void GrpcH2Stream::end_of_request() {
  if (answered() || !handler_) return;
  if (reader_.partial()) {
    return send_status(grpc::Status(grpc::StatusCode::INTERNAL, "the stream ended inside a message"));
  }
  handler_->end_of_requests(*this);
  // Most calls are answered at once: a timer only for those still open (waiting, or a
  // stream). A stream whose client never half-closes has none: it lasts until the client
  // resets it or its connection closes (a stream a connection may hold among its 100).
  arm_deadline();
}

bool GrpcH2Stream::closed(std::uint32_t /*error_code*/) {
  if (closed_) return false;
  // Not `error_code`: after our END_STREAM, a reset (ours with NO_ERROR, or the client's)
  // cannot call back the answer already in the output.
  const bool whole = answered_ && end_sent_ && !cancelled_;
  closed_ = true;
  if (deadline_timer_) deadline_timer_->cancel();
  if (!whole && !cancelled_) {
    cancelled_ = true;
    if (handler_) handler_->cancelled();
  }
  return whole;
}

void GrpcH2Stream::over(bool delivered) {
  if (over_) return;
  over_ = true;
  if (handler_) handler_->over(delivered);
}

void GrpcH2Stream::deadline_passed() {
  if (answered()) return;
  cancelled_ = true;
  send_status(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"));
  if (handler_) handler_->cancelled();
}

ssize_t GrpcH2Stream::read_data(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags) {
  const std::size_t n = std::min(length, out_.size() - out_pos_);
  std::memcpy(buffer, out_.data() + out_pos_, n);
  out_pos_ += n;
  all_unsent_.fetch_sub(n, std::memory_order_relaxed);
  if (out_pos_ == out_.size()) {
    // A big backlog drained: its memory goes too (a reflection stream may have held MBs).
    if (out_.capacity() > 64 * 1024) {
      std::string().swap(out_);
    } else {
      out_.clear();
    }
    out_pos_ = 0;
  }
  if (out_.empty()) {
    if (status_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const StatusFields fields({}, *status_);
      if (auto connection = open_connection()) {
        nghttp2_submit_trailer(connection->session(), id_, fields.data(), fields.size());
      }
    } else if (n == 0) {
      deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

void GrpcH2Stream::start_response() {
  if (response_started_) return;
  auto connection = open_connection();
  if (!connection) return;
  response_started_ = true;
  const nghttp2_nv fields[] = {field(":status", "200"), field("content-type", "application/grpc"),
                               field("grpc-accept-encoding", "identity")};
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_stream_data;
  nghttp2_submit_response(connection->session(), id_, fields, std::size(fields), &provider);
}

void GrpcH2Stream::resume() {
  auto connection = open_connection();
  if (!connection) return;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(connection->session(), id_);
  }
  connection->send_soon();
}

void GrpcH2Stream::send_message(const google::protobuf::MessageLite& message) {
  if (answered()) return;
  const std::size_t size = message.ByteSizeLong();
  const std::size_t at = out_.size();
  out_.resize(at + 5 + size);
  auto* bytes = reinterpret_cast<std::uint8_t*>(out_.data() + at);
  bytes[0] = 0;
  bytes[1] = static_cast<std::uint8_t>(size >> 24);
  bytes[2] = static_cast<std::uint8_t>(size >> 16);
  bytes[3] = static_cast<std::uint8_t>(size >> 8);
  bytes[4] = static_cast<std::uint8_t>(size);
  message.SerializeWithCachedSizesToArray(bytes + 5);
  all_unsent_.fetch_add(5 + size, std::memory_order_relaxed);
  start_response();
  resume();
}

void GrpcH2Stream::send_status(const grpc::Status& status) {
  if (answered()) return;
  answered_ = true;
  if (deadline_timer_) deadline_timer_->cancel();
  auto connection = open_connection();
  if (!connection) return;
  if (response_started_) {
    status_ = status;  // sent as trailers once the messages before it are (read_data)
    return resume();
  }
  // Trailers-Only: one HEADERS ending the stream.
  const StatusFields fields({field(":status", "200"), field("content-type", "application/grpc")}, status);
  nghttp2_submit_response(connection->session(), id_, fields.data(), fields.size(), nullptr);
  connection->send_soon();
}

void GrpcH2Stream::send_http_error(const char* status) {
  answered_ = true;
  auto connection = open_connection();
  if (!connection) return;
  const nghttp2_nv fields[] = {field(":status", status)};
  nghttp2_submit_response(connection->session(), id_, fields, std::size(fields), nullptr);
  connection->send_soon();
}

void GrpcH2Stream::keep_until_later() {
  if (closed_) asio::post(io_, [self = shared_from_this()] {});
}

void GrpcH2Stream::send(const grpc::Status& status, const google::protobuf::MessageLite& response) {
  keep_until_later();
  if (status.ok()) send_message(response);
  send_status(status);
}

void GrpcH2Stream::write(const google::protobuf::MessageLite& message) {
  keep_until_later();
  const bool ok = !answered();
  send_message(message);
  asio::post(io_, [self = shared_from_this(), ok] {
    if (self->handler_) self->handler_->write_done(ok && !self->closed_);
  });
}

void GrpcH2Stream::write_and_finish(const google::protobuf::MessageLite& message, const grpc::Status& status) {
  keep_until_later();
  send_message(message);
  send_status(status);
}

void GrpcH2Stream::finish(const grpc::Status& status) {
  keep_until_later();
  send_status(status);
}

}  // namespace tnl
