// The clients' TLS context: TLS 1.2 and later, the server's certificate verified against
// --tls-ca (or the system's store) and its name checked (RFC 2818), a client certificate
// for mutual TLS when given.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "tls_options.hpp"

namespace tnl {

/// A context for `tls`; throws std::runtime_error naming a file that cannot be used.
[[nodiscard]] std::shared_ptr<asio::ssl::context> make_client_tls_context(const ClientTls& tls);

/// The name to verify the server's certificate against when connecting to `host`.
[[nodiscard]] inline std::string tls_verify_name(const ClientTls& tls, const std::string& host) {
  return tls.server_name.empty() ? host : tls.server_name;
}

}  // namespace tnl
