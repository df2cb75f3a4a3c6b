// Settings of one tcpnetlock_server, filled from the command line, environment and config file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol.hpp"
#include "tls_config.hpp"

namespace tnl {

/// TCP keepalive probing of every connection; a count of 0 disables it.
struct TcpKeepalive {
  std::chrono::seconds idle{10};     ///< silence before the first probe
  std::chrono::seconds interval{5};  ///< between unanswered probes
  int count = 3;                     ///< unanswered probes before the connection is dropped

  [[nodiscard]] bool enabled() const { return count > 0; }
  /// When a vanished peer is given up on: 25 s with the defaults, within the 30 s promised.
  [[nodiscard]] std::chrono::milliseconds give_up_after() const { return idle + interval * count; }
  /// The earliest a connection is given up on after its peer went silent, whatever its own
  /// spread schedule (spread_keepalive: it ends on a whole probe round, so within one
  /// interval of give_up_after()); zero when keepalive is off.
  [[nodiscard]] std::chrono::milliseconds earliest_give_up() const {
    return enabled() ? give_up_after() - interval + std::chrono::seconds(1) : std::chrono::milliseconds::zero();
  }
};

/// Where the locks are kept (--backend).
enum class BackendKind : std::uint8_t {
  local,  ///< this process's memory (and --state-dir): one server is the whole system
  etcd,   ///< an etcd cluster that any number of replicas share (EtcdConfig)
};

/// The etcd backend's settings (--etcd-*); used only with BackendKind::etcd.
struct EtcdConfig {
  /// "host:port" of each member, in the order given (--etcd-endpoints, without http://).
  std::vector<std::string> endpoints;
  /// The realm: every key of this server's locks starts with it; always ends with '/'.
  std::string prefix = "/tcpnetlock/";
  /// TTL of the replica's one lease: how long its connection locks outlive it when it dies.
  std::chrono::seconds lease_ttl{10};
  /// --etcd-layout as given: "recipe", "distlock" or "auto".
  std::string layout = "auto";
  /// Whether the realm's distlock names are kept as distlock keeps them (--etcd-layout
  /// resolved against the prefix: auto is distlock for exactly "/distlock/").
  bool distlock_layout = false;
};

struct ServerConfig {
  /// Host name or address to listen on; every address it resolves to is bound.
  std::string listen = "localhost";
  /// TCP port; 0 picks a free one (see port_file).
  std::uint16_t port = default_port;
  /// When set, the bound port is written here (atomically) once the server listens.
  std::string port_file;
  /// Longest request line accepted, in bytes, not counting "\n" or "\r\n".
  std::size_t max_line_length = default_max_line_length;
  /// A connection that sends no complete first line within this time is closed; 0 disables.
  std::chrono::milliseconds first_line_timeout{30'000};
  /// An answer the client does not take within this time (its receive buffer stays full)
  /// gets the connection cut with an RST; a holder loses its lock. Also bounds how long a
  /// closing connection may take to flush its last answer (a long `.locks`).
  std::chrono::milliseconds write_timeout{10'000};
  /// Once its last answer is written, how long a closing connection waits for the client
  /// to close its end before it closes anyway.
  std::chrono::milliseconds linger_timeout{2'000};
  /// Whether `.server-shutdown` from any client stops the server.
  bool allow_remote_shutdown = false;
  /// Dead-peer detection on every connection.
  TcpKeepalive tcp_keepalive;
  /// A holder that sends no line for this long loses its lock; 0 disables (the default).
  std::chrono::milliseconds holder_timeout{0};
  /// After the server takes a connection's lock away without its consent (holder timeout,
  /// peer unreachable, answers not read, a forced release), nobody is granted that slot
  /// for this long; 0: granted at once (the default, as tcpnetlock; see docs/PROTOCOL.md).
  std::chrono::milliseconds lock_delay{0};
  /// Nothing is granted for this long after start (waiters queue): the holders of a server
  /// that ended without releasing (killed, crashed, its machine gone) may still run. Unless
  /// --start-grace says otherwise, default_start_grace().
  std::chrono::milliseconds start_grace{0};

  /// What a silent holder of the server before could still count on, as an NFS server's
  /// grace period is its lease time: the least time this server waits before taking the
  /// lock of a holder it no longer hears from (its holder timeout or keepalive give-up, the
  /// shorter), plus the lock-delay. Zero without a lock-delay (tcpnetlock's behaviour).
  [[nodiscard]] std::chrono::milliseconds default_start_grace() const {
    if (lock_delay <= std::chrono::milliseconds::zero()) return std::chrono::milliseconds::zero();
    std::chrono::milliseconds silent = tcp_keepalive.earliest_give_up();
    if (holder_timeout > std::chrono::milliseconds::zero() &&
        (silent == std::chrono::milliseconds::zero() || holder_timeout < silent)) {
      silent = holder_timeout;
    }
    return silent + lock_delay;
  }
  /// Where state that must survive a restart is kept (detached locks, the fencing token
  /// mark); empty: none. Local backend only (etcd keeps its detached locks itself).
  std::string state_dir;
  /// Where the locks are kept; etcd's settings.
  BackendKind backend = BackendKind::local;
  EtcdConfig etcd;
  /// Serve the HTTP admin API (docs/HTTP-API.md) at http_address:http_port.
  bool http_enabled = true;
  std::string http_address = "127.0.0.1";
  /// 0 picks a free one (see http_port_file).
  std::uint16_t http_port = 7655;
  /// Whether http_address:http_port is the default (no --http anywhere) rather than asked for:
  /// a default that cannot be bound is only warned about, so that two servers share a host.
  bool http_default_address = false;
  /// When set, the bound HTTP port is written here (atomically) once the server listens.
  std::string http_port_file;
  /// Serve Tracker's gRPC API (docs/GRPC.md) at grpc_address:grpc_port.
  bool grpc_enabled = true;
  std::string grpc_address = "127.0.0.1";
  /// 0 picks a free one (see grpc_port_file).
  std::uint16_t grpc_port = 7656;
  /// Whether grpc_address:grpc_port is the default (no --grpc anywhere): a default that
  /// cannot be bound is only warned about, as HTTP's.
  bool grpc_default_address = false;
  /// When set, the bound gRPC port is written here (atomically) once the server listens.
  std::string grpc_port_file;
  /// Bearer token that creating, renewing and releasing locks over HTTP needs; empty: none
  /// (then HTTP may only listen on a loopback address).
  std::string admin_token;
  /// Host names HTTP requests may be addressed to besides IP literals and `localhost`;
  /// "*": any. Empty: none for a loopback http_address, any otherwise (see docs/HTTP-API.md).
  std::vector<std::string> http_allowed_hosts;
  /// From a request's first byte to its last; also from accepting a connection to its first request.
  std::chrono::milliseconds http_request_timeout{5'000};
  /// A keep-alive connection with no request for this long is closed.
  std::chrono::milliseconds http_idle_timeout{30'000};
  /// An answer the client does not take within this time ends its connection.
  std::chrono::milliseconds http_write_timeout{10'000};
  /// Open HTTP connections at most; a new one beyond evicts the longest idle.
  std::size_t http_max_connections = 256;
  /// TLS on a second lock port and on HTTP (docs/TLS.md); off unless a certificate is given.
  TlsConfig tls;
};

}  // namespace tnl
