// A small blocking-with-timeouts client for the tcpnetlock protocol, on standalone Asio.
#pragma once

// Standard headers first: Asio's config decides between aligned_alloc/free and
// operator new/delete from libstdc++ macros, and every translation unit must decide
// alike (ASan reports the mismatch otherwise).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "client_error.hpp"
#include "protocol_answers.hpp"
#include "protocol_requests.hpp"

namespace tnl {

/// The outcome of a detached lock request.
struct DetachedLockResult {
  bool granted = false;
  /// The lock's id (a UUID) when granted: what unlock() and renew() take.
  std::string id;
  /// The fencing token, when one was asked for and the lock granted.
  std::optional<std::uint64_t> token;
};

/// One connection to a tcpnetlock server.
///
/// The synchronous operations (connect, lock, release, ...) run the caller's io_context
/// until they finish or time out, so other work on that io_context (signal sets, timers)
/// keeps running meanwhile; a handler may call cancel() to abort the operation. While a
/// lock is held, start_watch() keeps an asynchronous eye on the connection instead.
/// All failures are reported as ClientError.
class LockClient {
 public:
  using Clock = std::chrono::steady_clock;
  using Duration = Clock::duration;
  /// Called once when a watched connection breaks; the argument says why.
  using LostHandler = std::function<void(const std::string& reason)>;

  /// Default limit for resolving and connecting (all addresses together).
  static constexpr Duration default_connect_timeout = std::chrono::seconds(10);
  /// Default limit for waiting for one answer line.
  static constexpr Duration default_answer_timeout = std::chrono::seconds(30);

  /// A client that does its I/O on `io`, which must outlive it.
  explicit LockClient(asio::io_context& io);
  ~LockClient();
  LockClient(const LockClient&) = delete;
  LockClient& operator=(const LockClient&) = delete;

  /// Connects to `host`:`port`, trying every resolved address in turn (so `localhost`
  /// works whether the server listens on ::1 or 127.0.0.1). Closes any previous
  /// connection first. Throws ClientError::Kind::refused when an address refused the
  /// connection and none accepted it, Kind::connect_failed otherwise.
  void connect(const std::string& host, std::uint16_t port, Duration timeout = default_connect_timeout);

  /// Asks for lock `name`; true when granted (the lock is then held until this
  /// connection ends). On `not-granted` the connection is closed and false returned;
  /// any other answer (such as `err,...`) throws Kind::unexpected_answer.
  /// Throws std::invalid_argument when `name` or `client_id` is not valid.
  bool lock(std::string_view name, std::optional<std::string_view> client_id = std::nullopt,
            Duration timeout = default_answer_timeout);

  /// Asks for a lock with the extensions. The answer may take as long as the wait:
  /// the answer timeout is `wait + margin`, and there is none for an infinite wait
  /// (cancel() still aborts it). `not-granted` (the wait ran out) closes the connection
  /// and returns granted = false; `err,...` (e.g. `err,limit mismatch`) throws
  /// Kind::server_error with the server's text; other answers Kind::unexpected_answer.
  /// Throws std::invalid_argument for a request the server would refuse as invalid.
  LockResult lock(const LockRequest& request, Duration margin = default_answer_timeout);

  /// Asks for a detached lock: `request` plus `ttl:` (see docs/HTTP-API.md). On
  /// `ok,id:ID[,token:T]` the server keeps holding the lock after it closes the
  /// connection, until unlock(), an admin's release or the TTL; the result carries the id.
  /// Timeouts, `not-granted` and `err,...` as for lock(); the connection is closed
  /// afterwards in every case.
  DetachedLockResult lock_detached(const LockRequest& request, Ttl ttl, Duration margin = default_answer_timeout);

  /// Sends `unlock,id:ID` as the first line of a connection and expects `released`; the
  /// server then closes the connection. `err,...` (e.g. `err,unknown lock id`, `err,lock
  /// is held by a connection`) throws Kind::server_error with the server's text, other
  /// answers Kind::unexpected_answer. Throws std::invalid_argument when `id` is not a
  /// lock id.
  void unlock(std::string_view id, Duration timeout = default_answer_timeout);

  /// Sends `unlock-name,name:NAME` (with `,admin-token:TOKEN` when `admin_token` is not
  /// empty) as the first line of a connection: the server releases every detached hold of
  /// NAME (docs/PROTOCOL.md). Returns its answer line, stripped (`released`, or `err,...`
  /// such as `err,lock is not held`), for the caller to judge; the connection is then
  /// closed. Throws std::invalid_argument when `name` is not a lock name or the token
  /// cannot be sent.
  std::string unlock_name(std::string_view name, std::string_view admin_token = {},
                          Duration timeout = default_answer_timeout);

  /// Sends `renew,id:ID,ttl:SECONDS` as the first line of a connection and expects
  /// `renewed`: the lock now expires `ttl` from now. Errors as for unlock().
  void renew(std::string_view id, Ttl ttl, Duration timeout = default_answer_timeout);

