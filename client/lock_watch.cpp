#include "lock_watch.hpp"

#include <utility>

#include "cli_support.hpp"

namespace tnl::cli {

std::optional<LockClient::Duration> LockWatch::keepalive_every() const {
  if (!options_.keep_alive) return std::nullopt;
  return seconds(options_.keep_alive_secs);
}

void LockWatch::start(LockClient::LostHandler on_lost) {
  client_.start_watch(keepalive_every(), std::move(on_lost), seconds(options_.keep_alive_timeout));
}

}  // namespace tnl::cli
