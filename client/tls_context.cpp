#include "tls_context.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

namespace tnl {

std::shared_ptr<asio::ssl::context> make_client_tls_context(const ClientTls& tls) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  std::error_code error;
  const auto check = [&error](const std::string& what) {
    if (error) throw std::runtime_error("TLS: cannot use " + what + ": " + error.message());
  };
  if (tls.ca_file.empty()) {
    context->set_default_verify_paths(error);
    check("the system's CA certificates");
  } else {
    context->load_verify_file(tls.ca_file, error);
    check("--tls-ca " + tls.ca_file);
  }
  if (!tls.cert_file.empty()) {
    context->use_certificate_chain_file(tls.cert_file, error);
    check("--tls-cert " + tls.cert_file);
    context->use_private_key_file(tls.key_file, asio::ssl::context::pem, error);
    check("--tls-key " + tls.key_file);
  }
  context->set_verify_mode(asio::ssl::verify_peer);
  return context;
}

}  // namespace tnl
