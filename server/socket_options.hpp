// Options set on every accepted connection.
#pragma once

#include <asio/ip/tcp.hpp>

#include "server_config.hpp"

namespace tnl {

/// TCP_NODELAY (no delayed-ACK stalls on request/answer round trips), and TCP keepalive
/// with TCP_USER_TIMEOUT on the same schedule, so that a holder whose machine vanished
/// (no FIN, no RST) is detected and its lock freed.
void configure_accepted_socket(asio::ip::tcp::socket& socket, const ServerConfig& config);

}  // namespace tnl
