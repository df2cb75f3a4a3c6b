// Driving an asio::io_context from a test until something has happened.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <thread>

namespace tnl::test {

/// Runs `io` until `condition` holds or `timeout` passes; false on timeout. An io_context
/// that ran out of work is stopped, so it is restarted first.
template <typename Condition>
bool run_until(asio::io_context& io, Condition condition,
               std::chrono::steady_clock::duration timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    // No work queued: poll the condition.
    if (io.run_one_for(std::chrono::milliseconds(20)) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace tnl::test
