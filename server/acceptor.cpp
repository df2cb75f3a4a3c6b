#include "acceptor.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <system_error>

namespace tnl {

Acceptor::Acceptor(TcpAcceptor listening, DescriptorReserve& reserve, std::string refusal, OnAccept on_accept,
                   std::function<void()> on_refused, MayAccept may_accept)
    : acceptor_(std::move(listening)),
      retry_(acceptor_.get_executor()),
      reserve_(reserve),
      refusal_(std::move(refusal)),
      on_accept_(std::move(on_accept)),
      on_refused_(std::move(on_refused)),
      may_accept_(std::move(may_accept)) {}

void Acceptor::start() { accept(); }

void Acceptor::pause() {
  if (paused_ || closed_) return;
  paused_ = true;
  std::error_code ignored;
  acceptor_.cancel(ignored);  // the pending accept or wait ends with operation_aborted
}

void Acceptor::resume() {
  if (!paused_) return;
  paused_ = false;
  accept();
}

void Acceptor::close() {
  closed_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
}

asio::ip::tcp::endpoint Acceptor::local_endpoint() const {
  std::error_code ignored;
  return acceptor_.local_endpoint(ignored);
}

void Acceptor::accept() {
  if (closed_ || busy_ || paused_) return;
  if (may_accept_ && !may_accept_()) {
    // Left in the kernel's queue until there is room: the backlog is the waiting room.
    paused_ = true;
    return;
  }
  busy_ = true;
  acceptor_.async_accept(peer_, [this](std::error_code error, TcpSocket socket) { on_accept(error, std::move(socket)); });
}

void Acceptor::on_accept(std::error_code error, TcpSocket socket) {
  busy_ = false;
  if (closed_) return;
  if (error == asio::error::operation_aborted) return accept();  // paused (or resumed meanwhile)
  if (error == asio::error::no_descriptors || error == std::errc::too_many_files_open_in_system) {
    return refuse_or_wait();
  }
  if (error) {
    spdlog::error("accept failed on {}: {}; retrying shortly", local_endpoint().port(), error.message());
    return retry_later();
  }
  on_accept_(std::move(socket), peer_);
  accept();
}

void Acceptor::refuse_or_wait() {
  // Each refusal takes one pending connection off the queue, so this never spins. Linux
  // reports EMFILE before it looks at the queue, so there may be nobody to refuse yet: then
  // wait for the next connection rather than poll.
  switch (reserve_.refuse_one_raw(acceptor_.native_handle(), refusal_)) {
    case DescriptorReserve::Refusal::refused:
      if (on_refused_) on_refused_();
      return accept();
    case DescriptorReserve::Refusal::nothing_pending:
      return wait_readable();
    case DescriptorReserve::Refusal::failed:
      break;
  }
  spdlog::error("accept failed on {}: out of file descriptors, none in reserve; retrying shortly",
                local_endpoint().port());
  retry_later();
}

void Acceptor::wait_readable() {
  busy_ = true;
  acceptor_.async_wait(TcpAcceptor::wait_read, [this](std::error_code error) {
    busy_ = false;
    if (!error || (error == asio::error::operation_aborted && !closed_)) accept();
  });
}

void Acceptor::retry_later() {
  busy_ = true;
  retry_.expires_after(std::chrono::milliseconds(100));
  retry_.async_wait([this](std::error_code error) {
    busy_ = false;
    if (!error) accept();
  });
}

}  // namespace tnl
