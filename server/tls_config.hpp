// TLS settings of tcpnetlock_server (docs/TLS.md): one certificate for the lock port's TLS
// listener and, optionally, for HTTP; with a client CA, mutual TLS.
#pragma once

#include <cstdint>
#include <string>

namespace tnl {

struct TlsConfig {
  /// PEM certificate, followed by its chain; empty: no TLS.
  std::string cert_file;
  /// PEM private key of cert_file.
  std::string key_file;
  /// PEM CA certificates: when set, every TLS client must present a certificate they issued
  /// (mutual TLS), and its subject CN (or first SAN) names the holder: `CN@address:port`.
  std::string client_ca_file;
  /// Port of the TLS lock listener, on the --listen addresses (next to the plain --port, as
  /// Consul's `https` port is next to `http`); 0 picks a free one; unset: none.
  bool lock_listener = false;
  std::uint16_t port = 0;
  /// No plain lock listener: every lock client must come over TLS (--tls-only). Without it
  /// the plain --port stays open next to the TLS one, and mutual TLS can be bypassed there.
  bool only = false;
  /// When set, the bound TLS port is written here (atomically) once listening.
  std::string port_file;
  /// Serve the HTTP admin API over TLS (https) with the same certificate.
  bool http = false;

  /// Whether anything is served over TLS.
  [[nodiscard]] bool enabled() const { return !cert_file.empty(); }
};

}  // namespace tnl
