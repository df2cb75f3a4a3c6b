#include "grpc_extensions.hpp"

#include <algorithm>
#include <cmath>

#include "lock_options.hpp"
#include "tracker_locks.hpp"

namespace tnl {

namespace {

using grpc::Status;
using grpc::StatusCode;
using Clock = LockBackend::Clock;

/// Longest wait asked for: a year, as the longest TTL (a longer one is "for ever" in practice).
constexpr double max_wait_seconds = 365.0 * 24 * 3600;

double seconds_of(const google::protobuf::Duration& duration) {
  return static_cast<double>(duration.seconds()) + duration.nanos() / 1e9;
}

/// Until when to wait: the earlier of `wait` and the call's deadline; nullopt for no wait.
/// False when `wait` is out of range.
bool wait_deadline(bool has_wait, const google::protobuf::Duration& wait, std::chrono::system_clock::time_point call_deadline,
                   std::optional<Clock::time_point>& deadline) {
  deadline.reset();
  if (!has_wait) return true;
  const double seconds = seconds_of(wait);
  if (!(seconds >= 0) || seconds > max_wait_seconds) return false;
  if (seconds == 0) return true;
  const auto now = Clock::now();
  Clock::time_point until = now + AcquireRequest::seconds(seconds);
  // The wait ends early enough for its answer to reach the caller before its deadline.
  if (const auto by = answer_by(call_deadline)) until = std::min(until, *by);
  deadline = until;
  return true;
}

/// `ttl` when set and valid; `valid` false when set and out of range.
std::optional<Clock::duration> ttl_of(bool has_ttl, const google::protobuf::Duration& ttl, bool& valid) {
  valid = true;
  if (!has_ttl) return std::nullopt;
  const double seconds = seconds_of(ttl);
  if (!is_valid_ttl_seconds(seconds)) {
    valid = false;
    return std::nullopt;
  }
  return AcquireRequest::seconds(seconds);
}

}  // namespace

void GrpcExtensions::create_lock(const std::shared_ptr<GrpcCall>& call, const ext::CreateLockRequest& request,
                                 ext::CreateLockResponse& response) {
  GrpcLockService::CreateAsk ask;
  ask.parts = {request.service(), request.environment(), request.resource()};
  ask.who = request.who();
  ask.event_id = request.event_id();
  if (!wait_deadline(request.has_wait(), request.wait(), call->deadline, ask.deadline)) {
    return call->finish(Status(StatusCode::INVALID_ARGUMENT, "wait must be a duration from 0 to a year"));
  }
  bool valid = true;
  ask.ttl = ttl_of(request.has_ttl(), request.ttl(), valid);
  if (!valid) return call->finish(Status(StatusCode::INVALID_ARGUMENT, "ttl must be " + ttl_rule_text()));
  locks_.create(call, std::move(ask), [&response](const std::string& name, const HoldRecord& holder) {
    fill_lock(*response.mutable_lock(), name, holder, true);
    if (holder.expires) set_time(*response.mutable_expires_at(), *holder.expires);
    response.set_fencing_token(holder.token);
  });
}

void GrpcExtensions::renew(const std::shared_ptr<GrpcCall>& call, const ext::RenewRequest& request,
                           ext::RenewResponse& response) {
  if (Status refused = locks_.admit(*call, GrpcLockService::Access::changes_locks); !refused.ok()) {
    return call->finish(refused);
  }
  const auto id = LockId::parse(request.id());
  if (!id) return call->finish(Status(StatusCode::INVALID_ARGUMENT, "invalid lock id"));
  bool valid = true;
  const auto ttl = ttl_of(request.has_ttl(), request.ttl(), valid);
  if (!valid) return call->finish(Status(StatusCode::INVALID_ARGUMENT, "ttl must be " + ttl_rule_text()));
  LockBackend& backend = locks_.backend();
  backend.renew(*id, ttl, [this, &backend, call, &response, id = *id](RenewOutcome outcome) {
    if (call->finished()) return;
    switch (outcome) {
      case RenewOutcome::renewed:
        return backend.read(LockQuery{std::nullopt, id, true}, [call, &response, id](const LockView& view) {
          if (call->finished()) return;
          // Renewed, but its record cannot be shown: a retry renews again, which is harmless.
          if (!view.ok) return call->finish(Status(StatusCode::UNAVAILABLE, "backend unavailable"));
          const auto [state, holder] = find_holder(view, id);
          if (!holder) return call->finish(Status(StatusCode::NOT_FOUND, "lock not found"));
          fill_lock(*response.mutable_lock(), state->name, *holder, true);
          if (holder->expires) set_time(*response.mutable_expires_at(), *holder->expires);
          call->finish(Status::OK);
        });
      case RenewOutcome::unknown:
        return call->finish(Status(StatusCode::NOT_FOUND, "lock not found"));
      case RenewOutcome::held_by_connection:
        return call->finish(Status(StatusCode::FAILED_PRECONDITION, "lock is held by a connection: it has no lease"));
      case RenewOutcome::not_saved:
        return call->finish(Status(StatusCode::UNAVAILABLE, "cannot persist the lock, try again later"));
      case RenewOutcome::unavailable:
        return call->finish(locks_.unavailable());
    }
    call->finish(Status(StatusCode::INTERNAL, "unexpected renewal outcome"));
  });
}

void GrpcExtensions::acquire(const std::shared_ptr<GrpcStreamHold>& hold, const ext::AcquireRequest& request,
                             std::function<void()> on_end) {
  if (Status refused = locks_.admit(hold->authorization, hold->peer, GrpcLockService::Access::changes_locks);
      !refused.ok()) {
    return hold->refuse(refused);
  }
  std::string problem;
  const auto name = tracker_lock_name({request.service(), request.environment(), request.resource()}, problem);
  if (!name) return hold->refuse(Status(StatusCode::INVALID_ARGUMENT, problem));
  if (request.who().empty() || !is_valid_reason(request.who())) {
    return hold->refuse(Status(StatusCode::INVALID_ARGUMENT, "who must be given, " + reason_rule_text()));
  }
  if (!request.event_id().empty() && !is_valid_reason(request.event_id())) {
    return hold->refuse(Status(StatusCode::INVALID_ARGUMENT, "event_id must be empty or " + reason_rule_text()));
  }
  AcquireRequest lock_request;
  lock_request.name = *name;
  lock_request.client_id = request.who();
  lock_request.reason = request.event_id();
  lock_request.peer = hold->peer;
  lock_request.kind = HoldKind::connection;
  lock_request.shows_token = true;  // the `granted` event carries it
  if (!wait_deadline(request.has_wait(), request.wait(), hold->deadline, lock_request.deadline)) {
    return hold->refuse(Status(StatusCode::INVALID_ARGUMENT, "wait must be a duration from 0 to a year"));
  }
  hold->start(locks_.backend(), std::move(lock_request), std::move(on_end));
}

}  // namespace tnl
