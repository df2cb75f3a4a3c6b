// The socket under a lock-port or HTTP connection: a plain TCP socket, or one carrying a TLS
// session. Plain connections pay one well-predicted branch per operation and a null pointer.
//
// TLS runs through OpenSSL directly on the socket's descriptor (SSL_set_fd), non-blocking,
// rather than through asio::ssl::stream: a lock-port connection waits for readiness without a
// buffer (an idle holder costs no read buffer, connection.hpp), which asio::ssl::stream's
// buffered asynchronous reads cannot do; with SSL_MODE_RELEASE_BUFFERS an idle TLS holder
// keeps no record buffers either. The context is asio::ssl::context (tls_context.hpp).
// SSL_read drives the handshake, so the connection's first-line deadline covers it.
#pragma once

#include <openssl/ssl.h>

#include <asio/buffer.hpp>
#include <asio/post.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "io_types.hpp"

namespace tnl {

class TlsServerContext;

/// One connection's server-side TLS session on a non-blocking descriptor.
class TlsSession {
 public:
  /// `peer` ("address:port") is for the log line of a failed handshake.
  TlsSession(TlsServerContext& context, int fd, std::string peer);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Like recv() on a non-blocking socket: bytes read, or `would_block` (then wait as
  /// waits_for() says), `eof` (the client closed, with or without close_notify), or the
  /// error. Handshakes first when it is not done.
  std::size_t read(void* data, std::size_t size, std::error_code& error);
  /// Like send(); `not_connected` before the handshake is done (nothing to send it with).
  std::size_t write(const void* data, std::size_t size, std::error_code& error);
  /// Sends close_notify, best effort (never waits).
  void shutdown();
  /// Decrypted or received bytes wait in the session: the socket may never be readable for them.
  [[nodiscard]] bool has_pending() const { return ssl_ && SSL_has_pending(ssl_) == 1; }
  /// What to wait for before retrying the last read (`wait` = wait_read) or write that
  /// would have blocked: a handshake may need to write while reading, and the reverse.
  [[nodiscard]] TcpSocket::wait_type waits_for(TcpSocket::wait_type wait) const;
  [[nodiscard]] bool established() const { return established_; }
  /// Who the client certificate names (tls_context.hpp); empty without mutual TLS.
  [[nodiscard]] const std::string& identity() const { return identity_; }
  /// The connection's deadline came before the handshake was done: counted and logged.
  void handshake_timed_out();

 private:
  enum class Want : std::uint8_t { none, read, write };
  /// Maps a failed SSL_read/SSL_write to `error`; records which way it wants to wait in `want`.
  void failed(int result, Want& want, std::error_code& error);
  /// Counts and logs a handshake that did not succeed, once per connection.
  void handshake_failed(std::string_view why, bool quietly);
  void check_established();

  SSL* ssl_;
  TlsServerContext& context_;
  std::string peer_;
  std::string identity_;
  Want read_wants_ = Want::none;
  Want write_wants_ = Want::none;
  bool established_ = false;
  bool failure_reported_ = false;
  bool shut_down_ = false;
};

/// A TCP socket with an optional TLS session, with the operations Connection and
/// HttpConnection use; the plain path forwards to the socket.
class MaybeTlsSocket {
 public:
  using executor_type = Executor;
  using wait_type = TcpSocket::wait_type;
  using shutdown_type = TcpSocket::shutdown_type;
  static constexpr wait_type wait_read = TcpSocket::wait_read;
  static constexpr wait_type wait_write = TcpSocket::wait_write;
  static constexpr shutdown_type shutdown_send = TcpSocket::shutdown_send;

  /// Plain.
  explicit MaybeTlsSocket(TcpSocket socket) : socket_(std::move(socket)) {}
  /// With a server-side TLS session when `tls` is not null.
  MaybeTlsSocket(TcpSocket socket, TlsServerContext* tls, std::string peer);

  /// The TCP socket itself, for socket options.
  TcpSocket& tcp() { return socket_; }
  /// The TLS session, or null for a plain connection.
  [[nodiscard]] TlsSession* tls() const { return tls_.get(); }
  executor_type get_executor() { return socket_.get_executor(); }
  int native_handle() { return socket_.native_handle(); }
  void non_blocking(bool mode, std::error_code& error) { socket_.non_blocking(mode, error); }
  void cancel(std::error_code& error) { socket_.cancel(error); }
  void close(std::error_code& error) { socket_.close(error); }
  /// With TLS, a close_notify goes first when shutting down the sending side.
  void shutdown(shutdown_type what, std::error_code& error) {
    if (tls_ && what != TcpSocket::shutdown_receive) tls_->shutdown();
    socket_.shutdown(what, error);
  }
  /// Non-blocking send of what it can.
  std::size_t send(asio::const_buffer buffer, int flags, std::error_code& error) {
    if (!tls_) return socket_.send(asio::buffer(buffer), flags, error);
    return tls_->write(buffer.data(), buffer.size(), error);
  }
  /// Non-blocking receive of what there is.
  std::size_t receive(asio::mutable_buffer buffer, int flags, std::error_code& error) {
    if (!tls_) return socket_.receive(asio::buffer(buffer), flags, error);
    return tls_->read(buffer.data(), buffer.size(), error);
  }
  /// Waits until receive() or send() can make progress.
  template <class Handler>
  void async_wait(wait_type wait, Handler&& handler) {
    if (tls_) {
      if (wait == wait_read && tls_->has_pending()) {
        asio::post(socket_.get_executor(),
                   [handler = std::forward<Handler>(handler)]() mutable { handler(std::error_code{}); });
        return;
      }
      wait = tls_->waits_for(wait);
    }
    socket_.async_wait(wait, std::forward<Handler>(handler));
  }
  /// Asio's AsyncReadStream (HTTP): reads into the first buffer.
  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (!tls_) return socket_.async_read_some(buffers, std::forward<Handler>(handler));
    tls_read_some(*asio::buffer_sequence_begin(buffers), std::forward<Handler>(handler));
  }
  /// Asio's AsyncWriteStream (HTTP, asio::async_write): writes from the first buffer.
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (!tls_) return socket_.async_write_some(buffers, std::forward<Handler>(handler));
    tls_write_some(*asio::buffer_sequence_begin(buffers), std::forward<Handler>(handler));
  }

 private:
  // Each waits before it tries, so that its handler never runs inside the call.
  template <class Handler>
  void tls_read_some(asio::mutable_buffer buffer, Handler handler) {
    async_wait(wait_read, [this, buffer, handler = std::move(handler)](std::error_code error) mutable {
      std::size_t got = 0;
      if (!error) got = tls_->read(buffer.data(), buffer.size(), error);
      if (error == asio::error::would_block) return tls_read_some(buffer, std::move(handler));
      handler(error, got);
    });
  }
  template <class Handler>
  void tls_write_some(asio::const_buffer buffer, Handler handler) {
    async_wait(wait_write, [this, buffer, handler = std::move(handler)](std::error_code error) mutable {
      std::size_t sent = 0;
      if (!error) sent = tls_->write(buffer.data(), buffer.size(), error);
      if (error == asio::error::would_block) return tls_write_some(buffer, std::move(handler));
      handler(error, sent);
    });
  }

  TcpSocket socket_;
  std::unique_ptr<TlsSession> tls_;
};

}  // namespace tnl
