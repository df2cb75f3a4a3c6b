#include "http_connection.hpp"

#include <algorithm>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "http_connection_manager.hpp"
#include "http_request_gate.hpp"

namespace tnl {

namespace {

HttpResponse error_response(int status, std::string_view message) {
  return HttpResponse{status, "application/json", nlohmann::json{{"error", message}}.dump(), {}};
}

}  // namespace

HttpConnection::HttpConnection(MaybeTlsSocket socket, std::string peer, std::uint64_t id, HttpConnectionManager& manager,
                               HttpRequestGate& gate, const HttpConnectionSettings& settings)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      id_(id),
      manager_(manager),
      gate_(gate),
      settings_(settings),
      peer_(std::move(peer)),
      parser_(settings.limits) {
  // For the best-effort sends (100 Continue); Asio's own operations work either way.
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
}

void HttpConnection::start() {
  spdlog::debug("HTTP connection {} from {} opened", id_, peer_);
  // A new connection must send its first request promptly, as if its first byte came now.
  enter(Phase::awaiting, Clock::now() + settings_.request_timeout);
  read();
}

void HttpConnection::stop() { end(); }

void HttpConnection::enter(Phase phase, Clock::time_point deadline) {
  phase_ = phase;
  using Eviction = HttpConnectionManager::Eviction;
  if (phase == Phase::awaiting || phase == Phase::head || phase == Phase::closing) {
    manager_.evictable(id_, Clock::now(), Eviction::idle);
  } else if (phase == Phase::answering || (phase == Phase::writing && answer_changed_locks_)) {
    manager_.busy(id_);
  } else {
    manager_.evictable(id_, Clock::now(), Eviction::last_resort);
  }
  const std::uint64_t generation = ++deadline_generation_;
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this(), generation](std::error_code error) {
    if (!error && generation == self->deadline_generation_ && !self->ended_) self->on_deadline();
  });
}

void HttpConnection::read() {
  if (reading_ || ended_) return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(input_), [self = shared_from_this()](std::error_code error, std::size_t n) {
    self->on_read(error, n);
  });
}

void HttpConnection::on_read(std::error_code error, std::size_t received) {
  reading_ = false;
  if (ended_) return;
  if (error == asio::error::operation_aborted) {  // cancelled to answer a timed-out request
    if (phase_ == Phase::closing) read();
    return;
  }
  if (error) return end();  // EOF or reset: nobody is left to answer
  if (phase_ == Phase::closing) return read();  // draining: discarded
  input_begin_ = 0;
  input_end_ = received;
  process();
}

void HttpConnection::process() {
  while (!ended_ && phase_ != Phase::answering && phase_ != Phase::writing && phase_ != Phase::closing) {
    if (input_begin_ == input_end_) return read();
    input_begin_ += parser_.feed(input_.data() + input_begin_, input_end_ - input_begin_);
    switch (parser_.state()) {
      case HttpRequestParser::State::idle:  // only blank lines between requests so far
        break;
      case HttpRequestParser::State::head:
        if (phase_ == Phase::awaiting) enter(Phase::head, Clock::now() + settings_.request_timeout);
        break;
      case HttpRequestParser::State::body:
        if (phase_ == Phase::awaiting) enter(Phase::head, Clock::now() + settings_.request_timeout);
        if (phase_ == Phase::head) {
          // Head complete: evicted only as a last resort; the request's deadline still runs.
          spdlog::debug("HTTP connection {} from {}: head received, reading the body", id_, peer_);
          phase_ = Phase::body;
          manager_.evictable(id_, Clock::now(), HttpConnectionManager::Eviction::last_resort);
          if (parser_.expects_continue()) send_continue();
        }
        break;
      case HttpRequestParser::State::complete:
        return answer(parser_.take());
      case HttpRequestParser::State::failed: {
        const auto& failure = parser_.error();
        spdlog::info("HTTP connection {} from {}: {} ({}); closing", id_, peer_, failure.message, failure.status);
        return respond(error_response(failure.status, failure.message), HttpFraming{false, false, 1});
      }
    }
  }
}

void HttpConnection::answer(HttpMessage message) {
  HttpFraming framing;
  framing.head = message.method == "HEAD";
  framing.keep_alive = message.keep_alive;
  framing.version_minor = message.version_minor;
  if (const TlsSession* tls = socket_.tls(); tls && !tls->identity().empty() && peer_.find('@') == std::string::npos) {
    peer_ = tls->identity() + "@" + peer_;
  }
  const std::uint64_t request = ++request_number_;
  answering_ = message.method + " " + message.target.substr(0, 200);
  // Set before asking: the answer may come before handle() returns (nothing else runs
  // meanwhile, so the deadline and the manager are told only if it does not), or later.
  phase_ = Phase::answering;
  gate_.handle(std::move(message), peer_,
               [weak = weak_from_this(), request, framing](HttpResponse response) {
                 if (const auto self = weak.lock()) {
                   self->on_answer(request, std::move(response), framing);
                 } else {
                   if (response.changed_locks) {
                     spdlog::warn("HTTP: an answer that changed a lock came after its connection was gone: {} {}",
                                  response.status, response.body.substr(0, 512));
                   }
                   if (response.undelivered) response.undelivered();
                 }
               });
  if (!ended_ && phase_ == Phase::answering && request == request_number_) {
    enter(Phase::answering, Clock::now() + settings_.answer_timeout);
  }
}

