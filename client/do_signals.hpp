// tcpnetlock_do's signals: SIGINT, SIGTERM and SIGHUP on the event loop, each handed to
// whichever step runs (taking the lock aborts it, running the command forwards it).
#pragma once

// Standard headers first, see lock_client.hpp.
#include <functional>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

namespace tnl::cli {

/// Receives signals on an io_context and hands each to the current step's handler.
class SignalRouter {
 public:
  using Handler = std::function<void(int sig)>;

  /// Catches `signals` on `io` (which must outlive it) from now on; none is handled until
  /// route() names a handler.
  SignalRouter(asio::io_context& io, const std::vector<int>& signals);

  /// From now on each signal goes to `handler`; nullptr: signals are dropped.
  void route(Handler handler) { handler_ = std::move(handler); }

 private:
  /// Waits for the next signal (again after each one).
  void arm();

  asio::signal_set set_;
  Handler handler_;
};

/// The signals the command must keep ignoring (those of the guardian's handled signals
/// that whoever started us ignores), but SIGCHLD, which is reset to its default here: an
/// ignored one makes the kernel reap children unasked, which breaks any command that waits
/// for its own (and would take the guardian's status from us).
std::vector<int> signals_the_command_ignores();

}  // namespace tnl::cli
