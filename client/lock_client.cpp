#include "lock_client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/connect.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <asio/ip/address.hpp>
#include <asio/ssl.hpp>
#include <openssl/err.h>

#include "localhost_name.hpp"
#include "protocol.hpp"
#include "protocol_answers.hpp"
#include "protocol_requests.hpp"
#include "tls_context.hpp"

namespace tnl {

namespace {
using Kind = ClientError::Kind;

/// Longest answer line accepted; `.stats` is the longest legitimate one, far below this.
constexpr std::size_t max_answer_length = 1024 * 1024;

/// TCP keepalive on the lock's connection, on the server's default schedule: idle 10 s,
/// then a probe every 5 s, given up after 3 (and unacknowledged writes after 25 s). The
/// kernel probes even while we send nothing (--no-keep-alive, or tcpnetlock_do stopped),
/// so a server whose machine vanished (no FIN, no RST) is found out within 25 s, and its
/// replacement at the same address answers the probe with an RST: the connection, and so
/// the lock, then ends on our side too (the guardian ends the command).
void enable_tcp_keepalive(int fd) {
  const auto set = [fd](int level, int option, int value) {
    ::setsockopt(fd, level, option, &value, sizeof value);  // best effort, as a plain connection has none
  };
  set(SOL_SOCKET, SO_KEEPALIVE, 1);
  set(IPPROTO_TCP, TCP_KEEPIDLE, 10);
  set(IPPROTO_TCP, TCP_KEEPINTVL, 5);
  set(IPPROTO_TCP, TCP_KEEPCNT, 3);
  set(IPPROTO_TCP, TCP_USER_TIMEOUT, 25'000);
}

std::string describe(const asio::error_code& ec) {
  // A TLS connection closed without close_notify: closed all the same.
  if (ec == asio::ssl::error::stream_truncated) return "server closed the connection";
  if (ec == asio::error::eof) return "server closed the connection";
  return ec.message();
}

double seconds(LockClient::Duration d) { return std::chrono::duration<double>(d).count(); }

/// Why the server sent `line` to a holder: `lost,REASON`, `shutting-down`, or anything else.
std::string describe_lost(const std::string& line) {
  if (strip(line) == answer::shutting_down) return "server is shutting down";
  if (const auto reason = parse_lost(line)) return fmt::format("server took the lock away ({})", *reason);
  return fmt::format("unexpected line from the server: '{}'", line);
}
}  // namespace

/// State of one synchronous operation, shared with its completion handler so the
/// handler stays valid even if the waiting code unwinds.
struct LockClient::Pending {
  bool done = false;
  bool timed_out = false;
  asio::error_code ec;
  std::size_t bytes = 0;
};

struct LockClient::TlsStream {
  TlsStream(asio::ip::tcp::socket& socket, asio::ssl::context& context) : stream(socket, context) {}
  asio::ssl::stream<asio::ip::tcp::socket&> stream;
};

template <class Operation>
void LockClient::with_stream(Operation&& operation) {
  if (tls_) {
    operation(tls_->stream, tls_);
  } else {
    operation(socket_, TlsHandle{});
  }
}

void LockClient::start_tls(const std::string& host, Clock::time_point deadline) {
  const ClientTls& settings = client_tls();
  try {
    if (!tls_context_) tls_context_ = make_client_tls_context(settings);
  } catch (const std::exception& e) {
    close();
    throw ClientError(Kind::connect_failed, e.what());
  }
  auto& context = *std::static_pointer_cast<asio::ssl::context>(tls_context_);
  tls_ = std::make_shared<TlsStream>(socket_, context);
  const std::string name = tls_verify_name(settings, host);
  asio::error_code not_an_address;
  (void)asio::ip::make_address(name, not_an_address);
  if (not_an_address) SSL_set_tlsext_host_name(tls_->stream.native_handle(), name.c_str());  // SNI
  tls_->stream.set_verify_callback(asio::ssl::host_name_verification(name));
  auto op = std::make_shared<Pending>();
  tls_->stream.async_handshake(asio::ssl::stream_base::client, [op, keep = tls_](const asio::error_code& ec) {
    op->ec = ec;
    op->done = true;
  });
  wait(*op, deadline);
  if (op->timed_out) {
    close();
    throw ClientError(Kind::connect_failed, fmt::format("timed out in the TLS handshake with {}", server_));
  }
  if (op->ec == asio::error::operation_aborted) {
    close();
    throw ClientError(Kind::cancelled, "connect cancelled");
  }
  if (op->ec) {
    const long verify = SSL_get_verify_result(tls_->stream.native_handle());
    std::string why = op->ec.message();
    if (verify != X509_V_OK) why += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    close();
    throw ClientError(Kind::connect_failed, fmt::format("TLS handshake with {} failed: {}", server_, why));
  }
  spdlog::debug("TLS with {}: {}", server_, SSL_get_version(tls_->stream.native_handle()));
}

LockClient::LockClient(asio::io_context& io)
    : io_(io), resolver_(io), socket_(io), keepalive_timer_(io), answer_timer_(io) {}

LockClient::~LockClient() {
  life_.reset();
  close();
}

void LockClient::wait(Pending& op, Clock::time_point deadline) {
  while (!op.done) {
    // A previous run may have drained the io_context, which leaves it stopped.
    if (io_.stopped()) io_.restart();
    if (!op.timed_out && Clock::now() >= deadline) {
      // Cancel and keep running until the handler has seen the cancellation.
      op.timed_out = true;
      resolver_.cancel();
      asio::error_code ignored;
      socket_.cancel(ignored);
    }
    if (op.timed_out || deadline == Clock::time_point::max()) {
      io_.run_one();
    } else {
      io_.run_one_until(deadline);
    }
  }
}

void LockClient::connect(const std::string& host, std::uint16_t port, Duration timeout) {
  close();
  server_ = fmt::format("{}:{}", host, port);
  const auto deadline = Clock::now() + timeout;

  auto resolving = std::make_shared<Pending>();
  asio::ip::tcp::resolver::results_type endpoints;
  if (is_localhost_name(host)) {
    // Loopback without /etc/hosts or DNS (RFC 6761): a static client in a bare root.
    const auto loopback = loopback_endpoints(port);
    endpoints = asio::ip::tcp::resolver::results_type::create(loopback.begin(), loopback.end(), host,
                                                                std::to_string(port));
    resolving->done = true;
  } else {
    resolver_.async_resolve(host, std::to_string(port),
                            [resolving, &endpoints](const asio::error_code& ec, auto results) {
                              resolving->ec = ec;
                              if (!ec) endpoints = std::move(results);
                              resolving->done = true;
                            });
  }
  wait(*resolving, deadline);
  if (resolving->timed_out) {
    throw ClientError(Kind::connect_failed, fmt::format("timed out resolving '{}'", host));
  }
  if (resolving->ec == asio::error::operation_aborted) throw ClientError(Kind::cancelled, "connect cancelled");
  if (resolving->ec) {
    throw ClientError(Kind::connect_failed, fmt::format("cannot resolve '{}': {}", host, resolving->ec.message()));
  }

  // Try every address: `localhost` may resolve to ::1 first while the server listens
  // only on 127.0.0.1. "Refused" means some host answered but nothing listens there.
  bool refused = false;
  std::string failure = "no address to connect to";
  for (const auto& entry : endpoints) {
    const auto endpoint = entry.endpoint();
    asio::error_code ec;
    socket_.close(ec);
    socket_.open(endpoint.protocol(), ec);
    if (ec) {
      failure = fmt::format("{}: {}", endpoint.address().to_string(), ec.message());
      continue;
    }
    auto connecting = std::make_shared<Pending>();
    socket_.async_connect(endpoint, [connecting](const asio::error_code& error) {
      connecting->ec = error;
      connecting->done = true;
    });
    wait(*connecting, deadline);
    if (connecting->timed_out) {
      socket_.close(ec);
      throw ClientError(Kind::connect_failed, fmt::format("timed out connecting to {}", server_));
    }
    if (connecting->ec == asio::error::operation_aborted) {
      socket_.close(ec);
      throw ClientError(Kind::cancelled, "connect cancelled");
    }
    if (!connecting->ec) {
      spdlog::debug("connected to {} ({})", server_, endpoint.address().to_string());
      endpoint_ = endpoint;
      // Without TCP_NODELAY a request/answer round trip can stall on delayed ACKs.
      socket_.set_option(asio::ip::tcp::no_delay(true), ec);
      // The socket must not leak into commands we run: the lock would outlive us.
      ::fcntl(socket_.native_handle(), F_SETFD, FD_CLOEXEC);
      enable_tcp_keepalive(socket_.native_handle());
      if (client_tls().enabled) start_tls(host, deadline);
      return;
    }
    spdlog::debug("connecting to {} failed: {}", endpoint.address().to_string(), connecting->ec.message());
    if (connecting->ec == asio::error::connection_refused) {
      refused = true;
    } else {
      failure = fmt::format("{}: {}", endpoint.address().to_string(), connecting->ec.message());
    }
  }
  asio::error_code ignored;
  socket_.close(ignored);
  if (refused) throw ClientError(Kind::refused, fmt::format("connection to {} refused", server_));
  throw ClientError(Kind::connect_failed, fmt::format("cannot connect to {}: {}", server_, failure));
}

bool LockClient::lock(std::string_view name, std::optional<std::string_view> client_id, Duration timeout) {
  LockRequest request;
  request.name = std::string{name};
  if (client_id) {
    if (!is_valid_client_id(*client_id)) {
      throw std::invalid_argument(fmt::format("invalid client id '{}'", *client_id));
    }
    request.client_id = std::string{*client_id};
  }
  // No wait: the timeout is the whole answer timeout, as before the extensions.
  return lock(request, timeout).granted;
}

std::string LockClient::request_lock(const LockRequest& request, std::optional<Ttl> ttl, Duration margin) {
  const std::string line = format_lock_request(request, ttl);
  // The answer comes when the wait ends; give it the margin on top.
  auto deadline = Clock::time_point::max();
  if (request.wait_seconds) {
    const auto wait = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(*request.wait_seconds));
    deadline = Clock::now() + wait + margin;
  }
  return std::string{strip(exchange_until(line, deadline))};
}

LockResult LockClient::lock(const LockRequest& request, Duration margin) {
  const std::string answer = request_lock(request, std::nullopt, margin);
  if (const auto grant = parse_lock_grant(answer)) return *grant;
  close();  // the server closes after any other answer
  if (answer == answer::not_granted) return LockResult{};
  if (is_error_answer(answer)) {
    throw ClientError(Kind::server_error, fmt::format("lock '{}' refused by the server: {}", request.name, answer));
  }
  throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to the lock request", answer));
}

DetachedLockResult LockClient::lock_detached(const LockRequest& request, Ttl ttl, Duration margin) {
  const std::string answer = request_lock(request, ttl, margin);
  close();  // the server closes after every answer to a detached request
  DetachedLockResult result;
  if (const auto grant = parse_detached_grant(answer)) {
    result.granted = true;
    result.id = grant->id;
    result.token = grant->token;
    return result;
  }
  if (answer == answer::not_granted) return result;
  if (is_error_answer(answer)) {
    throw ClientError(Kind::server_error, fmt::format("lock '{}' refused by the server: {}", request.name, answer));
  }
  if (parse_lock_grant(answer)) {
    // A server without detached locks ignores `ttl:` and ties the lock to the
    // connection, which we have just closed: the lock is free again.
    throw ClientError(Kind::unexpected_answer,
                      fmt::format("server answered '{}' to a detached lock request: it does not support detached "
                                  "locks (the lock was freed again)",
                                  answer));
  }
  throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to the detached lock request", answer));
}

void LockClient::unlock(std::string_view id, Duration timeout) {
  by_id(action::unlock, id, format_unlock_request(id), answer::released, timeout);
}

std::string LockClient::unlock_name(std::string_view name, std::string_view admin_token, Duration timeout) {
  const std::string request = format_unlock_name_request(name, admin_token);
  std::string answer{strip(exchange(request, timeout))};
  close();  // the server closes after the answer
  return answer;
}

void LockClient::renew(std::string_view id, Ttl ttl, Duration timeout) {
  by_id(action::renew, id, format_renew_request(id, ttl), answer::renewed, timeout);
}

void LockClient::by_id(std::string_view action, std::string_view id, const std::string& request,
                       std::string_view expected, Duration timeout) {
  const std::string answer{strip(exchange(request, timeout))};
  close();  // the server closes after the answer
  if (answer == expected) return;
  if (is_error_answer(answer)) {
    throw ClientError(Kind::server_error, fmt::format("{} of lock id {} refused by the server: {}", action, id, answer));
  }
  throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to {}", answer, action));
}

std::string LockClient::locks(std::optional<std::string_view> name, Duration timeout) {
  const std::string answer = exchange(format_locks_request(name), timeout);
  close();
  const auto json = parse_locks_answer(answer);
  if (!json) throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to .locks", answer));
  return std::string{*json};
}

void LockClient::release(Duration timeout) {
  const std::string answer = exchange(format_request(action::release), timeout);
  close();
  if (strip(answer) != answer::released) {
    throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to release", answer));
  }
}

void LockClient::keepalive(Duration timeout) {
  const std::string answer = exchange(format_request(action::keepalive), timeout);
  if (strip(answer) != answer::alive) {
    close();
    throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to keepalive", answer));
  }
}

void LockClient::ping(Duration timeout) {
  const std::string answer = exchange(format_request(action::ping), timeout);
  close();
  if (strip(answer) != answer::pong) {
    throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to ping", answer));
  }
}

std::string LockClient::stats(Duration timeout) {
  const std::string answer = exchange(format_request(action::stats), timeout);
  close();
  const auto json = parse_stats_answer(answer);
  if (!json) throw ClientError(Kind::unexpected_answer, fmt::format("server answered '{}' to stats", answer));
  return std::string{*json};
}

void LockClient::require_open() const {
  if (!socket_.is_open()) throw ClientError(Kind::not_connected, "not connected");
  if (watching_) throw std::logic_error("LockClient: synchronous operation while watching");
}

std::string LockClient::exchange(std::string_view request, Duration timeout) {
  return exchange_until(request, Clock::now() + timeout);
}

std::string LockClient::exchange_until(std::string_view request, Clock::time_point deadline) {
  require_open();
  spdlog::debug("sending {:?}", request);
  write_all(std::string{request}, deadline);
  while (true) {
    std::string line = read_line(deadline);
    spdlog::debug("received {:?}", line);
    // Answers to keepalives sent while watching may still be on their way.
    if (pending_keepalives_ > 0 && strip(line) == answer::alive) {
      --pending_keepalives_;
      continue;
    }
    return line;
  }
}

void LockClient::write_all(const std::string& data, Clock::time_point deadline) {
  auto op = std::make_shared<Pending>();
  auto bytes = std::make_shared<std::string>(data);
  with_stream([&](auto& stream, TlsHandle keep) {
    asio::async_write(stream, asio::buffer(*bytes), [op, bytes, keep](const asio::error_code& ec, std::size_t) {
      op->ec = ec;
      op->done = true;
    });
  });
  wait(*op, deadline);
  if (op->timed_out) throw ClientError(Kind::timeout, "timed out sending to the server");
  if (op->ec == asio::error::operation_aborted) throw ClientError(Kind::cancelled, "operation cancelled");
  if (op->ec) {
    close();
    throw ClientError(Kind::connection_lost, fmt::format("cannot send to the server: {}", describe(op->ec)));
  }
}

std::string LockClient::take_line(std::size_t length) {
  std::string line = buffer_.substr(0, length - 1);
  buffer_.erase(0, length);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string LockClient::read_line(Clock::time_point deadline) {
  if (const auto end = buffer_.find('\n'); end != std::string::npos) return take_line(end + 1);
  auto op = std::make_shared<Pending>();
  with_stream([&](auto& stream, TlsHandle keep) {
    asio::async_read_until(stream, asio::dynamic_buffer(buffer_, max_answer_length), '\n',
                           [op, keep](const asio::error_code& ec, std::size_t n) {
                             op->ec = ec;
                             op->bytes = n;
                             op->done = true;
                           });
  });
  wait(*op, deadline);
  if (op->timed_out) {
    throw ClientError(Kind::timeout, fmt::format("no answer from {} in time", server_));
  }
  if (op->ec == asio::error::operation_aborted) throw ClientError(Kind::cancelled, "operation cancelled");
  if (op->ec == asio::error::not_found) {
    close();
    throw ClientError(Kind::unexpected_answer, "answer line from the server is too long");
  }
  if (op->ec) {
    close();
    throw ClientError(Kind::connection_lost, describe(op->ec));
  }
  return take_line(op->bytes);
}

std::optional<std::string> LockClient::lost_already() {
  require_open();
  if (const auto end = buffer_.find('\n'); end != std::string::npos) return describe_lost(take_line(end + 1));
  if (tls_) {
    // Records read from the socket together with the grant's wait in the TLS stream, where
    // poll() cannot see them: each is a line (or the close_notify) sent after the grant.
    SSL* ssl = tls_->stream.native_handle();
    if (SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) {
      char chunk[1024];
      const int got = SSL_read(ssl, chunk, sizeof chunk);  // no operation is pending on the stream
      const int failure = got > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, got);
      ERR_clear_error();
      if (failure == SSL_ERROR_ZERO_RETURN) return std::string("server closed the connection");
      if (got <= 0) return std::string("unexpected data from the server (part of a TLS record)");
      buffer_.append(chunk, static_cast<std::size_t>(got));
      if (const auto end = buffer_.find('\n'); end != std::string::npos) return describe_lost(take_line(end + 1));
      return fmt::format("unexpected data from the server: '{}'", buffer_);
    }
  }
  pollfd ready{socket_.native_handle(), POLLIN | POLLRDHUP, 0};
  int polled = 0;
  do {
    polled = ::poll(&ready, 1, 0);
  } while (polled < 0 && errno == EINTR);
  if (polled <= 0) return std::nullopt;
  char chunk[1024];
  const ssize_t got = ::recv(socket_.native_handle(), chunk, sizeof chunk, MSG_DONTWAIT);
  if (got == 0) return std::string("server closed the connection");
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if ((ready.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) return std::nullopt;
      return std::string("server closed the connection");
    }
    return std::string(std::strerror(errno));
  }
  buffer_.append(chunk, static_cast<std::size_t>(got));
  if (const auto end = buffer_.find('\n'); end != std::string::npos) return describe_lost(take_line(end + 1));
  return fmt::format("unexpected data from the server: '{}'", buffer_);
}

