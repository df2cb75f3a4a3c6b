#include "tls_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <spdlog/spdlog.h>

#include "tls_context.hpp"

namespace tnl {

TlsSession::TlsSession(TlsServerContext& context, int fd, std::string peer)
    : ssl_(SSL_new(context.native())), context_(context), peer_(std::move(peer)) {
  if (ssl_ && SSL_set_fd(ssl_, fd) == 1) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_free(ssl_);  // null-safe
    ssl_ = nullptr;  // every operation fails: the connection ends at its first read
  }
  ERR_clear_error();
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TcpSocket::wait_type TlsSession::waits_for(TcpSocket::wait_type wait) const {
  const Want want = wait == TcpSocket::wait_read ? read_wants_ : write_wants_;
  if (want == Want::read) return TcpSocket::wait_read;
  if (want == Want::write) return TcpSocket::wait_write;
  return wait;
}

void TlsSession::check_established() {
  if (established_ || !SSL_is_init_finished(ssl_)) return;
  established_ = true;
  // TLS 1.3 without tickets: the server sends nothing after the client's Finished, so its
  // ACK would wait the delayed-ACK time, and a client with Nagle on (no TCP_NODELAY) would
  // hold its first request back as long (40 ms). Acknowledge at once.
  const int on = 1;
  ::setsockopt(SSL_get_fd(ssl_), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
  if (context_.requires_client_cert()) {
    X509* certificate = SSL_get1_peer_certificate(ssl_);
    identity_ = certificate_identity(certificate);
    X509_free(certificate);
  }
  spdlog::debug("TLS from {}: {} {}{}{}", peer_, SSL_get_version(ssl_), SSL_get_cipher_name(ssl_),
                identity_.empty() ? "" : ", client ", identity_);
}

std::size_t TlsSession::read(void* data, std::size_t size, std::error_code& error) {
  error.clear();
  if (!ssl_) {
    error = asio::error::no_memory;
    return 0;
  }
  ERR_clear_error();
  const int result = SSL_read(ssl_, data, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  check_established();
  if (result > 0) {
    read_wants_ = Want::none;
    return static_cast<std::size_t>(result);
  }
  failed(result, read_wants_, error);
  return 0;
}

std::size_t TlsSession::write(const void* data, std::size_t size, std::error_code& error) {
  error.clear();
  if (!ssl_ || !established_ || shut_down_) {
    error = asio::error::not_connected;
    return 0;
  }
  if (size == 0) return 0;
  ERR_clear_error();
  const int result = SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
  if (result > 0) {
    write_wants_ = Want::none;
    return static_cast<std::size_t>(result);
  }
  failed(result, write_wants_, error);
  return 0;
}

void TlsSession::failed(int result, Want& want, std::error_code& error) {
  const int code = SSL_get_error(ssl_, result);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      want = Want::read;
      error = asio::error::would_block;
      return;
    case SSL_ERROR_WANT_WRITE:
      want = Want::write;
      error = asio::error::would_block;
      return;
    case SSL_ERROR_ZERO_RETURN:
      error = asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      // errno 0: the peer closed (SSL_OP_IGNORE_UNEXPECTED_EOF turns most of these into ZERO_RETURN).
      error = errno != 0 ? std::error_code(errno, asio::error::get_system_category())
                         : std::error_code(asio::error::eof);
      break;
    default: {
      const unsigned long reason = ERR_peek_last_error();
      error = reason != 0 ? std::error_code(static_cast<int>(reason), asio::error::get_ssl_category())
                          : std::error_code(asio::error::connection_aborted);
      break;
    }
  }
  ERR_clear_error();
  // A client that connects and leaves (a TCP health check, a port scan) is no TLS failure.
  if (!established_) handshake_failed(error.message(), error == asio::error::eof);
}

void TlsSession::handshake_failed(std::string_view why, bool quietly) {
  if (failure_reported_) return;
  failure_reported_ = true;
  if (quietly) {
    spdlog::debug("TLS from {}: closed before the handshake", peer_);
    return;
  }
  ++context_.handshake_failures;
  spdlog::info("TLS handshake with {} failed: {}", peer_, why);
}

void TlsSession::handshake_timed_out() { handshake_failed("not done in time", false); }

void TlsSession::shutdown() {
  if (!ssl_ || !established_ || shut_down_) return;
  shut_down_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes close_notify if the socket takes it; never waits for the client's
  ERR_clear_error();
}

MaybeTlsSocket::MaybeTlsSocket(TcpSocket socket, TlsServerContext* tls, std::string peer)
    : socket_(std::move(socket)) {
  if (tls) tls_ = std::make_unique<TlsSession>(*tls, socket_.native_handle(), std::move(peer));
}

}  // namespace tnl
