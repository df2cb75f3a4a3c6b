#include "connection.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <asio/bind_allocator.hpp>
#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "connection_manager.hpp"
#include "protocol_answers.hpp"
#include "request_handler.hpp"
#include "socket_options.hpp"

namespace tnl {

namespace {

/// Answers at least this long are shared rather than copied into the output string.
constexpr std::size_t share_from = 4096;

}  // namespace

Connection::Connection(MaybeTlsSocket socket, std::string peer, std::uint64_t id, ConnectionManager& manager,
                       RequestHandler& handler)
    : socket_(std::move(socket)), id_(id), manager_(manager), handler_(handler), peer_(std::move(peer)) {
  // Reads and writes are tried only when the socket said it is ready; non-blocking all the same.
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
}

const ServerConfig& Connection::config() const { return handler_.config(); }

void Connection::start(std::uint32_t random) {
  spdlog::debug("connection {} from {} opened", id_, peer_);
  if (config().tcp_keepalive.enabled()) {
    apply_keepalive(socket_.tcp(), config().tcp_keepalive, spread_keepalive(config().tcp_keepalive, random));
  }
  if (config().first_line_timeout.count() > 0) expect_by(Clock::now() + config().first_line_timeout);
  manager_.reclaimable(id_, true);  // until its first line
  read();
}

bool Connection::reclaim() {
  if (ended_) return false;
  if (got_first_line_) {
    // Lingering after its last answer: written, but maybe not delivered yet (a slow link
    // still has it in our send queue, which the reset below would drop: a detached lock's
    // `ok,id:` lost on its way). Only once the client has acknowledged all of it.
    int unacknowledged = 0;
    if (::ioctl(socket_.native_handle(), SIOCOUTQ, &unacknowledged) != 0 || unacknowledged != 0) return false;
  }
  spdlog::debug("connection {} from {} closed to make room ({})", id_, peer_,
                got_first_line_ ? "lingering after its last answer" : "no request yet");
  std::error_code ignored;
  if (!got_first_line_) {
    const std::string refusal = std::string{answer::out_of_descriptors} + "\n";
    socket_.send(asio::buffer(refusal), 0, ignored);
  }
  reset_on_close(socket_.tcp());  // the descriptor is free at once, with no TIME_WAIT to keep
  end();
  return true;
}

void Connection::watch_holder() {
  if (config().holder_timeout.count() <= 0 || closing_) return;
  // A waiter's silence while queued does not count: the clock starts at the grant.
  last_line_at_ = std::max(last_line_at_, Clock::now());
  rearm();
}

void Connection::expect_by(Clock::time_point when) {
  stage_deadline_ = when;
  // A later deadline armed now is brought forward; an earlier one fires first and re-arms.
  if (!has_deadline_ || when < deadline_) set_deadline(when);
}

void Connection::rearm() {
  Clock::time_point next = stage_deadline_;
  if (!closing_ && lock_state() == LockState::holding && config().holder_timeout.count() > 0) {
    next = std::min(next, last_line_at_ + config().holder_timeout);
  }
  if (next == no_deadline) return clear_deadline();
  if (!has_deadline_ || deadline_ != next) set_deadline(next);
}

void Connection::set_deadline(Clock::time_point when) {
  clear_deadline();
  manager_.add_deadline(id_, when);
  deadline_ = when;
  has_deadline_ = true;
}

void Connection::clear_deadline() {
  if (!has_deadline_) return;
  manager_.cancel_deadline(id_, deadline_);
  has_deadline_ = false;
}

void Connection::deadline_passed(Clock::time_point when) {
  // Another connection's deadline, acted on first in the same batch, may have led to this
  // one's being replaced (e.g. by a grant); then the replacement is still pending.
  if (!has_deadline_ || deadline_ != when) return;
  has_deadline_ = false;  // the manager has already taken it off
  if (ended_) return;
  const auto now = Clock::now();
  if (now >= stage_deadline_) return stage_deadline_passed();
  if (!closing_ && lock_state() == LockState::holding && config().holder_timeout.count() > 0 &&
      now - last_line_at_ >= config().holder_timeout) {
    return handler_.holder_timed_out(*this);
  }
  rearm();  // e.g. a line came in meanwhile: look again one holder timeout after it
}

void Connection::stage_deadline_passed() {
  stage_deadline_ = no_deadline;
  if (closing_) {
    // The client neither took the last answer in time (cut it: nobody waits for it any
    // more) nor, having taken it, closed its end: either way, done.
    if (has_output()) return abort(answers_not_read());
    return end();
  }
  if (!got_first_line_) {
    if (TlsSession* tls = socket_.tls(); tls && !tls->established()) {
      tls->handshake_timed_out();  // nothing can be said to it: cut
      return abort(std::make_error_code(std::errc::timed_out));
    }
    spdlog::info("connection {} from {} sent no request in time; closing", id_, peer_);
    return answer(answer::first_line_timeout, Then::close);
  }
  // An answer waited for the socket for the whole write timeout: the client does not read.
  spdlog::warn("connection {} from {} takes no answers; cutting it", id_, peer_);
  abort(answers_not_read());
}

void Connection::shut_down() {
  if (ended_) return;
  // Told (unless already on its way out, e.g. with a long `.locks` to a slow reader), then
  // gone within the linger time from now, however long its answers wait for the socket:
  // shutdown is never held up by the write timeout.
  const auto limit = Clock::now() + config().linger_timeout;
  if (!closing_) answer(answer::shutting_down, Then::close);
  if (!ended_ && limit < stage_deadline_) expect_by(limit);
}

void Connection::answer(std::string_view line, Then then) {
  if (ended_ || closing_) return;
  output_.append(line).push_back('\n');
  queued(then);
}

void Connection::answer(std::string&& line, Then then) {
  if (ended_ || closing_) return;
  if (line.size() < share_from || has_output()) return answer(std::string_view(line), then);
  line.push_back('\n');
  answer(std::make_shared<const std::string>(std::move(line)), then);
}

void Connection::answer(std::shared_ptr<const std::string> line_with_newline, Then then) {
  if (ended_ || closing_ || !line_with_newline) return;
  // Whatever the client does not read stays in our memory, at most this one shared
  // string, not in the kernel's (socket_options.hpp).
  if (line_with_newline->size() > 2 * max_write_chunk) limit_send_buffer(socket_.tcp(), static_cast<int>(max_write_chunk));
  if (has_output()) {
    output_.append(*line_with_newline);  // keeps the order; `.locks` is always the first answer
  } else {
    shared_output_ = std::move(line_with_newline);
    written_ = 0;
  }
  queued(then);
}

void Connection::queued(Then then) {
  // An answer the connection waited for that came later, from the backend: the lines that
  // arrived meanwhile are acted on once it is written (at once, or from on_writable()).
  const bool resume = (line_flags_ & awaiting_answer) != 0 && (line_flags_ & handling_line) == 0;
  line_flags_ &= static_cast<std::uint8_t>(~awaiting_answer);
  if (then == Then::close) begin_close();
  const bool written = send_pending();
  if (written && closing_) return finish_close();
  if (written && resume) next_input();
  // Not closing: whoever asked for the answer goes on with the next line (handle_next_line),
  // or the connection is already reading (a waiter granted its lock).
}

bool Connection::send_pending() {
  if (ended_ || waiting_to_write_ || end_reason_) return false;
  if (!has_output()) return true;
  const std::string& buffer = shared_output_ ? *shared_output_ : output_;
  const std::size_t chunk = std::min(buffer.size() - written_, max_write_chunk);
  std::error_code error;
  const std::size_t sent = socket_.send(asio::buffer(buffer.data() + written_, chunk), 0, error);
  if (error && error != asio::error::would_block && error != asio::error::try_again) {
    // The client is gone. End from the event loop: this may run inside a lock grant.
    end_reason_ = error;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->end(); });
    return false;
  }
  written_ += sent;
  if (shared_output_ && written_ == shared_output_->size()) {
    shared_output_.reset();
    written_ = 0;
  }
  if (!has_output()) {
    output_.clear();
    written_ = 0;
    if (output_.capacity() > std::string().capacity()) std::string().swap(output_);  // e.g. after `.stats`
    if (!closing_) stage_deadline_ = no_deadline;  // the write timeout is over; an armed one finds nothing
    return true;
  }
  // The socket took less than all, or one chunk went and others get their turn: go on when
  // it can take more, for at most the write timeout from the first time it could not.
  if (stage_deadline_ == no_deadline) expect_by(Clock::now() + config().write_timeout);
  waiting_to_write_ = true;
  socket_.async_wait(MaybeTlsSocket::wait_write,
                     [self = shared_from_this()](std::error_code wait_error) { self->on_writable(wait_error); });
  return false;
}

