// One HTTP/2 stream of a gRPC connection (GrpcH2Connection): the request's headers and
// messages in, the answer out, on the event loop.
//
// An answer is HEADERS (:status 200), DATA (length-prefixed messages) and trailers
// (grpc-status, grpc-message), or "Trailers-Only" (one HEADERS with the status) when no
// message precedes the status. The bytes of the messages wait in `out_` until nghttp2 asks
// for them (read_data, within the peer's flow-control window). The stream outlives its
// closing for as long as its handler's call holds it; after closing it sends nothing.
#pragma once

#include <nghttp2/nghttp2.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "grpc_call.hpp"
#include "grpc_stream_handler.hpp"
#include "grpc_stream_hold.hpp"
#include "grpc_wire.hpp"
#include "io_types.hpp"

namespace tnl {

class GrpcH2Connection;

class GrpcH2Stream final : public GrpcReply,
                           public GrpcStreamWriter,
                           public std::enable_shared_from_this<GrpcH2Stream> {
 public:
  /// Largest request message taken (a lock request is a few hundred bytes, as HTTP's body).
  static constexpr std::size_t max_message_bytes = 8 * 1024;
  /// Most bytes of header fields per request (as HTTP/2 counts them: name, value, 32);
  /// gRPC's own default limit on metadata.
  static constexpr std::size_t max_header_bytes = 8 * 1024;
  /// Most streams alive in the process, all connections together: each may hold a request's
  /// headers and message (some 24 KiB), and 1,024 connections of 100 streams would be 2.4 GB.
  /// Past it a new stream is refused (RST_STREAM REFUSED_STREAM: the client may retry).
  static constexpr std::size_t max_streams_alive = 16 * 1024;

  /// What the request's headers say, as far as gRPC needs them.
  struct Request {
    std::string method;         ///< :method
    std::string path;           ///< :path, "/package.Service/Method"
    std::string content_type;   ///< content-type
    std::string authorization;  ///< authorization, or empty
    std::string encoding;       ///< grpc-encoding, or empty
    /// When the call's deadline passes (grpc-timeout); max: none.
    std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
  };

  GrpcH2Stream(asio::io_context& io, std::weak_ptr<GrpcH2Connection> connection, std::int32_t id, std::string peer);
  ~GrpcH2Stream() override;
  GrpcH2Stream(const GrpcH2Stream&) = delete;
  GrpcH2Stream& operator=(const GrpcH2Stream&) = delete;

  [[nodiscard]] const Request& request() const { return request_; }
  [[nodiscard]] const std::string& peer() const { return peer_; }
  [[nodiscard]] std::int32_t id() const { return id_; }

  // From the connection (nghttp2's callbacks):
  /// One header field; false when the headers grew past max_header_bytes.
  bool header(std::string_view name, std::string_view value);
  /// The headers are complete: the method's handler is made, or the stream answered.
  void headers_done(GrpcMethods& methods);
  /// A chunk of the request's DATA.
  void data(std::string_view bytes);
  /// The client half-closed its side.
  void end_of_request();
  /// The frame ending the answer (END_STREAM) went out: pulled from nghttp2 to be written.
  void end_sent() { end_sent_ = true; }
  /// The stream closed (`error_code`: HTTP/2's; NO_ERROR once both sides ended it).
  /// Returns whether its answer went out whole (its END_STREAM was sent, whatever closed the
  /// stream afterwards), to be delivered once written. An answer submitted but never sent
  /// (the client reset the stream first, even with NO_ERROR) is not.
  bool closed(std::uint32_t error_code);
  /// The stream is over: its answer was written to the client, or could not be.
  void over(bool delivered);
  /// nghttp2's data source: copies up to `length` bytes of messages into `buffer`.
  ssize_t read_data(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags);

  // The answer (handlers, and GrpcCall / GrpcStreamHold through the interfaces below):
  /// Sends one message (the response HEADERS first, with the first).
  void send_message(const google::protobuf::MessageLite& message);
  /// Ends the stream with `status`; later sends do nothing.
  void send_status(const grpc::Status& status);
  /// Bytes of messages sent but not yet taken by nghttp2 (the client's window is full).
  [[nodiscard]] std::size_t unsent_bytes() const { return out_.size() - out_pos_; }
  /// unsent_bytes() of every stream of the process: what clients that do not read make the
  /// server hold (a stream's own limit alone allows 100 streams per connection, 1024
  /// connections).
  [[nodiscard]] static std::size_t all_unsent_bytes() { return all_unsent_.load(std::memory_order_relaxed); }
  /// Streams alive in the process (open, or closed but held by a call not yet answered).
  [[nodiscard]] static std::size_t alive() { return alive_.load(std::memory_order_relaxed); }
  /// Whether the status was sent (or the stream closed): nothing more goes out.
  [[nodiscard]] bool answered() const { return answered_ || closed_; }

  void send(const grpc::Status& status, const google::protobuf::MessageLite& response) override;
  void write(const google::protobuf::MessageLite& message) override;
  void write_and_finish(const google::protobuf::MessageLite& message, const grpc::Status& status) override;
  void finish(const grpc::Status& status) override;

 private:
  /// The connection, while the stream is open on it (null once closed).
  std::shared_ptr<GrpcH2Connection> open_connection() const;
  /// An HTTP error answer (no gRPC status: not a gRPC request).
  void send_http_error(const char* status);
  /// Submits the response HEADERS with the data source, once.
  void start_response();
  /// Tells nghttp2 the data source has bytes again (after it deferred).
  void resume();
  /// Starts the deadline's timer (once), unless answered or there is none.
  void arm_deadline();
  /// The deadline passed before the stream was answered.
  void deadline_passed();
  /// A closed stream may be the last owner of its handler's call, which may be on the
  /// stack: it is let go on a later turn of the loop.
  void keep_until_later();

  asio::io_context& io_;
  std::weak_ptr<GrpcH2Connection> connection_;
  const std::int32_t id_;
  const std::string peer_;
  Request request_;
  std::size_t header_bytes_ = 0;
  std::unique_ptr<GrpcStreamHandler> handler_;
  grpc_wire::MessageReader reader_{max_message_bytes};
  std::unique_ptr<SteadyTimer> deadline_timer_;
  /// Sum of every stream's unsent_bytes().
  static std::atomic<std::size_t> all_unsent_;
  /// Every GrpcH2Stream alive.
  static std::atomic<std::size_t> alive_;
  /// Framed messages not yet taken by nghttp2, from out_pos_ on.
  std::string out_;
  std::size_t out_pos_ = 0;
  /// The status to send as trailers once out_ is drained.
  std::optional<grpc::Status> status_;
  bool response_started_ = false;
  bool deferred_ = false;
  bool answered_ = false;
  bool end_sent_ = false;  ///< the answer's END_STREAM went out
  bool closed_ = false;
  bool cancelled_ = false;
  bool over_ = false;
};

}  // namespace tnl
