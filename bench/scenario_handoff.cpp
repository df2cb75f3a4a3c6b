// `handoff`: W connections queue for one name with `wait:inf`; each holder in turn sends
// `release`, and we time from just before that send until the next waiter has read its
// `ok`. One request in flight, loopback only; bounded by W and rounds.
//
// The waiter's `ok` is read by polling (non-blocking receives in a loop), so that the time
// measured is the server's and the kernel's, not the load generator's own wake-up from
// sleep in a blocking receive (on this VM a cross-CPU wake-up alone has a p99 of tens of
// microseconds). The same rounds are then run with blocking reads, reported alongside. One
// unmeasured round first warms both ends up (page faults, caches, the scheduler).
//
// The floor has no queue (every `lock` gets `ok` at once), so against it we time the
// nearest thing: from `release` sent to `released` read on the same connection, one
// request and one answer through the kernel and the event loop.
#include <fmt/format.h>

#include <stdexcept>
#include <thread>

#include "line_connection.hpp"
#include "scenario.hpp"

namespace bench {

namespace {

/// Waits (at most 10 s) until our server reports `waiters` queued requests.
void await_queue(std::uint16_t port, int waiters) {
  for (int tries = 0; json_integer(query(port, ".stats\n"), "waiter_count") != waiters; ++tries) {
    if (tries > 10000) throw std::runtime_error("waiters did not queue");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// One round against our server: a holder and `waiters` queued behind it, handed on in turn.
void handoff_round(const Target& target, int waiters, int round, LineConnection::Wait wait,
                   std::vector<double>& micros) {
  const std::string lock = fmt::format("lock,name:handoff-bench-{},wait:inf\n", round);
  std::vector<LineConnection> chain;
  chain.reserve(static_cast<std::size_t>(waiters) + 1);
  chain.emplace_back(target.port);
  chain.front().send(lock);
  chain.front().expect("ok");
  for (int i = 0; i < waiters; ++i) {
    chain.emplace_back(target.port);
    chain.back().send(lock);
  }
  await_queue(target.port, waiters);  // all queued, in order, before timing starts
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    const auto start = Clock::now();
    chain[i].send("release\n");
    chain[i + 1].expect("ok", wait);
    micros.push_back(micros_between(start, Clock::now()));
    chain[i].expect("released", wait);
  }
  chain.back().send("release\n");
  chain.back().expect("released");
}

/// One round against the floor: `waiters` + 1 holders, each timed from `release` to `released`.
void floor_round(const Target& target, int waiters, int round, LineConnection::Wait wait,
                 std::vector<double>& micros) {
  const std::string lock = fmt::format("lock,name:handoff-bench-{},wait:inf\n", round);
  std::vector<LineConnection> chain;
  chain.reserve(static_cast<std::size_t>(waiters) + 1);
  for (int i = 0; i <= waiters; ++i) {
    chain.emplace_back(target.port);
    chain.back().send(lock);
    chain.back().expect("ok");
  }
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    const auto start = Clock::now();
    chain[i].send("release\n");
    chain[i].expect("released", wait);
    micros.push_back(micros_between(start, Clock::now()));
  }
}

}  // namespace

Scenario handoff_scenario(int waiters, int rounds) {
  return {fmt::format("handoff w={}", waiters), [=](const Target& target) {
            const auto run_round = [&](int round, LineConnection::Wait wait, std::vector<double>& micros) {
              if (target.is_floor) {
                floor_round(target, waiters, round, wait, micros);
              } else {
                handoff_round(target, waiters, round, wait, micros);
              }
            };
            std::vector<double> warm_up, polled, blocked;
            run_round(0, LineConnection::Wait::poll, warm_up);
            for (int round = 1; round <= rounds; ++round) run_round(round, LineConnection::Wait::poll, polled);
            for (int round = 1; round <= rounds; ++round) run_round(rounds + round, LineConnection::Wait::block, blocked);
            return Metrics{
                {"p50 us", percentile(polled, 0.50), 1},
                {"p99 us", percentile(polled, 0.99), 1},
                {"max us", percentile(polled, 1.0), 1},
                {"blocking p50 us", percentile(blocked, 0.50), 1},
                {"blocking p99 us", percentile(blocked, 0.99), 1},
            };
          }};
}

}  // namespace bench
