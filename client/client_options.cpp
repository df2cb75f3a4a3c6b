#include "client_options.hpp"

#include <fmt/format.h>

#include "cli_support.hpp"

namespace tnl::cli {

void add_client_options(CLI::App& app, ClientOptions& options) {
  app.description(
      "Takes a lock on a tcpnetlock server and holds it until killed.\n"
      "With --fencing, prints 'token:N' on stdout once the lock is held.\n"
      "Exit codes: 2 connection refused, 3 connection failed, 4 unexpected error (also an\n"
      "invalid --wait or --reason, or an 'err' answer such as a limit mismatch), 122 connection\n"
      "broke or lock lost while holding it, 123 lock not granted (also: the wait ran out).");
  app.add_option("lock_name", options.lock_name, "Name of the lock to take")->required();
  app.add_option("--host", options.host, "Server host")->envname(env_host)->capture_default_str();
  app.add_option("--port", options.port, "Server port")
      ->envname(env_port)
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--client-id", options.client_id, "Client id reported to the server")->envname(env_client_id);
  app.add_flag("--keep-alive", options.keep_alive, "Send keepalives while holding the lock");
  app.add_option("--keep-alive-secs", options.keep_alive_secs, "Seconds between keepalives")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_lock_extension_options(app, options.lock);
  app.add_flag("--info", options.info, "Log progress");
  app.add_flag("--debug", options.debug, "Log everything, including the protocol lines");
}

std::optional<std::string> check_client_options(ClientOptions& options) {
  if (!is_valid_lock_name(options.lock_name)) {
    return fmt::format("invalid lock name '{}' (allowed: letters, digits, '_' and '-')", options.lock_name);
  }
  if (!options.client_id.empty() && !is_valid_client_id(options.client_id)) {
    return fmt::format("invalid client id '{}' (allowed: letters, digits, '.', '@', '_' and '-')",
                       options.client_id);
  }
  return check_lock_extensions(options.lock);
}

}  // namespace tnl::cli
