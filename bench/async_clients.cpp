#include "async_clients.hpp"

#include <asio/connect.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <algorithm>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace bench {

namespace {

using asio::ip::tcp;

/// Longest answer line a cycle or holder expects ("released" and a few spare bytes).
constexpr std::size_t max_short_answer = 64;
/// How long past its deadline a run may take before it is declared stalled.
constexpr auto stall_limit = std::chrono::seconds(30);

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::address_v4::loopback(), port}; }

/// State the looping clients of one run share: when to stop, what they measured, what failed.
struct CycleRun {
  asio::io_context& io;
  const CycleSpec& spec;
  Clock::time_point start;
  Clock::time_point stop_at;
  std::uint64_t started = 0;
  Clock::time_point last_completion{};
  std::vector<double> micros{};
  std::string failure{};
  int active = 0;                           ///< clients still looping
  asio::steady_timer* watchdog = nullptr;   ///< cancelled when the last client stops

  /// True while new cycles may start; counts the one about to start.
  bool may_start() {
    if (!failure.empty() || Clock::now() >= stop_at || started >= spec.max_cycles) return false;
    ++started;
    return true;
  }
  /// A client has stopped looping; the last one lets the event loop run out of work.
  void client_done() {
    if (--active == 0 && watchdog != nullptr) watchdog->cancel();
  }
  void fail(const std::string& what) {
    if (failure.empty()) failure = what;
    io.stop();
  }
};

/// One client looping connect, lock, `ok`, `release`, `released`, EOF, close.
class CycleClient {
 public:
  CycleClient(CycleRun& run, int index) : run_(run), index_(index), socket_(run.io) {}

  /// Starts the next cycle, unless the run is over.
  void begin() {
    if (!run_.may_start()) return run_.client_done();
    cycle_started_ = Clock::now();
    socket_.async_connect(loopback(run_.spec.port), [this](std::error_code error) {
      if (error) return run_.fail("connect: " + error.message());
      socket_.set_option(tcp::no_delay(true), error);
      send(run_.spec.lock_line(index_, cycle_++), "ok", [this] { send("release\n", "released", [this] { await_eof(); }); });
    });
  }

 private:
  /// Sends `line`, reads one answer line, checks it is `expected`, then runs `next`.
  template <typename Next>
  void send(std::string line, const char* expected, Next next) {
    output_ = std::move(line);
    asio::async_write(socket_, asio::buffer(output_), [this, expected, next](std::error_code error, std::size_t) {
      if (error) return run_.fail("send: " + error.message());
      asio::async_read_until(socket_, asio::dynamic_buffer(input_, max_short_answer), '\n',
                             [this, expected, next](std::error_code read_error, std::size_t line_end) {
                               if (read_error) return run_.fail(std::string("waiting for '") + expected + "': " + read_error.message());
                               const std::string line = input_.substr(0, line_end - 1);
                               input_.erase(0, line_end);
                               if (line != expected) return run_.fail(std::string("expected '") + expected + "', got '" + line + "'");
                               next();
                             });
    });
  }

  /// Reads the server's EOF after `released`, closes, records the cycle and starts the next.
  void await_eof() {
    socket_.async_read_some(asio::buffer(eof_probe_), [this](std::error_code error, std::size_t got) {
      if (!error && got > 0) return run_.fail("unexpected data after 'released'");
      if (error && error != asio::error::eof) return run_.fail("waiting for EOF: " + error.message());
      std::error_code ignored;
      socket_.close(ignored);
      input_.clear();
      run_.last_completion = Clock::now();
      run_.micros.push_back(micros_between(cycle_started_, run_.last_completion));
      begin();
    });
  }

  CycleRun& run_;
  const int index_;
  tcp::socket socket_;
  std::uint64_t cycle_ = 0;
  Clock::time_point cycle_started_;
  std::string output_;
  std::string input_;
  char eof_probe_[16] = {};
};

}  // namespace

CycleOutcome run_cycles(const CycleSpec& spec) {
  asio::io_context io;
  const auto start = Clock::now();
  CycleRun run{io, spec, start, start + spec.duration};
  run.last_completion = start;
  run.micros.reserve(1 << 20);
  // The watchdog: a server that stops answering ends the run instead of hanging it.
  asio::steady_timer watchdog(io, spec.duration + stall_limit);
  watchdog.async_wait([&](std::error_code error) {
    if (!error) run.fail("stalled: cycles still running 30 s after the deadline");
  });
  run.watchdog = &watchdog;
  run.active = spec.clients;
  std::vector<std::unique_ptr<CycleClient>> clients;
  for (int i = 0; i < spec.clients; ++i) clients.push_back(std::make_unique<CycleClient>(run, i));
  for (auto& client : clients) client->begin();
  io.run();
  if (!run.failure.empty()) throw std::runtime_error(run.failure);
  return {std::move(run.micros), seconds_between(start, run.last_completion)};
}

