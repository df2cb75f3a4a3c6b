#include "tls_options.hpp"

namespace tnl {

ClientTls& client_tls() {
  static ClientTls settings;
  return settings;
}

void add_client_tls_options(CLI::App& app) {
  ClientTls& tls = client_tls();
  const auto implies_tls = [&tls](const std::string&) { tls.enabled = true; };
  app.add_flag("--tls", tls.enabled, "Speak TLS to the server (verified against --tls-ca or the system's CAs)");
  app.add_option("--tls-ca", tls.ca_file, "PEM CA certificates the server's certificate must chain to")
      ->check(CLI::ExistingFile)
      ->each(implies_tls);
  auto* cert = app.add_option("--tls-cert", tls.cert_file, "PEM client certificate, for servers that require one")
                   ->check(CLI::ExistingFile)
                   ->each(implies_tls);
  auto* key = app.add_option("--tls-key", tls.key_file, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--tls-server-name", tls.server_name,
                 "Name the server's certificate must carry (also sent as SNI); default: the host connected to")
      ->each(implies_tls);
}

}  // namespace tnl
