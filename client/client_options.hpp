// Options and exit codes of tcpnetlock_client.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "cli_support.hpp"
#include "protocol.hpp"

namespace tnl::cli {

/// Exit codes of tcpnetlock_client, as tcpnetlock 0.1.8 defined them.
namespace client_exit {
inline constexpr int refused = 2;
inline constexpr int connection_failed = 3;
inline constexpr int unexpected_error = 4;
inline constexpr int connection_broke = 122;
inline constexpr int not_granted = 123;
}  // namespace client_exit

/// Command line of tcpnetlock_client.
struct ClientOptions {
  std::string lock_name;
  std::string host = "localhost";
  std::uint16_t port = default_port;
  std::string client_id;  ///< empty: none sent
  bool keep_alive = false;
  double keep_alive_secs = 15;
  LockExtensionOptions lock;
  bool info = false;
  bool debug = false;
};

/// Declares every option of tcpnetlock_client on `app`, storing into `options`
/// (which must outlive the parse). Environment variables supply defaults.
void add_client_options(CLI::App& app, ClientOptions& options);

/// Checks what CLI11 cannot (and sets options.lock.wait_seconds): nullopt when fine,
/// else the problem.
std::optional<std::string> check_client_options(ClientOptions& options);

}  // namespace tnl::cli