  /// Sends `.locks` (or `.locks,name:NAME`) as the first line of a connection and returns
  /// the JSON text of the answer; the server then closes the connection. Throws
  /// std::invalid_argument when `name` is not a lock name.
  std::string locks(std::optional<std::string_view> name = std::nullopt, Duration timeout = default_answer_timeout);

  /// Releases the held lock (expects `released`) and closes the connection.
  void release(Duration timeout = default_answer_timeout);

  /// Sends `.keepalive` on a held lock and expects `alive`.
  void keepalive(Duration timeout = default_answer_timeout);

  /// Sends `.ping` (first line of a connection) and expects `pong`.
  void ping(Duration timeout = default_answer_timeout);

  /// Sends `.stats` (first line of a connection) and returns the JSON text of the answer.
  std::string stats(Duration timeout = default_answer_timeout);

  /// For a holder about to act on its lock: why the lock is already lost, found without
  /// blocking, or nullopt when nothing has arrived since the grant. A holder is sent
  /// nothing unasked but `lost,REASON` or `shutting-down`, so any line, any byte, the
  /// connection's end or an error means the lock is gone: one that was stopped while it
  /// waited in the queue can find its grant and its loss side by side.
  std::optional<std::string> lost_already();

  /// Starts watching the held connection without blocking: any line from the server
  /// other than the `alive` answers to our own keepalives, EOF, a reset, or a keepalive
  /// left unanswered for `answer_timeout` closes the connection and calls `on_lost`
  /// once (from the io_context). With `keepalive_every`, sends `.keepalive` that often.
  /// No synchronous operation may be used until stop_watch().
  void start_watch(std::optional<Duration> keepalive_every, LostHandler on_lost,
                   Duration answer_timeout = default_answer_timeout);

  /// Stops watching (on_lost will not be called any more); data already received stays
  /// buffered, and late `alive` answers are skipped by the next operation.
  void stop_watch();

  /// Aborts the synchronous operation in progress (it throws Kind::cancelled). Meant for
  /// handlers, such as signal handlers, that run while an operation waits.
  void cancel();

  /// Closes the connection (which frees a held lock on the server).
  void close();

  /// True while connected.
  [[nodiscard]] bool is_open() const { return socket_.is_open(); }

  /// The connection's descriptor (-1 when not connected), for a process that must keep a
  /// copy of it open (tcpnetlock_do's guardian). Such a copy keeps the connection, and so
  /// the lock, alive after close() until it is closed too.
  [[nodiscard]] int native_handle() { return socket_.is_open() ? socket_.native_handle() : -1; }

  /// The address the last successful connect() reached (so a second connection can
  /// go to the very same server).
  [[nodiscard]] const asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }

  /// "host:port" of the last connect(), for messages.
  [[nodiscard]] const std::string& server() const { return server_; }

 private:
  struct Pending;

  std::string request_lock(const LockRequest& request, std::optional<Ttl> ttl, Duration margin);
  /// Sends `request` (an unlock or renew of `id`), expects `expected`, and closes.
  void by_id(std::string_view action, std::string_view id, const std::string& request, std::string_view expected,
             Duration timeout);
  std::string exchange(std::string_view request, Duration timeout);
  std::string exchange_until(std::string_view request, Clock::time_point deadline);
  void write_all(const std::string& data, Clock::time_point deadline);
  std::string read_line(Clock::time_point deadline);
  std::string take_line(std::size_t length);
  void wait(Pending& op, Clock::time_point deadline);
  void require_open() const;
  void watch_read();
  void schedule_keepalive();
  void send_keepalive();
  void watch_failed(const std::string& reason);
  void close_socket();
  /// With TLS on (client_tls()): the handshake with `host`, verified, by `deadline`.
  void start_tls(const std::string& host, Clock::time_point deadline);
  /// The TLS stream over socket_ (null: plain), kept alive by the handlers using it.
  struct TlsStream;
  using TlsHandle = std::shared_ptr<TlsStream>;
  /// Runs `operation(stream, keep)` on the TLS stream or the plain socket; `keep` holds the
  /// TLS stream for the operation's handler.
  template <class Operation>
  void with_stream(Operation&& operation);

  asio::io_context& io_;
  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  TlsHandle tls_;
  /// Made at the first TLS connect, from client_tls().
  std::shared_ptr<void> tls_context_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer answer_timer_;
  std::string server_;
  asio::ip::tcp::endpoint endpoint_;
  /// Bytes received but not yet consumed as lines.
  std::string buffer_;
  /// Keeps the outgoing keepalive alive while it is being written.
  std::string keepalive_request_;
  /// `.keepalive` requests sent whose `alive` has not arrived yet.
  int pending_keepalives_ = 0;
  bool watching_ = false;
  /// Bumped by stop_watch() so handlers of an earlier watch do nothing.
  unsigned watch_generation_ = 0;
  std::optional<Duration> keepalive_every_;
  Duration watch_answer_timeout_ = default_answer_timeout;
  LostHandler on_lost_;
  /// Asynchronous handlers hold a weak reference, so they do nothing once we are gone.
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
};

}  // namespace tnl
