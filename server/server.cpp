#include "server.hpp"

#include <algorithm>
#include <asio/ip/v6_only.hpp>
#include <cstdio>
#include <fstream>
#include <random>
#include <spdlog/spdlog.h>
#include <system_error>
#include <unistd.h>
#include <fmt/ranges.h>

#include "connection.hpp"
#include "deferring_lock_backend.hpp"
#include "descriptor_budget.hpp"
#include "etcd/etcd_client.hpp"
#include "etcd_lock_backend.hpp"
#include "grpc/grpc_front_end.hpp"
#include "socket_options.hpp"
#include "status_page.hpp"
#include "systemd_notify.hpp"

namespace tnl {

namespace {

using asio::ip::tcp;

/// Errors that mean "this machine has no such address or family", not "in use".
bool is_unavailable_address(const std::error_code& error) {
  return error == asio::error::address_family_not_supported || error == std::errc::address_not_available;
}

/// `path` in the state directory, or empty without one.
std::filesystem::path state_file(const ServerConfig& config, const char* name) {
  return config.state_dir.empty() ? std::filesystem::path{} : std::filesystem::path(config.state_dir) / name;
}

/// How this replica is named in etcd's records and logs: its host name and lock port (with
/// --port 0, the process id instead, since the port is not known yet).
std::string replica_name(const ServerConfig& config) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "%s", "localhost");
  return config.port != 0 ? std::string(host) + ":" + std::to_string(config.port)
                          : std::string(host) + "#" + std::to_string(::getpid());
}

/// Writes `port` to `file` (if set) via a rename, so that a reader never sees a partial number.
void write_port_file(const std::string& file, std::uint16_t port) {
  if (file.empty()) return;
  const std::string temporary = file + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << '\n';
    if (!out) throw std::runtime_error("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), file.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + temporary + " to " + file);
  }
}

}  // namespace

Server::Server(ServerConfig config)
    : config_(std::move(config)),
      state_lock_(config_.state_dir),
      signals_(io_, SIGINT, SIGTERM, SIGHUP),
      tokens_(state_file(config_, "fencing-token")),
      store_(state_file(config_, "locks.sqlite3")),
      backend_(make_backend()),
      connections_(io_),
      handler_(*backend_, stats_, connections_, config_, [this] { shut_down(); }),
      api_(*backend_, stats_, connections_, config_.admin_token, std::string(status_page_html)) {
  if (config_.tls.enabled()) {
    try {
      tls_ = std::make_unique<TlsServerContext>(config_.tls, stats_.tls_handshake_failure_count);
    } catch (const std::exception& e) {
      throw BindError(e.what());
    }
  }
  if (!config_.tls.only) listen_all(config_.port, false);
  if (tls_ && config_.tls.lock_listener) listen_all(config_.tls.port, true);
  if (config_.http_enabled) start_http();

  // Last: once it listens, gRPC's threads may post calls to the loop.
  if (config_.grpc_enabled) start_grpc();

  if (local_ == nullptr) return;  // etcd: no state dir, nothing to restore, no start grace
  local_->set_lock_delay(config_.lock_delay);
  if (const std::size_t restored = local_->restore()) {
    spdlog::warn("{} detached lock(s) held again from {}", restored, config_.state_dir);
  }
  // The server before this one may have ended (killed, crashed, its machine gone) while
  // connections held locks: their holders learn it only when they next hear from the
  // connection, and the lock-delay is how long their commands are given to stop. Nothing is
  // granted for that long, as an NFS server's grace period after a restart.
  if (config_.start_grace > std::chrono::milliseconds::zero()) {
    local_->hold_grants_for(config_.start_grace);
    spdlog::info("start grace: nothing is granted for {} ms (holders of a server before this one may still run)",
                 config_.start_grace.count());
  }
}

Server::~Server() = default;

std::uint16_t Server::grpc_port() const { return grpc_ ? grpc_->port() : 0; }

