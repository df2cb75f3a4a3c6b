// HTTP on the lock server's event loop, after Asio's HTTP server example: an Acceptor that
// survives running out of descriptors, HttpConnections tracked (and evicted at the limit)
// by an HttpConnectionManager, each request checked by HttpRequestGate and answered by
// HttpApi (at once, or once the lock backend has answered: see HttpConnection). The parsing
// is Debian's libhttp-parser.
#pragma once

#include <asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "acceptor.hpp"
#include "descriptor_reserve.hpp"
#include "http_api.hpp"
#include "http_connection.hpp"
#include "http_connection_manager.hpp"
#include "http_request_gate.hpp"
#include "server_config.hpp"
#include "server_stats.hpp"
#include "tls_context.hpp"

namespace tnl {

class HttpServer {
 public:
  /// Binds config.http_address:config.http_port (port 0: any free port) on `io` and starts
  /// accepting; throws std::system_error or std::runtime_error when it cannot. A connection
  /// refused for lack of descriptors is counted in stats.refused_connection_count.
  /// With `tls`, every connection speaks HTTPS.
  HttpServer(asio::io_context& io, HttpApi& api, DescriptorReserve& reserve, ServerStats& stats,
             const ServerConfig& config, TlsServerContext* tls = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The port actually bound.
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Stops accepting and closes every connection (idle keep-alive ones must not hold up a
  /// shutdown).
  void close();

 private:
  /// Whether a new connection can be taken: below the limit, or one may be evicted.
  [[nodiscard]] bool has_room() const;
  /// Takes a new connection, evicting the oldest idle one when at the limit.
  void on_accept(TcpSocket socket, const asio::ip::tcp::endpoint& peer);

  const HttpConnectionSettings settings_;
  /// Connections let in over the limit when room went between arming the acceptor and
  /// accepting (see on_accept).
  static constexpr std::size_t overflow_connections = 8;
  const std::size_t max_connections_;
  HttpRequestGate gate_;
  HttpConnectionManager connections_;
  std::unique_ptr<Acceptor> acceptor_;
  /// Null for plain HTTP.
  TlsServerContext* tls_;
  std::uint64_t next_id_ = 1;
  std::uint16_t port_ = 0;
};

}  // namespace tnl
