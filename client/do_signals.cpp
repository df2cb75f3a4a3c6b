#include "do_signals.hpp"

#include <signal.h>

#include <algorithm>
#include <iterator>

#include "cli_support.hpp"
#include "guardian_process.hpp"

namespace tnl::cli {

SignalRouter::SignalRouter(asio::io_context& io, const std::vector<int>& signals) : set_(io) {
  for (int sig : signals) set_.add(sig);
  arm();
}

void SignalRouter::arm() {
  set_.async_wait([this](const asio::error_code& ec, int sig) {
    if (ec) return;  // the set is gone (or cancelled): `this` may be too
    if (handler_) handler_(sig);
    arm();
  });
}

std::vector<int> signals_the_command_ignores() {
  std::vector<int> inherited =
      ignored({std::begin(tnl::guardian::handled_signals), std::end(tnl::guardian::handled_signals)});
  inherited.erase(std::remove(inherited.begin(), inherited.end(), SIGCHLD), inherited.end());
  ::signal(SIGCHLD, SIG_DFL);
  return inherited;
}

}  // namespace tnl::cli