void HttpConnection::on_answer(std::uint64_t request, HttpResponse response, const HttpFraming& framing) {
  if (ended_ || request != request_number_ || phase_ != Phase::answering) {
    // Its client is gone or was told 503: whatever this says, it cannot learn it now.
    const auto level = response.changed_locks ? spdlog::level::warn : spdlog::level::debug;
    spdlog::log(level, "HTTP connection {} from {}: the answer to {} came after the connection {}; dropped: {} {}", id_,
                peer_, answering_, ended_ ? "ended" : "gave up on it", response.status, response.body.substr(0, 512));
    if (response.undelivered) response.undelivered();
    return;
  }
  respond(response, framing);
}

void HttpConnection::respond(const HttpResponse& response, const HttpFraming& framing) {
  output_ = http_response_text(response, framing);
  close_after_write_ = !framing.keep_alive;
  answer_changed_locks_ = response.changed_locks;
  const auto now = Clock::now();
  write_deadline_ = now + settings_.write_timeout;
  enter(Phase::writing, answer_changed_locks_ ? std::min(write_deadline_, now + settings_.protected_write) : write_deadline_);
  asio::async_write(socket_, asio::buffer(output_),
                    [self = shared_from_this()](std::error_code error, std::size_t) { self->on_write(error); });
}

void HttpConnection::on_write(std::error_code error) {
  if (ended_) return;
  if (error) return end();
  output_.clear();
  if (output_.capacity() > 16 * 1024) std::string().swap(output_);  // e.g. after the status page or a long list
  if (close_after_write_) return begin_close();
  enter(Phase::awaiting, Clock::now() + settings_.idle_timeout);
  process();  // a pipelined request may be waiting in the input already
}

void HttpConnection::send_continue() {
  static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::error_code ignored;
  // Nothing else is being written now; if it does not fit, the client sends its body after
  // its own short wait anyway.
  socket_.send(asio::buffer(interim.data(), interim.size()), 0, ignored);
}

void HttpConnection::begin_close() {
  // Closing with unread input would send a reset that can destroy our last answer before
  // the client reads it: send FIN, then drain until the client closes or the linger ends.
  std::error_code ignored;
  socket_.shutdown(TcpSocket::shutdown_send, ignored);
  enter(Phase::closing, Clock::now() + settings_.linger_timeout);
  read();
}

void HttpConnection::on_deadline() {
  switch (phase_) {
    case Phase::head:
    case Phase::body: {
      spdlog::info("HTTP connection {} from {}: request not complete within {} ms; closing", id_, peer_,
                   settings_.request_timeout.count());
      std::error_code ignored;
      socket_.cancel(ignored);  // the pending read; input_ is all parsed, so nothing is lost
      return respond(error_response(408, "request not received in time"), HttpFraming{false, false, 1});
    }
    case Phase::answering: {
      // The backend has not answered in time (out of reach, overloaded): the client is
      // told so, and whatever answer comes later is dropped (on_answer).
      spdlog::warn("HTTP connection {} from {}: no answer to {} from the lock backend within {} ms; closing", id_, peer_,
                   answering_, settings_.answer_timeout.count());
      ++request_number_;
      HttpResponse timeout = error_response(503, "the lock backend did not answer in time");
      timeout.headers.emplace_back("Retry-After", "1");
      return respond(timeout, HttpFraming{false, false, 1});
    }
    case Phase::awaiting:
      if (TlsSession* tls = socket_.tls(); tls && !tls->established()) tls->handshake_timed_out();
      spdlog::debug("HTTP connection {} from {} idle; closing", id_, peer_);
      return end();
    case Phase::writing:
      if (answer_changed_locks_ && Clock::now() < write_deadline_) {
        // Its client has left the answer to a change untaken this long: it pipelines and
        // does not read. From now on it goes like a slow reader when room is needed.
        spdlog::info("HTTP connection {} from {}: answer to a change not taken within {} ms; evictable", id_, peer_,
                     settings_.protected_write.count());
        answer_changed_locks_ = false;
        return enter(Phase::writing, write_deadline_);
      }
      spdlog::info("HTTP connection {} from {}: answer not taken within {} ms; closing", id_, peer_,
                   settings_.write_timeout.count());
      return end();
    case Phase::closing:
      return end();
  }
}

void HttpConnection::end() {
  if (ended_) return;
  ended_ = true;
  std::error_code ignored;
  socket_.close(ignored);
  timer_.cancel();
  spdlog::debug("HTTP connection {} from {} closed", id_, peer_);
  manager_.remove(id_);
}

}  // namespace tnl
