#include "connection.hpp"

#include <algorithm>
#include <asio/bind_allocator.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "connection_manager.hpp"
#include "request_handler.hpp"
#include "socket_options.hpp"

namespace tnl {

Connection::Connection(TcpSocket socket, std::string peer, std::uint64_t id, ConnectionManager& manager,
                       RequestHandler& handler, const ServerConfig& config)
    : socket_(std::move(socket)),
      id_(id),
      manager_(manager),
      handler_(handler),
      config_(config),
      peer_(std::move(peer)) {
  // read() receives only after the socket said it is readable; non-blocking all the same.
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
}

void Connection::start() {
  spdlog::debug("connection {} from {} opened", id_, peer_);
  if (config_.first_line_timeout.count() > 0) set_deadline(Clock::now() + config_.first_line_timeout);
  read();
}

void Connection::watch_holder() {
  if (config_.holder_timeout.count() <= 0 || closing_) return;
  // A waiter's silence while queued does not count: the clock starts at the grant.
  last_line_at_ = std::max(last_line_at_, Clock::now());
  arm_holder_timeout();
}

void Connection::arm_holder_timeout() { set_deadline(last_line_at_ + config_.holder_timeout); }

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
  if (closing_) return end();
  if (!got_first_line_) {
    spdlog::info("connection {} from {} sent no request in time; closing", id_, peer_);
    return answer(answer::first_line_timeout, Then::close);
  }
  if (lock_state_ == LockState::holding) {
    if (Clock::now() - last_line_at_ >= config_.holder_timeout) {
      return handler_.holder_timed_out(*this);
    }
    arm_holder_timeout();  // a line came in meanwhile: look again one timeout after it
  }
}

void Connection::shut_down() {
  if (ended_ || closing_) return;
  answer(answer::shutting_down, Then::close);
}

void Connection::answer(std::string&& line, Then then) {
  if (ended_ || closing_) return;
  if (!output_.empty()) return answer(std::string_view(line), then);
  output_ = std::move(line);
  output_.push_back('\n');
  if (then == Then::close) begin_close();
  write();
}

void Connection::answer(std::string_view line, Then then) {
  if (ended_ || closing_) return;
  output_.append(line).push_back('\n');
  if (then == Then::close) begin_close();
  write();
}

void Connection::start_waiting(std::string name) {
  lock_state_ = LockState::waiting;
  lock_name_ = std::move(name);
}

void Connection::clear_lock() {
  lock_state_ = LockState::none;
  lock_name_.clear();
}

void Connection::read() {
  if (reading_ || ended_) return;
  reading_ = true;
  auto on_readable = [self = shared_from_this()](std::error_code error) { self->on_readable(error); };
  // In read_memory_: an idle holder's wait lasts for as long as it holds the lock.
  socket_.async_wait(TcpSocket::wait_read,
                     asio::bind_allocator(HandlerAllocator<void>(read_memory_), std::move(on_readable)));
}

void Connection::on_readable(std::error_code error) {
  reading_ = false;
  if (ended_) return;
  // "\r\n" may follow a maximal line; anything longer cannot be a valid request.
  const std::size_t limit = config_.max_line_length + 2;
  std::size_t received = 0;
  if (!error) {
    char buffer[4096];
    const std::size_t room = closing_ ? sizeof buffer : std::min(sizeof buffer, limit - input_.size());
    received = socket_.receive(asio::buffer(buffer, room), 0, error);
    if (error == asio::error::would_block || error == asio::error::try_again) return read();  // spurious wake-up
    if (!closing_) input_.append(buffer, received);
  }
  if (closing_) {
    // Draining what the client still sends, so that closing does not turn into a reset
    // that could destroy our last answer in flight. Ends at EOF or at the linger deadline.
    if (error) return end();
    return read();
  }
  if (error) {
    // EOF or a broken connection: the client is gone, and so is its lock, right now.
    if (error != asio::error::eof) end_reason_ = error;
    return end();
  }
  if (handle_next_line()) return;
  if (input_.size() >= limit) {
    spdlog::info("connection {} from {} sent a line longer than {} bytes", id_, peer_, config_.max_line_length);
    return answer(answer::line_too_long, Then::close);
  }
  read();
}

bool Connection::handle_next_line() {
  const std::size_t newline = input_.find('\n');
  if (newline == std::string::npos) return false;
  std::string_view line{input_.data(), newline};
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > config_.max_line_length) {
    answer(answer::line_too_long, Then::close);
    return true;
  }
  last_line_at_ = Clock::now();
  if (!got_first_line_) {
    got_first_line_ = true;
    clear_deadline();
  }
  handler_.handle_line(*this, line);
  input_.erase(0, newline + 1);
  if (input_.empty()) input_.shrink_to_fit();  // an idle holder keeps no buffer
  // Act on the next line only once the answers to this one are written: a client that
  // pipelines without reading cannot make us queue answers without bound.
  if (!writing_ && !closing_ && !ended_) next_input();
  return true;
}

void Connection::write() {
  if (writing_ || ended_ || output_.empty()) return;
  writing_ = true;
  in_flight_.swap(output_);
  asio::async_write(socket_, asio::buffer(in_flight_),
                    [self = shared_from_this()](std::error_code error, std::size_t) { self->on_write(error); });
}

void Connection::next_input() {
  // A line that arrived with the previous one is acted on without waiting for more input.
  if (!handle_next_line()) read();
}

void Connection::on_write(std::error_code error) {
  writing_ = false;
  if (ended_) return;
  if (error) {
    end_reason_ = error;
    return end();
  }
  in_flight_.clear();
  if (in_flight_.capacity() > 4096) std::string().swap(in_flight_);  // e.g. after a large `.locks`
  if (!output_.empty()) return write();
  if (closing_) {
    std::error_code ignored;
    socket_.shutdown(TcpSocket::shutdown_send, ignored);
    return read();
  }
  next_input();
}

void Connection::begin_close() {
  if (closing_) return;
  closing_ = true;
  // A connection on its way out owns nothing: its lock is free for the next request now,
  // not when the client gets round to closing its end.
  handler_.connection_ended(*this, end_reason_);
  set_deadline(Clock::now() + config_.linger_timeout);
}

void Connection::end() {
  if (ended_) return;
  ended_ = true;
  handler_.connection_ended(*this, end_reason_);
  std::error_code ignored;
  socket_.close(ignored);
  clear_deadline();
  spdlog::debug("connection {} from {} closed", id_, peer_);
  manager_.remove(shared_from_this());
}

}  // namespace tnl
