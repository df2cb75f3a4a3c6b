#include "deadline_timer.hpp"

namespace tnl {

DeadlineTimer::DeadlineTimer(asio::io_context& io, std::function<std::optional<TimePoint>()> next_deadline,
                             std::function<void(TimePoint)> fire)
    : timer_(io), next_deadline_(std::move(next_deadline)), fire_(std::move(fire)) {}

void DeadlineTimer::schedule() {
  const auto next = next_deadline_();
  if (stopped_ || !next || (armed_for_ && *armed_for_ <= *next)) return;
  armed_for_ = next;
  timer_.expires_at(*next);  // cancels the wait for a later deadline, if any
  timer_.async_wait([this](std::error_code error) {
    if (!error) on_expiry();
  });
}

void DeadlineTimer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void DeadlineTimer::on_expiry() {
  armed_for_.reset();
  fire_(std::chrono::steady_clock::now());
  schedule();
}

}  // namespace tnl
