#include "grpc_h2_connection.hpp"

#include <spdlog/spdlog.h>

#include <asio/post.hpp>

#include <string_view>

namespace tnl {

namespace {

GrpcH2Connection& self_of(void* user_data) { return *static_cast<GrpcH2Connection*>(user_data); }

std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace

GrpcH2Connection::GrpcH2Connection(asio::io_context& io, TcpSocket socket, std::string peer, GrpcMethods& methods,
                                   std::function<void(GrpcH2Connection*)> on_close)
    : io_(io),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      methods_(methods),
      on_close_(std::move(on_close)),
      keepalive_(io) {
  // Writes are tried at once and, when the socket is full, again once it says it is ready.
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
}

GrpcH2Connection::~GrpcH2Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

void GrpcH2Connection::start() {
  static nghttp2_session_callbacks* const shared = GrpcH2Callbacks::make();
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Closed streams are kept only for HTTP/2's priority tree, which gRPC does not use.
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_session_server_new2(&session_, shared, this, option);
  nghttp2_option_del(option);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(GrpcH2Stream::max_header_bytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  arm_keepalive(ping_interval);
  flush();
  read();
}

void GrpcH2Connection::go_away() {
  if (closed_ || going_away_) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  flush();
}

void GrpcH2Connection::close() {
  if (closed_) return;
  closed_ = true;
  std::error_code ignored;
  keepalive_.cancel();
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
  // Every stream open, or closed but not written whole, is over undelivered.
  auto deliveries = std::move(deliveries_);
  auto streams = std::move(streams_);
  for (auto& delivery : deliveries) delivery.stream->over(false);
  for (auto& [id, stream] : streams) {
    stream->closed(NGHTTP2_CANCEL);
    stream->over(false);
  }
  if (on_close_) std::exchange(on_close_, nullptr)(this);
}

void GrpcH2Connection::send_soon() {
  flush();  // does nothing while receiving: received() flushes once nghttp2 has the bytes
}

GrpcH2Stream* GrpcH2Connection::stream(std::int32_t id) const {
  const auto found = streams_.find(id);
  return found == streams_.end() ? nullptr : found->second.get();
}

void GrpcH2Connection::read() {
  if (closed_ || reading_ || failed_) return;
  // The client does not take what it asked for: no more requests from it until it does.
  if (write_in_flight_ && output_.size() >= output_high_water) return;
  reading_ = true;
  // Asio tries the read at once unless its last one found the socket empty (Asio 1.22: after
  // any read that got bytes, so one that finds nothing when the client has not sent its next
  // request yet), and otherwise waits for epoll's next edge: the socket stays registered for
  // input. A wait for readability (async_wait) re-armed it with epoll_ctl at every read
  // instead, as costly here as that empty read, and took a trip through epoll even when
  // the next request was already there.
  socket_.async_read_some(asio::buffer(input_), [self = shared_from_this()](std::error_code error, std::size_t bytes) {
    self->reading_ = false;
    self->on_read(error, bytes);
  });
}

void GrpcH2Connection::on_read(std::error_code error, std::size_t bytes) {
  if (closed_) return;
  received(error, bytes);
  read();
}

void GrpcH2Connection::received(std::error_code error, std::size_t bytes) {
  if (error) {
    if (error != asio::error::eof && error != asio::error::operation_aborted) {
      spdlog::debug("gRPC connection from {}: {}", peer_, error.message());
    }
    return close();
  }
  receiving_ = true;
  const ssize_t taken = nghttp2_session_mem_recv(session_, input_.data(), bytes);
  receiving_ = false;
  if (taken < 0) {
    // nghttp2 queued a GOAWAY for most protocol errors: it goes out, then the connection closes.
    spdlog::info("gRPC connection from {} closed: {}", peer_, nghttp2_strerror(static_cast<int>(taken)));
    failed_ = true;
  }
  flush();
}

void GrpcH2Connection::flush() {
  if (closed_ || receiving_) return;
  // Not within itself: nghttp2_session_mem_send is not reentrant, and its callbacks (a
  // stream closed as its RST_STREAM goes out) can release a lock whose next holder, on
  // this connection, is answered at once. Pulled by the flush under way instead.
  if (flushing_) {
    flush_again_ = true;
    return;
  }
  flushing_ = true;
  do {
    flush_again_ = false;
    flush_once();
  } while (flush_again_ && !closed_);
  flushing_ = false;
}

void GrpcH2Connection::flush_once() {
  for (;;) {
    while (output_.size() < output_high_water) {
      const std::uint8_t* data = nullptr;
      const ssize_t size = nghttp2_session_mem_send(session_, &data);
      if (size < 0) {
        spdlog::info("gRPC connection from {} closed: {}", peer_, nghttp2_strerror(static_cast<int>(size)));
        return close();
      }
      if (size == 0) break;
      output_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
      pulled_ += static_cast<std::uint64_t>(size);
    }
    // Streams closed in that flush are delivered once everything pulled so far is written.
    for (auto it = deliveries_.rbegin(); it != deliveries_.rend() && it->at == 0; ++it) it->at = pulled_;
    if (write_in_flight_) return;  // output_ goes on once the socket is writable
    if (output_.empty()) break;
    // Written at once, as far as the socket takes it (non-blocking): written_ is then always
    // what the kernel has taken, which reaches the client even if the connection closes
    // now. (An asynchronous write may have put bytes in the kernel that its completion,
    // not run yet, would tell: a close meanwhile took answers already sent for undelivered,
    // and gave back locks whose callers read OK.)
    std::error_code error;
    const std::size_t bytes = socket_.write_some(asio::buffer(output_), error);
    if (error && error != asio::error::would_block && error != asio::error::try_again) {
      spdlog::debug("gRPC connection from {}: writing: {}", peer_, error.message());
      return close();
    }
    written_ += bytes;
    output_.erase(0, bytes);
    deliver_written();
    // A stream over may have released a lock, and its next holder's answer flushed here.
    if (closed_ || write_in_flight_) return;
    if (!output_.empty()) {
      // The socket is full: the rest once it can take more.
      write_in_flight_ = true;
      socket_.async_wait(TcpSocket::wait_write, [self = shared_from_this()](std::error_code error) {
        self->on_writable(error);
      });
      return;
    }
  }
  deliver_written();
  const bool done = failed_ || (going_away_ && streams_.empty()) ||
                    (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0);
  if (done) close();
}

void GrpcH2Connection::on_writable(std::error_code error) {
  write_in_flight_ = false;
  if (closed_) return;
  if (error) {
    spdlog::debug("gRPC connection from {}: writing: {}", peer_, error.message());
    return close();
  }
  flush();
  if (closed_) return;
  read();
}

void GrpcH2Connection::deliver_written() {
  while (!deliveries_.empty() && deliveries_.front().at != 0 && deliveries_.front().at <= written_) {
    auto stream = std::move(deliveries_.front().stream);
    deliveries_.pop_front();
    stream->over(true);
  }
}

void GrpcH2Connection::arm_keepalive(std::chrono::seconds after) {
  keepalive_.expires_after(after);
  keepalive_.async_wait([weak = weak_from_this()](std::error_code error) {
    if (error) return;
    if (auto self = weak.lock()) self->on_keepalive(error);
  });
}

void GrpcH2Connection::on_keepalive(std::error_code) {
  if (closed_) return;
  if (ping_outstanding_) {
    spdlog::info("gRPC connection from {} closed: no answer to a PING in {} s", peer_, ping_timeout.count());
    return close();
  }
  ping_outstanding_ = true;
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  arm_keepalive(ping_timeout);
  flush();
}

int GrpcH2Connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto& self = self_of(user_data);
  if (GrpcH2Stream::alive() >= GrpcH2Stream::max_streams_alive) {
    // Not made: its headers and data find no stream and are dropped.
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  auto stream = std::make_shared<GrpcH2Stream>(self.io_, self.weak_from_this(), frame->hd.stream_id, self.peer_);
  self.streams_.emplace(frame->hd.stream_id, std::move(stream));
  return 0;
}

int GrpcH2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                                std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                                std::uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  GrpcH2Stream* stream = self_of(user_data).stream(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // the client's trailers: nothing gRPC needs
  // Past the limit: the stream is reset (RST_STREAM), the connection goes on.
  if (!stream->header(text(name, name_length), text(value, value_length))) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return 0;
}

int GrpcH2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  auto& self = self_of(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && self.ping_outstanding_) {
        self.ping_outstanding_ = false;
        self.arm_keepalive(ping_interval);
      }
      return 0;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA: {
      // Held by a copy: a stream's handler may end it (and the connection forget it) here.
      const auto found = self.streams_.find(frame->hd.stream_id);
      if (found == self.streams_.end()) return 0;
      const auto stream = found->second;
      if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        stream->headers_done(self.methods_);
      }
      if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) stream->end_of_request();
      return 0;
    }
    default:
      return 0;
  }
}