std::unique_ptr<LockBackend> Server::make_backend() {
  std::unique_ptr<LockBackend> backend;
  if (config_.backend == BackendKind::etcd) {
    etcd::ClientOptions client_options;
    client_options.endpoints = config_.etcd.endpoints;
    etcd_client_ = std::make_unique<etcd::Client>(io_, std::move(client_options));
    EtcdBackendOptions options;
    options.prefix = config_.etcd.prefix;
    options.lease_ttl = config_.etcd.lease_ttl;
    options.distlock_layout = config_.etcd.distlock_layout;
    options.lock_delay = config_.lock_delay;
    options.replica = replica_name(config_);
    spdlog::info("locks in etcd at {} under {} (replica {}, lease TTL {} s, {} layout)",
                 fmt::join(config_.etcd.endpoints, ","), options.prefix, options.replica, options.lease_ttl.count(),
                 options.distlock_layout ? "distlock" : "recipe");
    stats_.backend = "etcd";
    stats_.store = "etcd:";  // completed with etcd's cluster id when it first answers
    auto etcd = std::make_unique<EtcdLockBackend>(io_, *etcd_client_, std::move(options), stats_);
    etcd_ = etcd.get();
    backend = std::move(etcd);
  } else {
    // Random per process: two local servers never share their locks, whatever they are.
    std::random_device random;
    stats_.store = fmt::format("local:{:08x}{:08x}", random(), random());
    auto local = std::make_unique<LocalLockBackend>(io_, store_, stats_, &tokens_);
    local_ = local.get();
    backend = std::move(local);
  }
  // Itself, unless the test-only TCPNETLOCK_TEST_DEFER_BACKEND asks to defer every answer.
  return defer_for_tests(std::move(backend), io_);
}

