#include "wait_timer.hpp"

namespace tnl {

WaitTimer::WaitTimer(asio::io_context& io, LockTable& locks) : timer_(io), locks_(locks) {}

void WaitTimer::schedule() {
  const auto next = locks_.next_deadline();
  if (stopped_ || !next || (armed_for_ && *armed_for_ <= *next)) return;
  armed_for_ = next;
  timer_.expires_at(*next);  // cancels the wait for a later deadline, if any
  timer_.async_wait([this](std::error_code error) {
    if (!error) on_expiry();
  });
}

void WaitTimer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void WaitTimer::on_expiry() {
  armed_for_.reset();
  locks_.expire(LockTable::Clock::now());
  schedule();
}

}  // namespace tnl
