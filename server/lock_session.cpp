#include "lock_session.hpp"

#include <fmt/format.h>

#include <memory>
#include <utility>

#include "connection.hpp"
#include "protocol.hpp"
#include "protocol_answers.hpp"

namespace tnl {

void LockSession::acquire(Connection& connection, LockBackend& backend, AcquireRequest request,
                          LockBackend::AcquireDone done) {
  // Set before the call: the completion may run inside it.
  state_ = State::waiting;
  id_ = LockId{};
  const bool detached = request.kind == HoldKind::detached;
  std::shared_ptr<Connection> self = connection.shared_from_this();
  // The backend reaches this session through its connection (the HoldWatcher), by the
  // connection's own reference count: nothing to tell once the connection is gone.
  std::weak_ptr<HoldWatcher> watcher;
  if (!detached) watcher = self;
  // The completion keeps the connection alive until it runs; an ended connection cancels it.
  const LockId id = backend.acquire(
      std::move(request),
      [self = std::move(self), &backend, detached, done = std::move(done)](const AcquireResult& result) {
        self->lock_session().completed(backend, detached, result, done);
      },
      std::move(watcher));
  if (state_ == State::waiting) id_ = id;  // not answered yet
}

void LockSession::completed(LockBackend& backend, bool detached, const AcquireResult& result,
                            const LockBackend::AcquireDone& done) {
  if (state_ != State::waiting || (id_ != LockId{} && id_ != result.id)) {
    // Nobody waits for it any more (the connection ended): a grant goes straight back.
    if (result.outcome == AcquireOutcome::granted) {
      backend.release(result.id, detached ? ReleaseBy::unlock : ReleaseBy::holder,
                      detached ? "nobody: the connection that asked had ended" : "released: its connection had ended",
                      {});
    }
    return;
  }
  id_ = result.id;
  state_ = result.outcome == AcquireOutcome::granted && !detached ? State::holding : State::none;
  done(result);
}

void LockSession::cancel(LockBackend& backend) {
  if (state_ != State::waiting) return;
  state_ = State::none;  // a completion that still comes finds nobody waiting
  backend.cancel(id_);
}

bool LockSession::release(LockBackend& backend, ReleaseBy by, std::string_view who, LockBackend::ReleaseDone done) {
  if (state_ != State::holding) return false;
  state_ = State::none;  // set before the call: the hold is no longer this connection's to give
  backend.release(id_, by, who, std::move(done));
  return true;
}

void LockSession::revoke(Connection& connection, LockBackend& backend, std::string_view reason) {
  if (state_ != State::holding) return;
  state_ = State::none;
  // The holder is told first: its `lost` is on its way (written at once, unless an answer
  // is still being written) before the lock is handed on and the next holder's `ok` is.
  connection.answer(format_lost(reason), Connection::Then::close);
  backend.release(id_, ReleaseBy::holder_gone, fmt::format("taken from {}: {}", connection.peer(), reason), {});
}

void LockSession::lost(Connection& connection, const LockId& id, std::string_view reason) {
  if (state_ != State::holding || id != id_) return;
  state_ = State::none;  // gone: not to be released again
  connection.answer(format_lost(reason), Connection::Then::close);
}

}  // namespace tnl