void Server::listen_all(std::uint16_t port, bool tls) {
  std::error_code error;
  tcp::resolver resolver(io_);
  const auto results = resolver.resolve(config_.listen, std::to_string(port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error) throw BindError("cannot resolve '" + config_.listen + "': " + error.message());

  // `localhost` usually resolves to both ::1 and 127.0.0.1: listen on each, so clients
  // reach us whichever family their resolver tries first.
  std::vector<tcp::endpoint> endpoints;
  for (const auto& result : results) {
    if (std::find(endpoints.begin(), endpoints.end(), result.endpoint()) == endpoints.end()) {
      endpoints.push_back(result.endpoint());
    }
  }
  // An IPv6 wildcard takes IPv4 too, unless an IPv4 address is bound by itself.
  const bool v6_only = std::any_of(endpoints.begin(), endpoints.end(), [](const auto& e) { return e.address().is_v4(); });
  for (auto endpoint : endpoints) {
    std::uint16_t& bound = tls ? tls_port_ : port_;
    if (bound != 0) endpoint.port(bound);  // with port 0, every address gets the same port
    try {
      listen(endpoint, v6_only, tls);
    } catch (const std::system_error& e) {
      if (!is_unavailable_address(e.code()) || endpoints.size() == 1) {
        throw BindError("cannot listen on " + format_endpoint(endpoint) + ": " + e.code().message());
      }
      spdlog::warn("not listening on {}: {}", format_endpoint(endpoint), e.code().message());
    }
  }
  if (std::none_of(listeners_.begin(), listeners_.end(), [tls](const auto& l) { return l->tls == tls; })) throw BindError("no address to listen on for '" + config_.listen + "'");
}

void Server::start_http() {
  std::error_code error;
  const auto address = asio::ip::make_address(config_.http_address, error);
  if (error) throw BindError("--http: '" + config_.http_address + "' is not an IP address");
  if (!address.is_loopback() && config_.admin_token.empty()) {
    throw BindError("refusing to serve HTTP on " + config_.http_address +
                    " without --admin-token-file: anyone on the network could release locks");
  }
  try {
    http_ = std::make_unique<HttpServer>(io_, api_, descriptors_, stats_, config_,
                                         config_.tls.http ? tls_.get() : nullptr);
  } catch (const std::exception& e) {
    const std::string where = config_.http_address + ":" + std::to_string(config_.http_port);
    if (!config_.http_default_address) throw BindError("cannot serve HTTP on " + where + ": " + e.what());
    // Not asked for: a second server on this host must not die of the first one's port.
    spdlog::warn("not serving HTTP: its default address {} cannot be bound ({}); --http ADDRESS:PORT picks another",
                 where, e.what());
    return;
  }
  if (config_.http_default_address && config_.http_port == 0 && port_ == 65535) {
    spdlog::warn("HTTP on {}:{}: the lock port 65535 has no next port", config_.http_address, http_->port());
  }
}

void Server::start_grpc() {
  std::error_code error;
  const auto address = asio::ip::make_address(config_.grpc_address, error);
  if (error) throw BindError("--grpc: '" + config_.grpc_address + "' is not an IP address");
  if (!address.is_loopback() && config_.admin_token.empty()) {
    throw BindError("refusing to serve gRPC on " + config_.grpc_address +
                    " without --admin-token-file: anyone on the network could release locks");
  }
  try {
    grpc_ = std::make_unique<GrpcFrontEnd>(io_, *backend_, descriptors_, config_.grpc_address, config_.grpc_port,
                                           config_.admin_token);
  } catch (const std::exception& e) {
    if (!config_.grpc_default_address) throw BindError("cannot serve gRPC: " + std::string(e.what()));
    // Not asked for: a second server on this host must not die of the first one's port.
    spdlog::warn("not serving gRPC: its default address {}:{} cannot be bound ({}); --grpc ADDRESS:PORT picks another",
                 config_.grpc_address, config_.grpc_port, e.what());
  }
}

void Server::listen(const tcp::endpoint& endpoint, bool v6_only, bool tls) {
  auto listener = std::make_unique<Listener>(io_);
  listener->tls = tls;
  TcpAcceptor& acceptor = listener->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(TcpAcceptor::reuse_address(true));
  if (endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(v6_only));
  acceptor.bind(endpoint);
  configure_listening_socket(acceptor, config_);
  acceptor.listen(asio::socket_base::max_listen_connections);
  (tls ? tls_port_ : port_) = acceptor.local_endpoint().port();
  spdlog::info("listening on {}{}", format_endpoint(acceptor.local_endpoint()), tls ? " (TLS)" : "");
  listeners_.push_back(std::move(listener));
}

void Server::wait_for_signal() {
  signals_.async_wait([this](std::error_code error, int signal) {
    if (error) return;
    if (signal == SIGHUP) {
      // Logs go to stderr, so there is nothing to reopen; a hang-up must not drop every lock.
      spdlog::warn("received SIGHUP: ignored");
      return wait_for_signal();
    }
    spdlog::warn("received signal {}: shutting down", signal);
    shut_down();
  });
}

void Server::run() {
  // Everything but the connections is open now: what is left of the descriptors, less
  // HTTP's share, is the lock port's (descriptor_budget.hpp).
  const std::size_t limit = open_file_limit();
  if (limit > 0) {
    lock_connection_limit_ = lock_connection_limit(limit, open_descriptor_count(),
                                                   http_ ? config_.http_max_connections : 0);
    spdlog::info("lock port: at most {} connections (open-file limit {})", lock_connection_limit_, limit);
  }
  wait_for_signal();
  for (auto& listener : listeners_) accept(*listener);
  announce_when_ready(std::chrono::steady_clock::now());
  io_.run();
  spdlog::info("server stopped");
}

void Server::announce_when_ready(std::chrono::steady_clock::time_point since) {
  if (shutting_down_) return;
  if (!backend_->available()) {
    // etcd: until the replica's lease is granted, every request would be refused.
    if (!backend_wait_logged_ && std::chrono::steady_clock::now() - since >= std::chrono::seconds(5)) {
      backend_wait_logged_ = true;
      spdlog::warn("still waiting for the lock backend (etcd) to be available; requests are refused until then");
    }
    ready_timer_.expires_after(std::chrono::milliseconds(10));
    ready_timer_.async_wait([this, since](std::error_code error) {
      if (!error) announce_when_ready(since);
    });
    return;
  }
  if (port_ != 0) write_port_file(config_.port_file, port_);
  if (tls_port_ != 0) write_port_file(config_.tls.port_file, tls_port_);
  if (http_) write_port_file(config_.http_port_file, http_->port());
  if (grpc_) write_port_file(config_.grpc_port_file, grpc_->port());
  // Every listener has listened since the constructor, and the backend serves: clients may
  // come (Type=notify).
  systemd::notify_ready("serving: lock port " + std::to_string(port_) + ", HTTP " +
                        (http_ ? "port " + std::to_string(http_->port()) : std::string("off")));
}

void Server::shut_down() {
  if (shutting_down_) return;
  shutting_down_ = true;
  systemd::notify_stopping("shutting down: connections are closing");
  std::error_code ignored;
  signals_.cancel(ignored);
  ready_timer_.cancel();
  for (auto& listener : listeners_) {
    listener->acceptor.close(ignored);
    listener->retry.cancel();
  }
  // Before any connection is told: closing a holder's connection frees its lock, which must
  // not pass to a waiter that is about to be told `shutting-down` too.
  // Before the backend: what it answers `unavailable` from now on is the shutdown's.
  handler_.shutting_down();
  api_.shutting_down();  // /readyz answers 503 while connections drain
  // gRPC calls are answered UNAVAILABLE from now on, until it stops with HTTP below.
  if (grpc_) grpc_->refuse_calls();
  backend_->shut_down();
  // Their locks released only now, so that none passes to a waiter.
  if (grpc_) grpc_->end_streams();
  // Each connection flushes `shutting-down` and closes within its linger time. Then HTTP
  // stops too, and the loop with it, so that an idle keep-alive client cannot hold us up.
  connections_.shut_down_all([this] {
    if (http_) http_->close();
    // GOAWAY, and each connection closes once written (finish_shut_down waits for it).
    if (grpc_) grpc_->shut_down();
    // The etcd lease's revocation is bounded by the client's call deadline; a little more here.
    shutdown_deadline_ = std::chrono::steady_clock::now() + etcd::ClientOptions{}.call_timeout * 2;
    finish_shut_down();
  });
}

void Server::finish_shut_down() {
  // gRPC's connections close within their own deadline (GrpcFrontEnd::shut_down).
  const bool grpc_running = grpc_ && !grpc_->stopped();
  if (grpc_running || (etcd_ != nullptr && etcd_->revoking() && std::chrono::steady_clock::now() < shutdown_deadline_)) {
    shutdown_timer_.expires_after(std::chrono::milliseconds(10));
    shutdown_timer_.async_wait([this](std::error_code error) {
      if (!error) finish_shut_down();
    });
    return;
  }
  if (etcd_ != nullptr && etcd_->revoking()) {
    spdlog::warn("etcd did not confirm the lease's revocation in time: this replica's keys go when it runs out");
  }
  io_.stop();
}

void Server::accept(Listener& listener) {
  listener.acceptor.async_accept(listener.peer, [this, &listener](std::error_code error, TcpSocket socket) {
    if (shutting_down_) return;
    if (error) {
      if (error == asio::error::operation_aborted) return;
      if (error == asio::error::no_descriptors || error == std::errc::too_many_files_open_in_system) {
        // Refuse the waiting client in words, then go on accepting: each refusal takes one
        // pending connection off the queue, so this never spins. Linux reports EMFILE
        // before it looks at the queue, so there may be nobody to refuse yet: then wait
        // for the next connection rather than poll.
        switch (descriptors_.refuse_one(listener.acceptor.native_handle(), answer::out_of_descriptors)) {
          case DescriptorReserve::Refusal::refused:
            ++stats_.refused_connection_count;
            spdlog::warn("refused a connection: out of file descriptors ({} open connections)", connections_.size());
            return accept(listener);
          case DescriptorReserve::Refusal::nothing_pending:
            return listener.acceptor.async_wait(TcpAcceptor::wait_read, [this, &listener](std::error_code wait_error) {
              if (!wait_error && !shutting_down_) accept(listener);
            });
          case DescriptorReserve::Refusal::failed:
            break;
        }
      }
      // Anything else: pause instead of spinning on a connection we cannot take.
      spdlog::error("accept failed: {}; retrying shortly", error.message());
      listener.retry.expires_after(std::chrono::milliseconds(100));
      listener.retry.async_wait([this, &listener](std::error_code wait_error) {
        if (!wait_error && !shutting_down_) accept(listener);
      });
      return;
    }
    if (connections_.size() >= lock_connection_limit_ && !connections_.reclaim_oldest()) {
      // Every connection holds, waits or is being answered, and the rest of the descriptors
      // is HTTP's (so that the probes are answered): refused in words, as when there are
      // none left.
      std::error_code ignored;
      socket.non_blocking(true, ignored);
      const std::string refusal = std::string{answer::out_of_descriptors} + "\n";
      socket.send(asio::buffer(refusal), 0, ignored);
      socket.close(ignored);
      ++stats_.refused_connection_count;
      // Once a second at most: a flood of refusals must not become a flood of log lines.
      const auto now = std::chrono::steady_clock::now();
      ++refused_unlogged_;
      if (now - refusal_logged_ >= std::chrono::seconds(1)) {
        spdlog::warn("refused {} connection(s): the lock port has its most connections ({})", refused_unlogged_,
                     lock_connection_limit_);
        refusal_logged_ = now;
        refused_unlogged_ = 0;
      }
      return accept(listener);
    }
    std::string peer = format_endpoint(listener.peer);
    MaybeTlsSocket stream(std::move(socket), listener.tls ? tls_.get() : nullptr, peer);
    connections_.start(std::make_shared<Connection>(std::move(stream), std::move(peer), next_connection_id_++,
                                                    connections_, handler_));
    accept(listener);
  });
}

}  // namespace tnl