void LockClient::start_watch(std::optional<Duration> keepalive_every, LostHandler on_lost, Duration answer_timeout) {
  require_open();
  watching_ = true;
  ++watch_generation_;
  keepalive_every_ = keepalive_every;
  watch_answer_timeout_ = answer_timeout;
  on_lost_ = std::move(on_lost);
  watch_read();
  if (keepalive_every_) schedule_keepalive();
}

void LockClient::stop_watch() {
  if (!watching_) return;
  watching_ = false;
  ++watch_generation_;
  keepalive_timer_.cancel();
  answer_timer_.cancel();
  asio::error_code ignored;
  socket_.cancel(ignored);
  on_lost_ = nullptr;
}

void LockClient::watch_read() {
  // Lines may already be buffered, e.g. pipelined after the `ok`.
  if (const auto end = buffer_.find('\n'); end != std::string::npos) {
    const std::string line = take_line(end + 1);
    if (pending_keepalives_ > 0 && strip(line) == answer::alive) {
      --pending_keepalives_;
      if (pending_keepalives_ == 0) answer_timer_.cancel();
      spdlog::debug("keepalive answered");
      asio::post(io_, [this, life = std::weak_ptr<int>(life_), generation = watch_generation_] {
        if (!life.expired() && watching_ && generation == watch_generation_) watch_read();
      });
      return;
    }
    watch_failed(describe_lost(line));
    return;
  }
  with_stream([&](auto& stream, TlsHandle keep) {
    asio::async_read_until(stream, asio::dynamic_buffer(buffer_, max_answer_length), '\n',
                           [this, keep, life = std::weak_ptr<int>(life_), generation = watch_generation_](
                               const asio::error_code& ec, std::size_t) {
                             if (life.expired() || !watching_ || generation != watch_generation_) return;
                             if (ec == asio::error::not_found) {
                               watch_failed("line from the server is too long");
                             } else if (ec) {
                               watch_failed(describe(ec));
                             } else {
                               watch_read();
                             }
                           });
  });
}