int GrpcH2Connection::on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                                         const std::uint8_t* data, std::size_t length, void* user_data) {
  auto& self = self_of(user_data);
  const auto found = self.streams_.find(stream_id);
  if (found == self.streams_.end()) return 0;
  const auto stream = found->second;
  stream->data(text(data, length));
  return 0;
}

int GrpcH2Connection::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                                      void* user_data) {
  auto& self = self_of(user_data);
  const auto found = self.streams_.find(stream_id);
  if (found == self.streams_.end()) return 0;
  auto stream = std::move(found->second);
  self.streams_.erase(found);
  if (stream->closed(error_code)) {
    self.deliveries_.push_back(Delivery{0, std::move(stream)});  // once its last bytes are written
  } else {
    stream->over(false);
  }
  return 0;
}


/// The stream learns that its answer's last frame went out (is in the output, to be
/// written): only then can its answer reach the client whole. A stream whose answer ended
/// while the client still sends is reset with NO_ERROR (as RFC 9113 8.1 allows), so that it
/// closes instead of waiting for the client.
int GrpcH2Connection::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    if (GrpcH2Stream* stream = self_of(user_data).stream(frame->hd.stream_id)) stream->end_sent();
    if (nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
  }
  return 0;
}

nghttp2_session_callbacks* GrpcH2Callbacks::make() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, GrpcH2Connection::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, GrpcH2Connection::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, GrpcH2Connection::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, GrpcH2Connection::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, GrpcH2Connection::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, GrpcH2Connection::on_frame_send);
  return callbacks;
}

}  // namespace tnl