void Connection::on_writable(std::error_code error) {
  waiting_to_write_ = false;
  if (ended_) return;
  if (error) {
    end_reason_ = error;
    return end();
  }
  if (!send_pending()) return;
  if (closing_) return finish_close();
  next_input();
}

void Connection::finish_close() {
  std::error_code ignored;
  socket_.shutdown(MaybeTlsSocket::shutdown_send, ignored);
  manager_.reclaimable(id_, true);  // answered: only waiting for the client to close
  // Draining what the client still sends, so that closing does not turn into a reset that
  // could destroy our last answer in flight. Ends at EOF or at the linger deadline.
  stage_deadline_ = Clock::now() + config().linger_timeout;
  set_deadline(stage_deadline_);
  read();
}

void Connection::read() {
  if (reading_ || ended_) return;
  reading_ = true;
  auto on_readable = [self = shared_from_this()](std::error_code error) { self->on_readable(error); };
  // In read_memory_: an idle holder's wait lasts for as long as it holds the lock.
  socket_.async_wait(MaybeTlsSocket::wait_read,
                     asio::bind_allocator(HandlerAllocator<void>(read_memory_), std::move(on_readable)));
}

void Connection::on_readable(std::error_code error) {
  reading_ = false;
  if (ended_) return;
  // "\r\n" may follow a maximal line; anything longer cannot be a valid request.
  const std::size_t limit = config().max_line_length + 2;
  std::size_t received = 0;
  if (!error) {
    char buffer[4096];
    const std::size_t room = closing_ ? sizeof buffer : std::min(sizeof buffer, limit - input_.size());
    received = socket_.receive(asio::buffer(buffer, room), 0, error);
    if (error == asio::error::would_block || error == asio::error::try_again) return read();  // spurious wake-up
    if (!closing_ && received > 0) {
      std::string_view fresh{buffer, received};
      // The LF of a CR LF (or the NUL of a CR NUL) whose CR came alone, already acted on.
      if (std::exchange(skip_line_end_rest_, false) && ends_open_cr(fresh.front())) fresh.remove_prefix(1);
      input_.append(fresh);
    }
  }
  if (closing_) {
    // Draining: ends at EOF (or an error) or at the linger deadline.
    if (error) return end();
    return read();
  }
  if (error) {
    // EOF or a broken connection: the client is gone, and so is its lock, right now.
    if (error != asio::error::eof) end_reason_ = error;
    return end();
  }
  next_input();
}

