// The status line tcpnetlock_do and tcpnetlock_client show on a terminal while they wait
// in the server's queue: who holds the lock, for how long, and why.
#pragma once

// Standard headers first, see lock_client.hpp.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace tnl {

/// "12s", "1m23s", "2h05m", "1d02h": human_duration().
[[nodiscard]] std::string format_held_for(double seconds);

/// The status text for lock `name` from the JSON of a `.locks` answer, e.g.
/// "waiting for lock 'db': held by ci-7@10.0.0.5:41234 for 1m23s (reason: migrate), 2 waiting".
/// Just "waiting for lock 'db'" when the JSON says nothing useful about it.
[[nodiscard]] std::string describe_wait(std::string_view name, std::string_view locks_json);

/// Shows describe_wait() on one line of `out`, refreshed every `every` from `.locks,name:X`
/// over a second short connection to `server`, redrawn in place ("\r" + text + "\x1b[K"),
/// and erased by stop(). All I/O is asynchronous on `io`, so it runs while a synchronous
/// LockClient::lock() waits on the same io_context. Failures of the queries are ignored.
class WaitStatusLine {
 public:
  using Duration = std::chrono::steady_clock::duration;

  WaitStatusLine(asio::io_context& io, asio::ip::tcp::endpoint server, std::string name, std::FILE* out,
                 Duration first = std::chrono::milliseconds(300), Duration every = std::chrono::seconds(1));
  ~WaitStatusLine();
  WaitStatusLine(const WaitStatusLine&) = delete;
  WaitStatusLine& operator=(const WaitStatusLine&) = delete;

  /// Starts querying (the first query after `first`, so an immediate grant shows nothing).
  void start();
  /// Stops querying and erases the line if one was shown. Idempotent.
  void stop();

  /// True when `fd` is a terminal: where the status line belongs.
  [[nodiscard]] static bool wanted(int fd);

 public:
  struct State;  ///< shared with the asynchronous handlers

 private:
  std::shared_ptr<State> state_;
  Duration first_{};
};

}  // namespace tnl
