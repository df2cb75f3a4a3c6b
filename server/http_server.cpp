#include "http_server.hpp"

#include <asio/ip/address.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "socket_options.hpp"

namespace tnl {

namespace {

/// The whole answer to a connection turned away before any of its request is read.
std::string refusal(std::string_view message) {
  HttpResponse response{503, "application/json", nlohmann::json{{"error", message}}.dump(), {{"Retry-After", "1"}}};
  return http_response_text(response, HttpFraming{false, false, 1});
}

/// The deadlines of every connection, from the command line.
HttpConnectionSettings settings_from(const ServerConfig& config) {
  HttpConnectionSettings settings;
  settings.request_timeout = config.http_request_timeout;
  settings.idle_timeout = config.http_idle_timeout;
  settings.write_timeout = config.http_write_timeout;
  return settings;
}

/// The names the API answers to: as configured; with none configured, any for an address
/// open to the network (a token is required there), else IP literals and localhost only.
HttpAllowedHosts allowed_hosts(const ServerConfig& config) {
  if (!config.http_allowed_hosts.empty()) return HttpAllowedHosts(config.http_allowed_hosts);
  std::error_code error;
  const auto address = asio::ip::make_address(config.http_address, error);
  if (!error && !address.is_loopback()) return HttpAllowedHosts({"*"});
  return HttpAllowedHosts();
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpApi& api, DescriptorReserve& reserve, ServerStats& stats,
                       const ServerConfig& config, TlsServerContext* tls)
    : settings_(settings_from(config)),
      max_connections_(config.http_max_connections),
      gate_(api, allowed_hosts(config)),
      connections_([this] {
        if (!acceptor_) return;
        // Full with nothing to evict: newcomers wait in the backlog until there is room.
        if (has_room()) {
          acceptor_->resume();
        } else {
          acceptor_->pause();
        }
      }),
      tls_(tls) {
  acceptor_ = std::make_unique<Acceptor>(
      listen_on(io, config.http_address, config.http_port), reserve, refusal("server out of file descriptors, try again later"),
      [this](TcpSocket socket, const asio::ip::tcp::endpoint& peer) { on_accept(std::move(socket), peer); },
      [&stats, this] {
        ++stats.refused_connection_count;
        spdlog::warn("refused an HTTP connection: out of file descriptors ({} open HTTP connections)",
                     connections_.size());
      },
      [this] { return has_room(); });
  port_ = acceptor_->local_endpoint().port();
  acceptor_->start();
  spdlog::info("HTTP admin API on {}{}", format_endpoint(acceptor_->local_endpoint()), tls_ ? " (TLS)" : "");
}

HttpServer::~HttpServer() { close(); }

void HttpServer::close() {
  acceptor_->close();
  connections_.stop_all();
}

bool HttpServer::has_room() const { return connections_.size() < max_connections_ || connections_.has_evictable(); }

void HttpServer::on_accept(TcpSocket socket, const asio::ip::tcp::endpoint& peer) {
  // Evicted only now that a newcomer needs its place. Nothing to evict happens only when a
  // connection got busy after the acceptor was armed (it then pauses): the newcomer came
  // while there was room, and is let in a little over the limit rather than refused (a
  // client whose pipelined requests keep one connection switching between idle and busy
  // used to get probes refused with 503 this way). Beyond that little, refused.
  if (connections_.size() >= max_connections_ && !connections_.evict_oldest() &&
      connections_.size() >= max_connections_ + overflow_connections) {
    std::error_code ignored;
    socket.non_blocking(true, ignored);
    static const std::string busy = refusal("too many connections");
    if (!tls_) socket.send(asio::buffer(busy), 0, ignored);  // a TLS client could not read it
    socket.close(ignored);
    return;
  }
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  std::string address = format_endpoint(peer);
  MaybeTlsSocket stream(std::move(socket), tls_, address);
  connections_.start(std::make_shared<HttpConnection>(std::move(stream), std::move(address), next_id_++,
                                                      connections_, gate_, settings_));
}

}  // namespace tnl
