// Settings of one tcpnetlock_server, filled from the command line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol.hpp"

namespace tnl {

struct ServerConfig {
  /// Host name or address to listen on; every address it resolves to is bound.
  std::string listen = "localhost";
  /// TCP port; 0 picks a free one (see port_file).
  std::uint16_t port = default_port;
  /// When set, the bound port is written here (atomically) once the server listens.
  std::string port_file;
  /// Longest request line accepted, in bytes, not counting "\n" or "\r\n".
  std::size_t max_line_length = default_max_line_length;
  /// A connection that sends no complete first line within this time is closed; 0 disables.
  std::chrono::milliseconds first_line_timeout{30'000};
  /// How long a closing connection may take to flush its last answer before it is cut.
  std::chrono::milliseconds linger_timeout{2'000};
  /// Whether `.server-shutdown` from any client stops the server.
  bool allow_remote_shutdown = false;
};

}  // namespace tnl
