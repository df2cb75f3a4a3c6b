#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace tnl {

namespace {

/// Mozilla's "intermediate" configuration (v5.7) for TLS 1.2, less DHE (no dhparam file).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// Runs `load`; on failure throws naming `what` and OpenSSL's reason.
template <class Load>
void load_or_throw(const std::string& what, Load&& load) {
  std::error_code error;
  load(error);
  if (error) throw std::runtime_error("TLS: cannot use " + what + ": " + error.message());
}

}  // namespace

TlsServerContext::TlsServerContext(const TlsConfig& config, std::uint64_t& handshake_failures)
    : handshake_failures(handshake_failures), context_(asio::ssl::context::tls_server) {
  context_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX* ctx = context_.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
  // A client that closes its TCP connection without a close_notify (killed, or done) has
  // ended its connection like a plain one: EOF, a release with its consent.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle holder keeps no 16 KiB record buffers; partial writes as with a plain socket.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Lock clients are short-lived processes that keep no session cache: no tickets to send.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  load_or_throw("--tls-cert " + config.cert_file,
                [&](std::error_code& e) { context_.use_certificate_chain_file(config.cert_file, e); });
  load_or_throw("--tls-key " + config.key_file,
                [&](std::error_code& e) { context_.use_private_key_file(config.key_file, asio::ssl::context::pem, e); });
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    throw std::runtime_error("TLS: --tls-key " + config.key_file + " does not belong to --tls-cert " + config.cert_file);
  }
  if (!config.client_ca_file.empty()) {
    load_or_throw("--tls-client-ca " + config.client_ca_file,
                  [&](std::error_code& e) { context_.load_verify_file(config.client_ca_file, e); });
    // Tell clients which CAs we accept (so that one with several certificates picks right).
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    context_.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    mutual_ = true;
  } else {
    context_.set_verify_mode(asio::ssl::verify_none);
  }
  ERR_clear_error();
}

namespace {

/// `text` made safe for logs and `.locks`: printable ASCII only, at most 64 bytes.
std::string printable(std::string text) {
  if (text.size() > 64) text.resize(64);
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return text;
}

}  // namespace

std::string certificate_identity(X509* certificate) {
  if (!certificate) return {};
  char common_name[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common_name,
                                sizeof common_name) > 0) {
    return printable(common_name);
  }
  std::string identity;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && identity.empty(); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS || name->type == GEN_EMAIL || name->type == GEN_URI) {
      const ASN1_IA5STRING* text = name->d.ia5;
      identity.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                      static_cast<std::size_t>(ASN1_STRING_length(text)));
    }
  }
  GENERAL_NAMES_free(names);
  return printable(std::move(identity));
}

}  // namespace tnl
