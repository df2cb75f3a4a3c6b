// Many concurrent clients on one single-threaded Asio event loop: the looping clients of
// `cycle` and `contended`, and the open-and-hold connections of `hold` and `inspect`.
// Every loop is bounded (a deadline and a count) and guarded by a watchdog; any answer
// other than the one the protocol promises aborts the measurement with an exception.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "measure.hpp"

namespace bench {

/// What `run_cycles` does.
struct CycleSpec {
  std::uint16_t port = 0;
  int clients = 1;                                  ///< concurrent clients
  Clock::duration duration = std::chrono::seconds(2);  ///< no new cycle starts after this
  std::uint64_t max_cycles = 10'000'000;            ///< nor after this many cycles in all
  /// The lock request of a client's n-th cycle, with its "\n".
  std::function<std::string(int client, std::uint64_t cycle)> lock_line;
};

/// What `run_cycles` measured.
struct CycleOutcome {
  std::vector<double> micros;  ///< one per completed cycle, from connect to close
  double seconds = 0;          ///< from the start to the last completed cycle
};

/// `clients` clients, each looping: connect, send the lock line, read `ok`, send `release`,
/// read `released`, read the server's EOF, close.
CycleOutcome run_cycles(const CycleSpec& spec);

/// Connections that each hold their own lock until close() or destruction.
class Holders {
 public:
  Holders() = default;
  Holders(const Holders&) = delete;
  Holders& operator=(const Holders&) = delete;
  ~Holders() { close(); }

  /// Opens `count` connections to 127.0.0.1:`port`, each sending `lock,name:PREFIXi` and
  /// reading `ok`, with at most `window` of them connecting or waiting for `ok` at once.
  /// Returns the seconds from the first connect to the last `ok`. Call it once.
  double open(std::uint16_t port, int count, int window, const std::string& prefix);
  [[nodiscard]] std::size_t size() const { return held_.size(); }
  /// Resets every held connection (the server frees their locks).
  void close();

 private:
  asio::io_context io_;  // declared first: it must outlive the sockets
  std::vector<asio::ip::tcp::socket> held_;
};

}  // namespace bench
