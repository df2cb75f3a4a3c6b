// One client connection: reads request lines, writes answers, and carries the lock
// the client holds or waits for. Lines are parsed and acted on by RequestHandler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "handler_memory.hpp"
#include "lock_session.hpp"
#include "io_types.hpp"
#include "server_config.hpp"
#include "tls_socket.hpp"

namespace tnl {

class ConnectionManager;
class RequestHandler;

class Connection final : public std::enable_shared_from_this<Connection>, public HoldWatcher {
 public:
  /// What the connection is doing with respect to a lock (LockSession).
  using LockState = LockSession::State;
  /// Whether to keep the connection open after an answer.
  enum class Then { keep_open, close };
  using Clock = std::chrono::steady_clock;

  /// Why a connection was cut whose client does not take its answers: one was not written
  /// within the write timeout (the client's receive buffer stayed full).
  static std::error_code answers_not_read() { return std::make_error_code(std::errc::no_buffer_space); }
  /// Whether a connection that ended with `error` was ended by its client (none: the server
  /// closed it after an answer; EOF; a reset or broken pipe: the client's stack closed it).
  /// Any other error means the server gave up on a client that may still be alive: a
  /// keepalive or retransmission timeout, which Linux reports as the last ICMP error seen
  /// for data in flight when there was one (no route to host, network unreachable, a
  /// firewall's port unreachable), or answers not read. Such an end takes a lock without
  /// its holder's consent.
  static bool ended_by_client(std::error_code error);
  /// Most bytes written to one socket in one turn of the event loop: a multi-megabyte
  /// answer goes out in turns, between which every other connection is served.
  static constexpr std::size_t max_write_chunk = 64 * 1024;

  /// `peer` is "address:port" of the client, as accept reported it (with TLS and a client
  /// certificate, its identity is put in front once the handshake is done: "CN@address:port").
  /// Its settings are the handler's (RequestHandler::config()).
  Connection(MaybeTlsSocket socket, std::string peer, std::uint64_t id, ConnectionManager& manager,
             RequestHandler& handler);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Gives the socket its own keepalive schedule (drawn from `random`), arms the first-line
  /// timeout and starts reading.
  void start(std::uint32_t random);
  /// Server shutdown: answers `shutting-down`, then closes (within the linger time).
  void shut_down();
  /// Closes at once to make room for a new connection (ConnectionManager::reclaim_oldest):
  /// one that has sent no complete line is told why, best effort; one lingering after its
  /// last answer only once the client has acknowledged every byte of it (false: not now).
  /// Only for reclaimable ones.
  bool reclaim();
  /// Arms the holder timeout, if configured; called when a lock is granted.
  void watch_holder();
  /// Queues one answer line (the "\n" is added); with Then::close, closes once it is sent.
  void answer(std::string_view line, Then then = Then::keep_open);
  /// The same, taking over `line` (a long one is not copied: a `.locks` answer can be megabytes).
  void answer(std::string&& line, Then then = Then::keep_open);
  /// Queues an answer that other connections may be sending too, with its "\n" already in
  /// it; it is written from the shared string, never copied.
  void answer(std::shared_ptr<const std::string> line_with_newline, Then then = Then::keep_open);

  /// Takes no further line until the next answer is queued (its request is with the lock
  /// backend, whose completion may come later): lines are answered in order. Once it is
  /// queued (and written), the lines received meanwhile are acted on.
  void await_answer() { line_flags_ |= awaiting_answer; }
  /// The connection's lock: what it waits for or holds.
  [[nodiscard]] LockSession& lock_session() { return lock_; }
  [[nodiscard]] LockState lock_state() const { return lock_.state(); }
  /// The backend took this connection's hold away: its LockSession answers `lost,REASON`.
  void lost(const LockId& id, std::string_view reason) override { lock_.lost(*this, id, reason); }
  /// Unique for the server's lifetime.
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
  /// Acts on the lines already received while their answers go out at once; then waits
  /// for more input, unless an answer waits for the socket or the connection is closing.
  void next_input();

