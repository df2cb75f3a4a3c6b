// One gRPC client connection: HTTP/2 (Debian's libnghttp2) over a TCP socket, on the event
// loop, after the Asio HTTP server example's `connection`.
//
// Bytes read go through nghttp2_session_mem_recv, whose callbacks feed the streams
// (GrpcH2Stream); what nghttp2 has to send is pulled with nghttp2_session_mem_send into one
// buffer and written at once, non-blocking, as far as the socket takes it (the rest once it
// is writable), so that the bytes the kernel took are always known: a stream is delivered
// once its last byte is among them, and only then (a close gives back the others' locks).
// Bounded: one read buffer; the output pulled only while less than `output_high_water`
// waits (reading pauses meanwhile); at most 100
// streams (SETTINGS_MAX_CONCURRENT_STREAMS, enforced by nghttp2), each holding at most one
// request message; nghttp2's own limits against floods of PINGs, SETTINGS and resets.
// A peer that stops answering PINGs (its host gone) is closed: every stream is cancelled,
// and their locks released, as the lock port's keepalive does for a connection lock.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "grpc_h2_stream.hpp"
#include "grpc_stream_handler.hpp"
#include "io_types.hpp"

namespace tnl {

/// Builds nghttp2's callback table (once) from GrpcH2Connection's callbacks.
struct GrpcH2Callbacks {
  static nghttp2_session_callbacks* make();
};

class GrpcH2Connection : public std::enable_shared_from_this<GrpcH2Connection> {
 public:
  /// Most bytes pulled from nghttp2 and not yet written before pulling (and reading) stops.
  static constexpr std::size_t output_high_water = 64 * 1024;
  /// Streams a client may have open at once.
  static constexpr std::uint32_t max_concurrent_streams = 100;
  /// A PING after this long; no answer within `ping_timeout`: the peer is gone.
  static constexpr std::chrono::seconds ping_interval{10};
  static constexpr std::chrono::seconds ping_timeout{5};

  /// `on_close` runs once, when the connection has closed (the front end forgets it).
  GrpcH2Connection(asio::io_context& io, TcpSocket socket, std::string peer, GrpcMethods& methods,
                   std::function<void(GrpcH2Connection*)> on_close);
  ~GrpcH2Connection();
  GrpcH2Connection(const GrpcH2Connection&) = delete;
  GrpcH2Connection& operator=(const GrpcH2Connection&) = delete;

  /// Sends the server's SETTINGS and starts reading.
  void start();
  /// GOAWAY: no new streams; the connection closes once those open are over.
  void go_away();
  /// Closes at once: every stream still open is cancelled.
  void close();

  /// Stream: it submitted frames; they go out now, or once the bytes being received are.
  void send_soon();
  /// The nghttp2 session (streams submit their frames to it while the connection is open).
  [[nodiscard]] nghttp2_session* session() const { return session_; }

 private:
  friend struct GrpcH2Callbacks;
  // nghttp2's callbacks (user_data: the connection).
  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_length, const std::uint8_t* value, std::size_t value_length, std::uint8_t flags,
                       void* user_data);
  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
  static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t flags, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t length, void* user_data);
  static int on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error_code,
                             void* user_data);
  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);

  /// The stream `id`, or null.
  GrpcH2Stream* stream(std::int32_t id) const;
  /// Reads what the socket has (once it has something), unless reading is paused.
  void read();
  /// A read ended: what it read goes to nghttp2, and the next read starts.
  void on_read(std::error_code error, std::size_t bytes);
  /// Hands what was read to nghttp2 (or closes on an error or EOF), and sends what follows.
  void received(std::error_code error, std::size_t bytes);
  /// Pulls what nghttp2 has to send and writes what the socket takes now (non-blocking),
  /// the rest once it is writable; closes when the session is done.
  void flush();
  void flush_once();
  /// The socket can take more after a write stopped short.
  void on_writable(std::error_code error);
  /// Delivers the streams whose last bytes have now been written.
  void deliver_written();
  /// Arms the keepalive timer: a PING after ping_interval, or the end after ping_timeout.
  void arm_keepalive(std::chrono::seconds after);
  void on_keepalive(std::error_code error);

  asio::io_context& io_;
  TcpSocket socket_;
  const std::string peer_;
  GrpcMethods& methods_;
  std::function<void(GrpcH2Connection*)> on_close_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<GrpcH2Stream>> streams_;
  /// Streams answered and closed, over once the connection has written `at` bytes (0: not
  /// known yet, set at the end of the flush that closed them).
  struct Delivery {
    std::uint64_t at;
    std::shared_ptr<GrpcH2Stream> stream;
  };
  std::deque<Delivery> deliveries_;
  std::array<std::uint8_t, 16 * 1024> input_{};
  std::string output_;   ///< pulled from nghttp2, not taken by the socket yet
  std::uint64_t pulled_ = 0;   ///< bytes pulled from nghttp2 so far
  std::uint64_t written_ = 0;  ///< bytes the socket (the kernel) has taken so far
  SteadyTimer keepalive_;
  bool ping_outstanding_ = false;
  bool receiving_ = false;     ///< inside nghttp2_session_mem_recv
  bool flushing_ = false;      ///< inside flush() (nghttp2_session_mem_send and its callbacks)
  bool flush_again_ = false;   ///< flush() called meanwhile: once more when done
  bool reading_ = false;       ///< a read is in flight
  bool write_in_flight_ = false;  ///< waiting for the socket to take the rest of output_
  bool going_away_ = false;
  bool failed_ = false;        ///< a protocol error: close once what nghttp2 queued is written
  bool closed_ = false;
};

}  // namespace tnl
