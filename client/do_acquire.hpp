// tcpnetlock_do's first step: taking the lock, waiting in the server's queue if asked,
// retrying while it is not granted.
#pragma once

// Standard headers first, see lock_client.hpp.
#include <variant>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "do_options.hpp"
#include "do_signals.hpp"
#include "lock_client.hpp"

namespace tnl::cli {

/// Takes the lock for tcpnetlock_do. A signal meanwhile aborts it (interrupt()).
class LockAcquisition {
 public:
  /// Works on `client` (not connected yet) and `io`, which must outlive it.
  LockAcquisition(asio::io_context& io, LockClient& client, const DoOptions& options);

  /// Connects, asks for the lock and retries as `options` say. The grant, or the exit code
  /// to end with: 123 not granted, 125 refused, 124 interrupted or any other failure
  /// (each with its message printed).
  std::variant<LockResult, int> run();

  /// A signal arrived: aborts the connection attempt, the request or the retry wait in
  /// progress; run() then ends with 124 ("interrupted"), the lock not taken.
  void interrupt(int sig);

  /// The signal that interrupted us, or 0.
  [[nodiscard]] int interrupted_by() const { return interrupted_by_; }

 private:
  int interrupted();
  bool wait_before_retry();

  asio::io_context& io_;
  LockClient& client_;
  const DoOptions& options_;
  asio::steady_timer retry_timer_;
  int interrupted_by_ = 0;
};

/// Takes the lock for tcpnetlock_do with a LockAcquisition, `signals` aborting it
/// meanwhile, and checks that it was not lost already (a grant after a long wait may be
/// followed by `lost,...` at once: the holder timeout, an admin). The grant, or the exit
/// code to end with (122 lost already, or as LockAcquisition::run()), its message printed.
std::variant<LockResult, int> acquire_lock(asio::io_context& io, LockClient& client, const DoOptions& options,
                                           SignalRouter& signals);

}  // namespace tnl::cli