  /// Whether any answer is still to be written.
  [[nodiscard]] bool has_output() const { return shared_output_ != nullptr || written_ < output_.size(); }
  /// After an answer was queued: starts closing if asked to, and writes what it can.
  void queued(Then then);
  /// Writes what it can of the pending answers now, one chunk at most, and waits for the
  /// socket to take the rest. True when everything is written. Never ends the connection
  /// itself (it runs inside the lock service's callbacks); a failed write ends it from the
  /// event loop.
  bool send_pending();
  /// The socket can take more: goes on writing.
  void on_writable(std::error_code error);
  /// Everything queued while closing is written: send FIN, wait (a little) for the client's.
  void finish_close();

  static constexpr Clock::time_point no_deadline = Clock::time_point::max();

  /// Sets the deadline of the current stage and brings the armed deadline forward to it.
  void expect_by(Clock::time_point when);
  /// The stage deadline came: first line, answer or close not done in time.
  void stage_deadline_passed();
  /// Arms the earliest deadline that still applies, if any.
  void rearm();
  /// Sets the connection's one deadline (replacing any), kept on the manager's shared timer.
  void set_deadline(Clock::time_point when);
  /// Withdraws the deadline, if one is set.
  void clear_deadline();
  /// Starts an orderly close: stop taking requests, flush answers, send FIN, drain.
  void begin_close();
  /// Cuts the connection for `why` with an RST, after a best-effort `lost,` to a holder.
  void abort(std::error_code why);
  /// Ends the connection at once: frees its lock, closes the socket, forgets it.
  void end();
  /// The server's settings (the handler's: one reference fewer per connection).
  [[nodiscard]] const ServerConfig& config() const;

  MaybeTlsSocket socket_;
  /// Holds the pending wait for input, which an idle holder keeps for as long as it holds.
  HandlerMemory read_memory_;
  const std::uint64_t id_;
  ConnectionManager& manager_;
  RequestHandler& handler_;
  std::string peer_;

  /// Unconsumed input, never more than one maximal line plus its line end; its memory is
  /// given back whenever it is empty.
  std::string input_;
  /// Answers not yet written (from written_ on, unless shared_output_ goes first). At most
  /// the answers to one line, since no new line is read while one is pending; short ones
  /// fit in the string itself, and its memory is given back once written.
  std::string output_;
  /// A shared answer (`.locks`), written before output_; only ever queued as the first answer.
  std::shared_ptr<const std::string> shared_output_;
  /// Bytes written of the first pending buffer: shared_output_ if set, else output_.
  std::size_t written_ = 0;
  bool reading_ = false;
  bool waiting_to_write_ = false;  ///< a wait for the socket to take more is pending
  bool closing_ = false;           ///< no more requests; close once the output is flushed
  bool ended_ = false;
  bool got_first_line_ = false;
  bool has_deadline_ = false;
  /// The last line ended with a CR that was the last byte received: skip an LF or NUL
  /// that arrives right after it (docs/PROTOCOL.md, "Line ends").
  bool skip_line_end_rest_ = false;
  /// awaiting_answer (see await_answer()) and handling_line (a line is being acted on), in
  /// one byte next to the flags: an idle holder's connection grows by nothing.
  std::uint8_t line_flags_ = 0;
  static constexpr std::uint8_t awaiting_answer = 1;
  static constexpr std::uint8_t handling_line = 2;
  /// The deadline armed on the manager's timer. Valid while has_deadline_.
  Clock::time_point deadline_;
  /// The current stage's deadline: before the first line, the first-line timeout; while an
  /// answer waits for the socket, the write timeout; while closing, the end of the flush,
  /// then of the linger for the client's FIN. no_deadline when the stage has none.
  Clock::time_point stage_deadline_ = no_deadline;
  /// When the last complete line arrived, for the holder timeout.
  Clock::time_point last_line_at_;

  /// Why the connection broke, when it did not end with a plain EOF (e.g. keepalive timeout).
  std::error_code end_reason_;
  /// The lock it waits for or holds.
  LockSession lock_;
};

}  // namespace tnl
