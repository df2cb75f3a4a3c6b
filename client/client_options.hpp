// Options and exit codes of tcpnetlock_client.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "cli_support.hpp"
#include "lock_id.hpp"
#include "protocol.hpp"
#include "protocol_requests.hpp"

namespace tnl::cli {

/// Exit codes of tcpnetlock_client, as tcpnetlock 0.1.8 defined them.
namespace client_exit {
/// --unlock / --renew only: the server refused (unknown id, a lock a connection holds).
inline constexpr int refused_by_server = 1;
inline constexpr int refused = 2;
inline constexpr int connection_failed = 3;
inline constexpr int unexpected_error = 4;
inline constexpr int connection_broke = 122;
inline constexpr int not_granted = 123;
}  // namespace client_exit

/// What tcpnetlock_client does.
enum class ClientMode {
  hold,    ///< take the lock and hold it on the connection until killed (tcpnetlock's)
  detach,  ///< --ttl: take a detached lock, print its id and exit
  unlock,  ///< --unlock ID: release a detached lock
  renew,   ///< --renew ID --ttl SECONDS: extend a detached lock's TTL
};

/// Command line of tcpnetlock_client.
struct ClientOptions {
  std::string lock_name;  ///< empty only with --unlock or --renew
  std::string host = "localhost";
  std::uint16_t port = default_port;
  std::string client_id;  ///< empty: none sent
  bool keep_alive = false;
  double keep_alive_secs = 15;
  /// A keepalive unanswered for this long means the lock is lost (exit 122).
  double keep_alive_timeout = 5;
  LockExtensionOptions lock;
  std::string ttl;        ///< --ttl as given: a duration (parse_duration) or `inf`; empty: none
  std::string unlock_id;  ///< --unlock ID
  std::string renew_id;   ///< --renew ID
  bool info = false;  ///< --info or --verbose
  bool debug = false;
  /// Set by the parse from which options were given.
  ClientMode mode = ClientMode::hold;
  /// Set by check_client_options() from `ttl`.
  Ttl ttl_value;
};

/// Declares every option of tcpnetlock_client on `app`, storing into `options`
/// (which must outlive the parse). Environment variables supply defaults.
void add_client_options(CLI::App& app, ClientOptions& options);

/// Checks what CLI11 cannot (and sets options.lock.wait_seconds and options.ttl_value):
/// nullopt when fine, else the problem (tcpnetlock_client exits 4 for it, as tcpnetlock
/// did for an invalid lock name). Conflicting options are CLI11's parse errors (exit 2).
std::optional<std::string> check_client_options(ClientOptions& options);

}  // namespace tnl::cli