void LockClient::schedule_keepalive() {
  keepalive_timer_.expires_after(*keepalive_every_);
  keepalive_timer_.async_wait(
      [this, life = std::weak_ptr<int>(life_), generation = watch_generation_](const asio::error_code& ec) {
        if (ec || life.expired() || !watching_ || generation != watch_generation_) return;
        send_keepalive();
        schedule_keepalive();
      });
}

void LockClient::send_keepalive() {
  // One keepalive in flight at a time; the answer timer reports one that stays unanswered.
  if (pending_keepalives_ > 0) return;
  ++pending_keepalives_;
  spdlog::debug("sending keepalive");
  keepalive_request_ = format_request(action::keepalive);
  with_stream([&](auto& stream, TlsHandle keep) {
    asio::async_write(stream, asio::buffer(keepalive_request_),
                      [this, keep, life = std::weak_ptr<int>(life_), generation = watch_generation_](
                          const asio::error_code& ec, std::size_t) {
                        if (!ec || life.expired() || !watching_ || generation != watch_generation_) return;
                        watch_failed(fmt::format("cannot send keepalive: {}", describe(ec)));
                      });
  });
  answer_timer_.expires_after(watch_answer_timeout_);
  answer_timer_.async_wait(
      [this, life = std::weak_ptr<int>(life_), generation = watch_generation_](const asio::error_code& ec) {
        if (ec || life.expired() || !watching_ || generation != watch_generation_) return;
        if (pending_keepalives_ > 0) {
          watch_failed(fmt::format("no answer to keepalive within {:g} s", seconds(watch_answer_timeout_)));
        }
      });
}

void LockClient::watch_failed(const std::string& reason) {
  LostHandler handler = std::move(on_lost_);
  stop_watch();
  close();
  if (handler) handler(reason);
}

void LockClient::cancel() {
  resolver_.cancel();
  asio::error_code ignored;
  socket_.cancel(ignored);
}

void LockClient::close() {
  watching_ = false;
  ++watch_generation_;
  on_lost_ = nullptr;
  keepalive_timer_.cancel();
  answer_timer_.cancel();
  buffer_.clear();
  pending_keepalives_ = 0;
  close_socket();
}

void LockClient::close_socket() {
  tls_.reset();  // a pending operation's handler keeps it until it has run
  if (!socket_.is_open()) return;
  // Another process (tcpnetlock_do's guardian) may hold a copy of the descriptor, which
  // keeps the socket open after our close(): the event loop must then be told to stop
  // watching it, which Asio's close() skips (a closed socket leaves epoll by itself only
  // when no copy is left) and release() does.
  asio::error_code ec;
  const int fd = socket_.release(ec);
  if (ec) {
    socket_.close(ec);
  } else {
    ::close(fd);
  }
}

}  // namespace tnl
