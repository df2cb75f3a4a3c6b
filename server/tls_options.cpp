#include "tls_options.hpp"

namespace tnl {

void add_tls_options(CLI::App& app, TlsConfig& config) {
  auto* cert = app.add_option("--tls-cert", config.cert_file,
                              "PEM certificate (followed by its chain) for the TLS listener and --http-tls")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--tls-key", config.key_file, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--tls-client-ca", config.client_ca_file,
                 "Mutual TLS: require a client certificate issued by these PEM CAs; its CN names the holder")
      ->check(CLI::ExistingFile)
      ->needs(cert);
  auto* tls_port = app.add_option_function<std::uint16_t>(
         "--tls-port",
         [&config](const std::uint16_t& port) {
           config.lock_listener = true;
           config.port = port;
         },
         "Also listen for TLS clients on this port (same addresses as --listen; 0 picks a free one)")
      ->needs(cert);
  app.add_option("--tls-port-file", config.port_file, "Write the bound TLS port to this file once listening");
  app.add_flag("--tls-only", config.only,
               "Serve lock clients over TLS only: no plain listener on --port (else mutual TLS can be "
               "bypassed there)")
      ->needs(tls_port);
  app.add_flag("--http-tls", config.http, "Serve HTTP over TLS (https) with --tls-cert")->needs(cert);
}

}  // namespace tnl