bool Connection::handle_next_line() {
  const auto end = find_line_end(input_);
  if (!end) return false;
  const std::string_view line{input_.data(), end->line_length};
  if (line.size() > config().max_line_length) {
    answer(answer::line_too_long, Then::close);
    return true;
  }
  skip_line_end_rest_ = end->open_cr;
  last_line_at_ = Clock::now();
  if (!got_first_line_) {
    got_first_line_ = true;
    if (const TlsSession* tls = socket_.tls(); tls && !tls->identity().empty()) peer_ = tls->identity() + "@" + peer_;
    stage_deadline_ = no_deadline;
    clear_deadline();  // an idle holder has no deadline at all
    manager_.reclaimable(id_, false);
  }
  line_flags_ |= handling_line;
  handler_.handle_line(*this, line);
  line_flags_ &= static_cast<std::uint8_t>(~handling_line);
  input_.erase(0, end->line_length + end->end_length);
  if (input_.empty()) input_.shrink_to_fit();  // an idle holder keeps no buffer
  return true;
}

void Connection::next_input() {
  // Lines that arrived together are acted on in turn without waiting for more input, but
  // each only once the answers to the one before are written: a client that pipelines
  // without reading cannot make us queue answers without bound.
  while (!closing_ && !ended_ && !has_output() && (line_flags_ & awaiting_answer) == 0) {
    if (handle_next_line()) continue;
    if (input_.size() >= config().max_line_length + 2) {  // "\r\n" may follow a maximal line
      spdlog::info("connection {} from {} sent a line longer than {} bytes", id_, peer_, config().max_line_length);
      return answer(answer::line_too_long, Then::close);
    }
    return read();
  }
}

void Connection::begin_close() {
  if (closing_) return;
  closing_ = true;
  // A connection on its way out owns nothing: its lock is free for the next request now,
  // not when the client gets round to closing its end.
  handler_.connection_ended(*this, end_reason_);
  // The last answers must be written within the write timeout, then the client has the
  // linger time to close its end. Answers already waiting for the socket keep the write
  // deadline they have (dropping it would leave a client that never reads connected for
  // good, and a shutdown waiting for it); otherwise it is armed only if the socket does not
  // take them at once.
  if (!waiting_to_write_) stage_deadline_ = no_deadline;
  rearm();  // a holder timeout armed before no longer applies
}

void Connection::abort(std::error_code why) {
  if (ended_) return;
  end_reason_ = why;
  end();
}

bool Connection::ended_by_client(std::error_code error) {
  return !error || error == asio::error::eof || error == asio::error::connection_reset ||
         error == asio::error::broken_pipe;
}

void Connection::end() {
  if (ended_) return;
  ended_ = true;
  std::error_code ignored;
  if (!ended_by_client(end_reason_)) {
    // The server gives up on this client (its keepalive probes or data went unanswered, or
    // it takes no answers). If it is in fact alive, it must learn at once that it has lost
    // its lock: a best-effort `lost,` (unless half an answer is out already) and an RST.
    // After a keepalive timeout Linux has already reset the connection itself, and the
    // socket can send nothing more.
    if (lock_state() == LockState::holding && written_ == 0) {
      const std::string lost =
          format_lost(end_reason_ == answers_not_read() ? lost_reason::answers_not_read : lost_reason::peer_unreachable) +
          "\n";
      socket_.send(asio::buffer(lost), 0, ignored);
    }
    reset_on_close(socket_.tcp());
  }
  handler_.connection_ended(*this, end_reason_);
  socket_.close(ignored);
  clear_deadline();
  spdlog::debug("connection {} from {} closed", id_, peer_);
  manager_.remove(shared_from_this());
}

}  // namespace tnl
