#include "do_release.hpp"

#include <spdlog/spdlog.h>

#include "cli_support.hpp"
#include "do_options.hpp"

namespace tnl::cli {

std::optional<std::string> release_lock(LockClient& client, const std::string& lock_name) {
  client.stop_watch();
  try {
    client.release();
    spdlog::info("lock '{}' released", lock_name);
  } catch (const ClientError& e) {
    if (e.kind() == ClientError::Kind::connection_lost || e.kind() == ClientError::Kind::unexpected_answer) {
      // We cannot tell when the connection ended: the lock may have been free while the
      // command ran.
      print_error("lost lock '" + lock_name + "' while the command ran: " + e.what());
      return std::string(e.what());
    }
    // The lock is freed anyway when the connection closes, which it now does.
    spdlog::warn("releasing lock '{}': {}", lock_name, e.what());
  }
  return std::nullopt;
}

int exit_code_after(int status, const std::optional<std::string>& lost) {
  return lost && status == 0 ? do_exit::lock_lost : status;
}

}  // namespace tnl::cli
