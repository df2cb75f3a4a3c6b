// The server's TLS context (asio::ssl::context over OpenSSL): certificate and key, TLS 1.2
// and later only, Mozilla's "intermediate" ciphers for TLS 1.2 (OpenSSL's defaults for
// 1.3), and with a client CA, a client certificate required and verified.
#pragma once

#include <asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "tls_config.hpp"

namespace tnl {

class TlsServerContext {
 public:
  /// Loads the files of `config`; throws std::runtime_error naming the file that fails.
  /// Failed handshakes are counted in `handshake_failures` (the server's statistics).
  TlsServerContext(const TlsConfig& config, std::uint64_t& handshake_failures);

  /// The OpenSSL context each connection's session is made from.
  [[nodiscard]] SSL_CTX* native() { return context_.native_handle(); }
  /// Whether clients must present a certificate (mutual TLS).
  [[nodiscard]] bool requires_client_cert() const { return mutual_; }
  /// Handshakes that failed or did not finish in time, on every TLS listener.
  std::uint64_t& handshake_failures;

 private:
  asio::ssl::context context_;
  bool mutual_ = false;
};

/// Who presented `certificate`: its subject CN, else its first DNS, email or URI SAN;
/// empty when it names nobody.
[[nodiscard]] std::string certificate_identity(X509* certificate);

}  // namespace tnl
