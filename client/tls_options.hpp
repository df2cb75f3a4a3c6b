// The TLS options every client program shares (docs/TLS.md): --tls, --tls-ca, --tls-cert,
// --tls-key, --tls-server-name. One call from each program's option setup adds them; what
// they say is kept for the whole process (client_tls()), where LockClient::connect and
// tcpnetlock_admin's HTTP client find it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace tnl {

/// How the client programs speak TLS.
struct ClientTls {
  /// Speak TLS to the server (for tcpnetlock_admin: an http:// URL becomes https://).
  bool enabled = false;
  /// PEM CA certificates the server's must chain to; empty: the system's store.
  std::string ca_file;
  /// PEM client certificate (and chain) and its key, for servers that require one.
  std::string cert_file;
  std::string key_file;
  /// The name the server's certificate must carry (and SNI); empty: the host connected to.
  std::string server_name;
};

/// This process's TLS settings (set by the options below, or by a test).
ClientTls& client_tls();

/// Adds the TLS options to `app`; they fill client_tls(). Any of --tls-ca, --tls-cert or
/// --tls-server-name implies --tls.
void add_client_tls_options(CLI::App& app);

}  // namespace tnl
