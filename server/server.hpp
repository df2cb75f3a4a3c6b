// The lock server: listeners, signal handling and the one event loop that owns all state.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "connection_manager.hpp"
#include "descriptor_reserve.hpp"
#include "http_api.hpp"
#include "http_server.hpp"
#include "io_types.hpp"
#include "local_lock_backend.hpp"
#include "lock_backend.hpp"
#include "lock_store.hpp"
#include "request_handler.hpp"
#include "server_config.hpp"
#include "server_stats.hpp"
#include "state_dir_lock.hpp"
#include "tls_context.hpp"
#include "token_generator.hpp"

namespace tnl {

namespace etcd {
class Client;
}  // namespace etcd
class EtcdLockBackend;
class GrpcFrontEnd;

/// Thrown by Server's constructor when it cannot listen where it was told to.
class BindError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  /// Binds every address `config.listen` resolves to, and the HTTP address; throws BindError
  /// when none can be bound, one is in use, or HTTP would be open to the network without a
  /// token. Puts back the detached locks saved in the state directory.
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves until shut down by SIGINT, SIGTERM or an enabled `.server-shutdown`. SIGHUP
  /// is logged and ignored (it must not kill a lock server whose terminal went away).
  void run();
  /// Stops granting (waiters are withdrawn and get `shutting-down` like everyone), stops
  /// accepting, answers `shutting-down` on every connection and lets them close; run()
  /// returns once they have.
  void shut_down();
  /// The port actually bound (differs from the config's when that was 0).
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// The HTTP port actually bound; 0 when HTTP is off.
  [[nodiscard]] std::uint16_t http_port() const { return http_ ? http_->port() : 0; }
  /// The gRPC port actually bound; 0 when gRPC is off.
  [[nodiscard]] std::uint16_t grpc_port() const;
  /// The TLS lock port actually bound; 0 without one.
  [[nodiscard]] std::uint16_t tls_port() const { return tls_port_; }

 private:
  /// One listening socket, and the timer that paces accepting again after an error.
  struct Listener {
    TcpAcceptor acceptor;
    SteadyTimer retry;
    /// Filled in by each accept: who connected (saves a getpeername per connection).
    asio::ip::tcp::endpoint peer;
    /// Its connections speak TLS (--tls-port).
    bool tls = false;
    explicit Listener(asio::io_context& io) : acceptor(io), retry(io) {}
  };

  /// Listens on every address `config.listen` resolves to, at `port` (TLS or plain); throws BindError.
  void listen_all(std::uint16_t port, bool tls);
  /// Opens, binds and listens on `endpoint`; throws std::system_error.
  void listen(const asio::ip::tcp::endpoint& endpoint, bool v6_only, bool tls);
  void accept(Listener& listener);
  /// Waits for the next signal: SIGHUP is logged and waited past, the others shut down.
  void wait_for_signal();
  /// Starts the HTTP listener; throws BindError.
  void start_http();
  /// Starts the gRPC front end; throws BindError.
  void start_grpc();
  /// The lock backend the server runs with: a LocalLockBackend (kept in local_ for its
  /// setup) or, with --backend etcd, an EtcdLockBackend on an etcd::Client (etcd_client_);
  /// either wrapped for tests as TCPNETLOCK_TEST_DEFER_BACKEND asks.
  std::unique_ptr<LockBackend> make_backend();
  /// Once every connection has closed: stops the loop, after the etcd backend's lease
  /// revocation has ended (bounded), so that its connection keys go at once rather than
  /// when the lease runs out.
  void finish_shut_down();
  /// Writes the port files and tells systemd READY once the backend is available (at once
  /// for the local one; etcd: once the replica's lease is granted), checking every 10 ms
  /// since `since`; until then the listeners accept and requests are refused.
  void announce_when_ready(std::chrono::steady_clock::time_point since);

  const ServerConfig config_;
  /// The certificate and settings of every TLS connection; null without TLS.
  std::unique_ptr<TlsServerContext> tls_;
  /// First, so that the raised limit applies to everything the server opens.
  DescriptorReserve descriptors_;
  /// Before anything in the state directory is read: a second server there refuses to start.
  StateDirLock state_lock_;
  asio::io_context io_;
  asio::signal_set signals_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  TokenGenerator tokens_;
  LockStore store_;
  ServerStats stats_;
  /// The local backend's setup (restore, lock-delay, start grace); owned by backend_; null with etcd.
  LocalLockBackend* local_ = nullptr;
  /// With --backend etcd: the client, which must outlive the backend (declared before it).
  std::unique_ptr<etcd::Client> etcd_client_;
  /// With --backend etcd: the backend (owned by backend_), for shutdown; null otherwise.
  EtcdLockBackend* etcd_ = nullptr;
  /// Every lock operation goes through this (the front ends hold a reference to it).
  std::unique_ptr<LockBackend> backend_;
  ConnectionManager connections_;
  RequestHandler handler_;
  HttpApi api_;
  std::unique_ptr<HttpServer> http_;
  /// Tracker's gRPC API (--grpc); null when off or its default address could not be bound.
  std::unique_ptr<GrpcFrontEnd> grpc_;
  std::uint64_t next_connection_id_ = 1;
  /// Most lock-port connections at once: what the descriptors leave besides HTTP's share.
  std::size_t lock_connection_limit_ = SIZE_MAX;
  /// Refusals at that limit not logged yet, and when they last were.
  std::size_t refused_unlogged_ = 0;
  std::chrono::steady_clock::time_point refusal_logged_{};
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  bool shutting_down_ = false;
  /// Paces finish_shut_down() while the etcd lease is being revoked, and when it gives up.
  SteadyTimer shutdown_timer_{io_};
  /// Paces announce_when_ready().
  SteadyTimer ready_timer_{io_};
  bool backend_wait_logged_ = false;
  std::chrono::steady_clock::time_point shutdown_deadline_{};
};

}  // namespace tnl