namespace {

/// Source ports for holders, walked in order through the ephemeral range. Left to itself,
/// Linux's connect() looks for a free port by trying ports of one parity first, so once
/// about half the range is in use (some 14,000 connections to one server) every connect
/// scans thousands of taken ports: the load generator, not the server, would set the pace.
class SourcePorts {
 public:
  SourcePorts() {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    if (!(range >> low_ >> high_) || low_ < 1024 || high_ > 65535 || low_ >= high_) {
      low_ = 32768;
      high_ = 60999;
    }
    next_ = low_;
  }

  /// Opens `socket` bound to 127.0.0.1 and the next free port of the range; throws if none is.
  void bind_next(tcp::socket& socket) {
    socket.open(tcp::v4());
    for (unsigned tries = 0; tries <= high_ - low_; ++tries) {
      const auto port = static_cast<std::uint16_t>(next_);
      next_ = next_ >= high_ ? low_ : next_ + 1;
      std::error_code error;
      socket.bind({asio::ip::address_v4::loopback(), port}, error);
      if (!error) return;
      if (error != asio::error::address_in_use) throw std::system_error(error, "bind");
    }
    throw std::runtime_error("no free source port left in the ephemeral range");
  }

 private:
  unsigned low_ = 0;
  unsigned high_ = 0;
  unsigned next_ = 0;
};

/// One of the `window` openers of Holders::open: opens holders one after another until
/// every index is taken.
class HolderOpener {
 public:
  /// What the openers share: the next index, where held sockets go, what failed.
  struct Shared {
    asio::io_context& io;
    std::uint16_t port;
    int count;
    const std::string& prefix;
    std::vector<tcp::socket>& held;
    SourcePorts& source_ports;
    int next = 0;
    int active = 0;
    asio::steady_timer* watchdog = nullptr;
    Clock::time_point last_ok{};
    std::string failure{};
  };

  explicit HolderOpener(Shared& shared) : shared_(shared), socket_(shared.io) {}

  /// Opens the next holder, or stops when all are taken (the last opener cancels the watchdog).
  void begin() {
    if (!shared_.failure.empty()) return;
    if (shared_.next >= shared_.count) {
      if (--shared_.active == 0) shared_.watchdog->cancel();
      return;
    }
    output_ = "lock,name:" + shared_.prefix + std::to_string(shared_.next++) + "\n";
    socket_ = tcp::socket(shared_.io);
    try {
      shared_.source_ports.bind_next(socket_);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    socket_.async_connect(loopback(shared_.port), [this](std::error_code error) {
      if (error) return fail("connect: " + error.message());
      socket_.set_option(tcp::no_delay(true), error);
      asio::async_write(socket_, asio::buffer(output_), [this](std::error_code write_error, std::size_t) {
        if (write_error) return fail("send: " + write_error.message());
        asio::async_read_until(socket_, asio::dynamic_buffer(input_, max_short_answer), '\n',
                               [this](std::error_code read_error, std::size_t line_end) {
                                 if (read_error) return fail("waiting for 'ok': " + read_error.message());
                                 if (input_ != "ok\n") return fail("expected 'ok', got '" + input_.substr(0, line_end - 1) + "'");
                                 input_.clear();
                                 shared_.last_ok = Clock::now();
                                 shared_.held.push_back(std::move(socket_));
                                 begin();
                               });
      });
    });
  }

 private:
  void fail(const std::string& what) {
    if (shared_.failure.empty()) shared_.failure = what + " (after " + std::to_string(shared_.held.size()) + " holders)";
    shared_.io.stop();
  }

  Shared& shared_;
  tcp::socket socket_;
  std::string output_;
  std::string input_;
};

}  // namespace

double Holders::open(std::uint16_t port, int count, int window, const std::string& prefix) {
  held_.reserve(held_.size() + static_cast<std::size_t>(count));
  static SourcePorts source_ports;  // one walk for the whole run: the ports just freed come last
  HolderOpener::Shared shared{io_, port, count, prefix, held_, source_ports};
  asio::steady_timer watchdog(io_, stall_limit);
  watchdog.async_wait([&](std::error_code error) {
    if (error) return;
    shared.failure = "stalled: " + std::to_string(held_.size()) + " of " + std::to_string(count) + " holders after 30 s";
    io_.stop();
  });
  shared.watchdog = &watchdog;
  const int openers = std::max(1, std::min(window, count));
  shared.active = openers;
  std::vector<std::unique_ptr<HolderOpener>> slots;
  for (int i = 0; i < openers; ++i) slots.push_back(std::make_unique<HolderOpener>(shared));
  const auto start = Clock::now();
  shared.last_ok = start;
  if (count > 0) {
    for (auto& slot : slots) slot->begin();
    io_.restart();
    io_.run();
  }
  // After a failure, handlers still queued refer to `shared` and the openers; the event
  // loop never runs again, so they are destroyed with it, never called.
  if (!shared.failure.empty()) throw std::runtime_error(shared.failure);
  return seconds_between(start, shared.last_ok);
}

void Holders::close() {
  // Abortive close (RST): the measurement is over, and no TIME_WAIT is left behind to tie
  // up ephemeral ports for the next run. The server frees each lock as the reset arrives.
  std::error_code ignored;
  for (auto& socket : held_) {
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }
  held_.clear();
}

}  // namespace bench
