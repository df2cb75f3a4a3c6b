// The TLS options of tcpnetlock_server (--tls-cert, --tls-key, --tls-client-ca, --tls-port,
// --tls-port-file, --http-tls), added to its command line by parse_server_options.
#pragma once

#include <CLI/CLI.hpp>

#include "tls_config.hpp"

namespace tnl {

/// Adds the TLS options to `app`, filling `config` when it parses; CLI11 checks that the
/// files exist and that the options that need a certificate have one.
void add_tls_options(CLI::App& app, TlsConfig& config);

}  // namespace tnl
