// Socket helpers: options every connection gets, and how endpoints are shown.
#pragma once

#include <string>

#include "io_types.hpp"
#include "server_config.hpp"

namespace tnl {

/// TCP_NODELAY (no delayed-ACK stalls on request/answer round trips), and TCP keepalive
/// with TCP_USER_TIMEOUT on the same schedule, so that a holder whose machine vanished
/// (no FIN, no RST) is detected and its lock freed. Set once on the listening socket:
/// Linux copies them to every socket it accepts, which saves six system calls a connection.
void configure_listening_socket(TcpAcceptor& acceptor, const ServerConfig& config);

/// "127.0.0.1:7654" or "[::1]:7654", for logs and `.locks`.
[[nodiscard]] std::string format_endpoint(const asio::ip::tcp::endpoint& endpoint);

}  // namespace tnl
