#include "grpc_stream_hold.hpp"

#include <spdlog/spdlog.h>

#include "grpc_lock_service.hpp"
#include "tracker_lock_name.hpp"
#include "lock_id_log.hpp"

namespace tnl {

using grpc::Status;
using grpc::StatusCode;

void GrpcStreamHold::start(LockBackend& backend, AcquireRequest request, std::function<void()> on_end) {
  backend_ = &backend;
  on_end_ = std::move(on_end);
  name_ = request.name;
  state_ = State::waiting;
  const std::string who = request.client_id;
  const std::string reason = request.reason;
  auto self = shared_from_this();
  id_ = backend.acquire(
      std::move(request),
      [self, who, reason](const AcquireResult& result) {
        if (self->state_ != State::waiting) {
          // Nobody waits any more (cancelled, shut down): a grant goes back at once.
          if (result.outcome == AcquireOutcome::granted) {
            self->backend_->release(result.id, ReleaseBy::holder, "nobody: its gRPC stream ended", {});
          }
          return;
        }
        switch (result.outcome) {
          case AcquireOutcome::granted: {
            self->state_ = State::holding;
            self->id_ = result.id;
            spdlog::info("lock '{}' ({}) held by a gRPC stream from {}", self->name_, LogId{result.id}, self->peer);
            if (self->finished_) return self->release("its gRPC stream ended");
            HoldRecord holder;
            holder.id = result.id;
            holder.client_id = who;
            holder.reason = reason;
            holder.since = std::chrono::system_clock::now();
            ext::Granted& granted = *self->event_.mutable_granted();
            fill_lock(*granted.mutable_lock(), self->name_, holder, true);
            granted.set_fencing_token(result.token);
            self->writing_ = true;
            self->writer_->write(self->event_);
            return;
          }
          case AcquireOutcome::timed_out:
            self->state_ = State::over;
            return self->finish(Status(StatusCode::DEADLINE_EXCEEDED, "timed out waiting: lock held"));
          case AcquireOutcome::not_granted:
          case AcquireOutcome::limit_mismatch:
            self->state_ = State::over;
            return self->finish(Status(StatusCode::ALREADY_EXISTS, "lock already exists"));
          case AcquireOutcome::failed:
            self->state_ = State::over;
            return self->finish(Status(StatusCode::UNAVAILABLE, "cannot persist the lock, try again later"));
          case AcquireOutcome::unavailable:
            self->state_ = State::over;
            return self->finish(Status(StatusCode::UNAVAILABLE, "backend unavailable"));
        }
      },
      std::weak_ptr<HoldWatcher>(self));
}

void GrpcStreamHold::release(std::string_view why) {
  if (state_ == State::waiting && backend_ != nullptr) {
    state_ = State::over;
    backend_->cancel(id_);  // false: its completion ran (then it is not waiting): nothing held here
    return;
  }
  if (state_ != State::holding) return;
  state_ = State::over;
  backend_->release(id_, ReleaseBy::holder, std::string(why) + " (" + peer + ")", {});
}

void GrpcStreamHold::cancelled() {
  release("its gRPC stream ended");
  finish(Status(StatusCode::CANCELLED, "stream cancelled"));
}

void GrpcStreamHold::shut_down() {
  release("the server shuts down");
  finish(Status(StatusCode::UNAVAILABLE, "server is shutting down"));
}

void GrpcStreamHold::lost(const LockId& id, std::string_view reason) {
  if (state_ != State::holding || id != id_) return;
  state_ = State::over;  // gone already: not released again
  spdlog::info("lock '{}' ({}) of a gRPC stream from {} taken away: {}", name_, LogId{id}, peer, reason);
  if (finished_) return;
  const Status status(StatusCode::ABORTED, "lock lost: " + std::string(reason));
  if (writing_) {
    lost_after_write_ = true;
    finish_after_write_ = status;
    event_.mutable_lost()->set_reason(std::string(reason));  // written once the grant's write is done
    return;
  }
  event_.mutable_lost()->set_reason(std::string(reason));
  finished_ = true;
  std::exchange(writer_, nullptr)->write_and_finish(event_, status);
  if (on_end_) std::exchange(on_end_, nullptr)();
}

void GrpcStreamHold::write_done(bool ok) {
  writing_ = false;
  if (!ok) return cancelled();  // the stream broke: as a cancellation
  if (finished_) return;
  if (lost_after_write_ && finish_after_write_) {
    lost_after_write_ = false;
    finished_ = true;
    std::exchange(writer_, nullptr)->write_and_finish(event_, *finish_after_write_);
    if (on_end_) std::exchange(on_end_, nullptr)();
    return;
  }
  if (finish_after_write_) finish(*std::exchange(finish_after_write_, std::nullopt));
}

void GrpcStreamHold::done() {
  // Over for gRPC: whatever is still held goes (it cannot be: every end releases first).
  release("its gRPC stream ended");
}

void GrpcStreamHold::finish(const Status& status) {
  if (finished_) return;
  if (writing_) {  // one operation at a time: after the write in flight
    if (!finish_after_write_) finish_after_write_ = status;
    return;
  }
  finished_ = true;
  std::exchange(writer_, nullptr)->finish(status);
  if (on_end_) std::exchange(on_end_, nullptr)();
}

}  // namespace tnl
