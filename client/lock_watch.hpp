// tcpnetlock_do's watch over the held lock while the command runs: keepalives as the
// options say, and one call when the lock turns out to be lost.
#pragma once

// Standard headers first, see lock_client.hpp.
#include <optional>

#include "do_options.hpp"
#include "lock_client.hpp"

namespace tnl::cli {

/// Watches the lock held on `client` (LockClient::start_watch) with tcpnetlock_do's
/// keepalive options; stopped before the lock is released.
class LockWatch {
 public:
  /// `client` (holding the lock) and `options` must outlive it.
  LockWatch(LockClient& client, const DoOptions& options) : client_(client), options_(options) {}
  LockWatch(const LockWatch&) = delete;
  LockWatch& operator=(const LockWatch&) = delete;
  /// Stops watching, if it still does.
  ~LockWatch() { stop(); }

  /// Starts watching, from the io_context: `.keepalive` every --keep-alive-secs (none with
  /// --no-keep-alive), and `on_lost` called once, with the reason, when the server closes
  /// the connection, sends `lost,...` or `shutting-down`, or leaves a keepalive unanswered
  /// for --keep-alive-timeout.
  void start(LockClient::LostHandler on_lost);

  /// Stops watching (the client's synchronous operations work again); does nothing when
  /// not watching.
  void stop() { client_.stop_watch(); }

  /// How often a keepalive is sent; nullopt: never.
  [[nodiscard]] std::optional<LockClient::Duration> keepalive_every() const;

 private:
  LockClient& client_;
  const DoOptions& options_;
};

}  // namespace tnl::cli
