// One client connection: reads request lines, writes answers, and carries the lock
// the client holds or waits for. Lines are parsed and acted on by RequestHandler.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "handler_memory.hpp"
#include "io_types.hpp"
#include "server_config.hpp"

namespace tnl {

class ConnectionManager;
class RequestHandler;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// What the connection is doing with respect to a lock.
  enum class LockState : std::uint8_t {
    none,     ///< no lock asked for yet
    waiting,  ///< queued for `lock_name()`
    holding,  ///< holds `lock_name()`
  };
  /// Whether to keep the connection open after an answer.
  enum class Then { keep_open, close };
  using Clock = std::chrono::steady_clock;

  /// `peer` is "address:port" of the client, as accept reported it.
  Connection(TcpSocket socket, std::string peer, std::uint64_t id, ConnectionManager& manager,
             RequestHandler& handler, const ServerConfig& config);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Arms the first-line timeout and starts reading.
  void start();
  /// Server shutdown: answers `shutting-down`, then closes.
  void shut_down();
  /// Arms the holder timeout, if configured; called when a lock is granted.
  void watch_holder();
  /// Queues one answer line (the "\n" is added); with Then::close, closes once it is sent.
  void answer(std::string_view line, Then then = Then::keep_open);
  /// The same, taking over `line` (no copy: a `.locks` answer can be megabytes).
  void answer(std::string&& line, Then then = Then::keep_open);

  /// Records that this connection now waits for `name`.
  void start_waiting(std::string name);
  /// Records that the lock it waited for is now held.
  void start_holding() { lock_state_ = LockState::holding; }
  /// Records that it neither holds nor waits for a lock any more.
  void clear_lock();
  [[nodiscard]] LockState lock_state() const { return lock_state_; }
  [[nodiscard]] const std::string& lock_name() const { return lock_name_; }
  /// Unique for the server's lifetime; the owner id in the lock table.
  [[nodiscard]] std::uint64_t id() const { return id_; }
  /// "address:port" of the client, for logs.
  [[nodiscard]] const std::string& peer() const { return peer_; }
  /// False once the connection has ended (its lock, if any, is already freed).
  [[nodiscard]] bool is_open() const { return !ended_; }
  /// Called by the manager when a deadline set with set_deadline() has come: `when`.
  void deadline_passed(Clock::time_point when);

 private:
  /// Waits for input: the next line, or what a closing client still sends. Waits without
  /// a buffer, so that an idle holder costs no read buffer at all.
  void read();
  /// Reads what arrived and acts on every complete line in it.
  void on_readable(std::error_code error);
  /// Acts on the first complete line in input_, if any; false when there is none.
  bool handle_next_line();
  /// Goes on with the next line already received, or waits for one.
  void next_input();
  /// Starts writing what is queued unless a write is under way.
  void write();
  void on_write(std::error_code error);
  /// Arms the timer for one holder timeout after the last line.
  void arm_holder_timeout();
  /// Sets the connection's one deadline (replacing any), kept on the manager's shared timer.
  void set_deadline(Clock::time_point when);
  /// Withdraws the deadline, if one is set.
  void clear_deadline();
  /// Starts an orderly close: stop taking requests, flush answers, send FIN, drain.
  void begin_close();
  /// Ends the connection at once: frees its lock, closes the socket, forgets it.
  void end();

  TcpSocket socket_;
  /// Holds the pending wait for input, which an idle holder keeps for as long as it holds.
  HandlerMemory read_memory_;
  const std::uint64_t id_;
  ConnectionManager& manager_;
  RequestHandler& handler_;
  const ServerConfig& config_;
  std::string peer_;

  /// Unconsumed input, never more than one maximal line plus its line end; its memory is
  /// given back whenever it is empty.
  std::string input_;
  /// Answers not yet written; bounded because no new line is read while one is pending.
  std::string output_;
  /// The answers being written now (short ones fit in the string itself: no allocation).
  std::string in_flight_;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;  ///< no more requests; close once output_ is flushed
  bool ended_ = false;
  bool got_first_line_ = false;
  bool has_deadline_ = false;
  LockState lock_state_ = LockState::none;  // next to the flags: no padding of its own
  /// First-line timeout before the first line; holder timeout while holding; linger limit
  /// while closing. Valid while has_deadline_.
  Clock::time_point deadline_;
  /// When the last complete line arrived, for the holder timeout.
  Clock::time_point last_line_at_;

  /// Why the connection broke, when it did not end with a plain EOF (e.g. keepalive timeout).
  std::error_code end_reason_;
  std::string lock_name_;
};

}  // namespace tnl
