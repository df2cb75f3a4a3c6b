#include "grpc_lock_service.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "lock_options.hpp"
#include "lock_view_json.hpp"
#include "tracker_lock_name.hpp"
#include "tracker_locks.hpp"
#include "lock_id_log.hpp"

namespace tnl {

namespace {

using grpc::Status;
using grpc::StatusCode;

Status invalid(const std::string& message) { return Status(StatusCode::INVALID_ARGUMENT, message); }

/// The backend cannot serve (etcd out of reach, or it could not read its locks): nothing was done.
Status backend_unavailable() { return Status(StatusCode::UNAVAILABLE, "backend unavailable"); }

/// A backend completion that came after the service was gone, or during the shutdown.
Status server_going() { return Status(StatusCode::UNAVAILABLE, "server is shutting down"); }

Status not_found() { return Status(StatusCode::NOT_FOUND, "lock not found"); }

Status not_persisted() { return Status(StatusCode::UNAVAILABLE, "cannot persist the lock, try again later"); }

}  // namespace

// To the millisecond, as HTTP's createdAt: the local backend derives a hold's wall time
// from its steady clock at each read, which moves by some nanoseconds between reads.
void set_time(google::protobuf::Timestamp& out, std::chrono::system_clock::time_point time) {
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::floor<std::chrono::milliseconds>(time).time_since_epoch())
                         .count();
  constexpr std::int64_t billion = 1'000'000'000;
  std::int64_t seconds = nanos / billion;
  std::int64_t rest = nanos % billion;
  if (rest < 0) {  // Timestamp's nanos are never negative
    rest += billion;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<std::int32_t>(rest));
}

void fill_lock(tracker::Lock& lock, const std::string& name, const HoldRecord& holder, bool show_id) {
  if (show_id) lock.set_id(holder.id.str());
  TrackerLockName parts = split_tracker_lock_name(name);
  lock.set_service(std::move(parts.service));
  lock.set_environment(std::move(parts.environment));
  lock.set_resource(std::move(parts.resource));
  lock.set_who(holder.client_id);
  set_time(*lock.mutable_created_at(), holder.since);
  lock.set_event_id(holder.reason);
}

namespace {

/// Tracker's `existingLock` ({"id","who","createdAt"}) as JSON, for ALREADY_EXISTS's message.
std::string existing_lock_json(const HoldRecord& holder, bool with_id) {
  nlohmann::ordered_json existing;
  if (with_id) existing["id"] = holder.id.str();
  existing["who"] = holder.client_id;
  existing["createdAt"] = format_rfc3339(holder.since);
  return dump_json(existing);
}

}  // namespace

GrpcLockService::GrpcLockService(LockBackend& backend, std::string admin_token)
    : backend_(backend), admin_token_(std::move(admin_token)) {}

grpc::Status GrpcLockService::admit(const GrpcCall& call, Access access) const {
  return admit(call.authorization, call.peer, access);
}

grpc::Status GrpcLockService::admit(const std::string& authorization, const std::string& peer, Access access) const {
  if (!ready_) return server_going();
  // As HTTP: a token given where none is needed is still checked, so that a caller who
  // meant to authenticate hears that it did not.
  const bool needs_token = access == Access::changes_locks || (access == Access::lists_ids && !authorization.empty());
  if (needs_token && !bearer_token_matches(authorization, admin_token_)) {
    spdlog::warn("gRPC call from {}: missing or invalid bearer token", peer);
    return Status(StatusCode::UNAUTHENTICATED, "missing or invalid bearer token");
  }
  if (!backend_.available()) return backend_unavailable();
  return Status::OK;
}

bool GrpcLockService::reveals_ids(const GrpcCall& call) const {
  return bearer_token_matches(call.authorization, admin_token_);
}

grpc::Status GrpcLockService::unavailable() const { return ready_ ? backend_unavailable() : server_going(); }

void GrpcLockService::create_lock(const std::shared_ptr<GrpcCall>& call, const tracker::CreateLockRequest& request,
                                  tracker::CreateLockResponse& response) {
  CreateAsk ask;
  ask.parts = {request.service(), request.environment(), request.resource()};
  ask.who = request.who();
  ask.event_id = request.event_id();
  create(call, std::move(ask), [&response](const std::string& name, const HoldRecord& holder) {
    fill_lock(*response.mutable_lock(), name, holder, true);
  });
}

void GrpcLockService::create(const std::shared_ptr<GrpcCall>& call, CreateAsk ask, RecordAnswer answer) {
  if (Status refused = admit(*call, Access::changes_locks); !refused.ok()) return call->finish(refused);
  std::string problem;
  auto name = tracker_lock_name(ask.parts, problem);
  if (!name) return call->finish(invalid(problem));
  // Required, as HTTP's `who` (proto3 cannot tell an absent string from an empty one).
  if (ask.who.empty() || !is_valid_reason(ask.who)) return call->finish(invalid("who must be given, " + reason_rule_text()));
  if (!ask.event_id.empty() && !is_valid_reason(ask.event_id)) {
    return call->finish(invalid("event_id must be empty or " + reason_rule_text()));
  }
  const bool with_ids = reveals_ids(*call);
  AcquireRequest lock_request = tracker_lock_request(*name, ask.who, ask.event_id, ask.ttl);
  lock_request.peer = call->peer;
  lock_request.deadline = ask.deadline;
  // A grant too late for its answer to reach the caller in time is given back (see answer_by).
  const auto late = [by = answer_by(call->deadline)] { return by && LockBackend::Clock::now() > *by; };
  const LockId id = backend_.acquire(
      std::move(lock_request),
      [this, alive = std::weak_ptr<const bool>(alive_), &backend = backend_, call, answer = std::move(answer),
       name = std::move(*name), who = std::move(ask.who), event_id = std::move(ask.event_id), with_ids,
       late](const AcquireResult& result) mutable {
        const std::string peer = call->peer;
        // A client that never learns the id would leave the lock held for nobody, for ever.
        const auto give_back = [&backend, id = result.id, peer] {
          backend.release(id, ReleaseBy::unlock, "nobody: its gRPC client (" + peer + ") never got the answer", {});
        };
        if (result.outcome == AcquireOutcome::granted && (alive.expired() || call->finished() || call->cancelled())) {
          spdlog::warn("detached lock '{}' ({}) created for {} over gRPC from {} after the call ended: released",
                       name, LogId{result.id}, who, peer);
          give_back();
          return call->finish(alive.expired() ? server_going() : Status(StatusCode::CANCELLED, "call cancelled"));
        }
        if (result.outcome == AcquireOutcome::granted && late()) {
          spdlog::warn(
              "detached lock '{}' ({}) granted to {} over gRPC from {} too close to the call's deadline: released", name,
              LogId{result.id}, who, peer);
          give_back();
          return call->finish(
              Status(StatusCode::DEADLINE_EXCEEDED, "timed out waiting: granted too close to the call's deadline"));
        }
        if (alive.expired()) return call->finish(server_going());
        switch (result.outcome) {
          case AcquireOutcome::granted:
            spdlog::info("detached lock '{}' ({}) created for {} over gRPC from {}", name, LogId{result.id}, who,
                         peer);
            // The record as the backend keeps it (its times).
            return backend_.read(
                LockQuery{std::nullopt, result.id, true},
                // Called once: what it needs moves into the next step.
                [call, answer = std::move(answer), result, name = std::move(name), who = std::move(who),
                 event_id = std::move(event_id), give_back, late](const LockView& view) {
                  if (call->finished()) return give_back();
                  if (late()) {
                    give_back();
                    return call->finish(Status(StatusCode::DEADLINE_EXCEEDED,
                                               "timed out waiting: granted too close to the call's deadline"));
                  }
                  if (const auto [state, holder] = find_holder(view, result.id); holder) {
                    answer(state->name, *holder);
                  } else {
                    // Gone again already, or unreadable (etcd out of reach just now): it was
                    // created all the same, and its creator must learn its id.
                    HoldRecord made;
                    made.id = result.id;
                    made.kind = HoldKind::detached;
                    made.client_id = who;
                    made.reason = event_id;
                    made.token = result.token;
                    made.since = view.ok ? view.as_of : std::chrono::system_clock::now();
                    answer(name, made);
                  }
                  call->on_done([give_back](bool delivered) {
                    if (!delivered) give_back();
                  });
                  call->finish(Status::OK);
                });
          case AcquireOutcome::failed:
            return call->finish(not_persisted());
          case AcquireOutcome::unavailable:
            return call->finish(unavailable());
          case AcquireOutcome::not_granted:
          case AcquireOutcome::timed_out:
          case AcquireOutcome::limit_mismatch:
            break;
        }
        // Refused: say who holds it, as Tracker's existingLock.
        backend_.read(LockQuery{name, std::nullopt, true, true}, [call, outcome = result.outcome,
                                                                   with_ids](const LockView& view) {
          if (call->finished()) return;
          const NameRecord* state = only_name(view);
          const HoldRecord* holder = state && !state->holders.empty() ? &state->holders.front() : nullptr;
          if (outcome == AcquireOutcome::not_granted && !holder && view.totals.start_grace_seconds_left > 0) {
            return call->finish(Status(StatusCode::UNAVAILABLE,
                                       "server is starting: nothing is granted during its start grace (" +
                                           std::to_string(static_cast<long long>(
                                               std::ceil(view.totals.start_grace_seconds_left))) +
                                           " s left)"));
          }
          std::string message = outcome == AcquireOutcome::timed_out ? "timed out waiting: lock held" : "lock already exists";
          if (holder) message += ": existingLock " + existing_lock_json(*holder, with_ids);
          call->finish(Status(outcome == AcquireOutcome::timed_out ? StatusCode::DEADLINE_EXCEEDED : StatusCode::ALREADY_EXISTS,
                              message));
        });
      });
  // A caller that gives up while it waits withdraws its request.
  if (ask.deadline && !call->finished()) {
    call->on_cancel([&backend = backend_, call, id] {
      if (backend.cancel(id)) call->finish(Status(StatusCode::CANCELLED, "call cancelled"));
    });
  }
}

void GrpcLockService::get_lock(const std::shared_ptr<GrpcCall>& call, const tracker::GetLockRequest& request,
                               tracker::GetLockResponse& response) {
  if (Status refused = admit(*call, Access::open); !refused.ok()) return call->finish(refused);
  const auto id = LockId::parse(request.id());
  if (!id) return call->finish(invalid("invalid lock id"));
  backend_.read(LockQuery{std::nullopt, *id, true}, [call, &response, id = *id](const LockView& view) {
    if (call->finished()) return;
    if (!view.ok) return call->finish(backend_unavailable());  // not NOT_FOUND: it may well be held
    const auto [state, holder] = find_holder(view, id);
    if (!holder) return call->finish(not_found());
    // The caller gave the id: the record may show it.
    fill_lock(*response.mutable_lock(), state->name, *holder, true);
    call->finish(Status::OK);
  });
}

void GrpcLockService::unlock(const std::shared_ptr<GrpcCall>& call, const tracker::UnLockRequest& request,
                             tracker::UnLockResponse& response) {
  if (Status refused = admit(*call, Access::changes_locks); !refused.ok()) return call->finish(refused);
  const auto id = LockId::parse(request.id());
  if (!id) return call->finish(invalid("invalid lock id"));
  backend_.release(*id, ReleaseBy::admin, "gRPC from " + call->peer,
                   [this, alive = std::weak_ptr<const bool>(alive_), call, &response,
                    id = request.id()](ReleaseOutcome outcome) {
                     if (call->finished()) return;
                     switch (outcome) {
                       case ReleaseOutcome::released:
                       case ReleaseOutcome::forced:
                         response.set_message("Lock released successfully");
                         response.set_id(id);
                         response.set_count(1);
                         return call->finish(Status::OK);
                       case ReleaseOutcome::not_saved:
                         return call->finish(not_persisted());
                       case ReleaseOutcome::unavailable:
                         return call->finish(alive.expired() ? server_going() : unavailable());
                       case ReleaseOutcome::unknown:
                       case ReleaseOutcome::held_by_connection:
                         break;
                     }
                     call->finish(not_found());
                   });
}

void GrpcLockService::list_locks(const std::shared_ptr<GrpcCall>& call, const tracker::ListLocksRequest& request,
                                 tracker::ListLocksResponse& response) {
  if (Status refused = admit(*call, Access::lists_ids); !refused.ok()) return call->finish(refused);
  // As HTTP's per_page and page (absent: 100 and 1).
  const std::uint64_t per_page = request.has_per_page() ? request.per_page().value() : tracker_default_per_page;
  if (per_page < 1 || per_page > tracker_max_per_page) {
    return call->finish(invalid("per_page must be an integer from 1 to 1000"));
  }
  const std::int64_t page = request.has_page() ? request.page().value() : 1;
  if (page < 1) return call->finish(invalid("page must be a positive integer"));
  const bool with_ids = reveals_ids(*call);
  backend_.read(LockQuery{std::nullopt, std::nullopt, true},
                [call, &response, page = static_cast<std::size_t>(page), per_page = static_cast<std::size_t>(per_page),
                 with_ids](const LockView& view) {
                  if (call->finished()) return;
                  // An empty list would say nobody holds anything.
                  if (!view.ok) return call->finish(backend_unavailable());
                  const std::size_t total =
                      visit_page(view, page, per_page, [&](const NameRecord& state, const HoldRecord& holder) {
                        fill_lock(*response.add_locks(), state.name, holder, with_ids);
                      });
                  response.set_total_count(static_cast<std::uint32_t>(
                      std::min<std::size_t>(total, std::numeric_limits<std::uint32_t>::max())));
                  call->finish(Status::OK);
                });
}

void GrpcLockService::update_lock(const std::shared_ptr<GrpcCall>& call, const tracker::UpdateLockRequest& request,
                                  tracker::UpdateLockResponse& response) {
  if (Status refused = admit(*call, Access::changes_locks); !refused.ok()) return call->finish(refused);
  const auto id = LockId::parse(request.id());
  if (!id) return call->finish(invalid("invalid lock id"));
  TrackerUpdate update{request.service(), request.environment(), request.resource(), request.who(),
                       request.event_id()};
  if (std::string problem = tracker_update_problem(update); !problem.empty()) return call->finish(invalid(problem));
  backend_.read(LockQuery{std::nullopt, *id, true}, [this, alive = std::weak_ptr<const bool>(alive_), call, &response,
                                                     id = *id, update = std::move(update)](const LockView& view) {
    if (call->finished()) return;
    if (alive.expired()) return call->finish(server_going());
    if (!view.ok) return call->finish(backend_unavailable());
    const auto [state, holder] = find_holder(view, id);
    if (!holder) return call->finish(not_found());
    // A hold keeps its name for its life (moving it would free it for a moment, or hold two
    // names): a service, environment or resource given must be what the lock has.
    if (tracker_update_moves(state->name, update)) {
      return call->finish(Status(StatusCode::FAILED_PRECONDITION,
                                 "a lock cannot move to another service, environment or resource: "
                                 "release it (UnLock) and create another"));
    }
    HoldUpdate changes = tracker_hold_update(update, *holder);
    if (!changes.client_id && !changes.reason) {  // nothing to change: the record as it is
      fill_lock(*response.mutable_lock(), state->name, *holder, true);
      return call->finish(Status::OK);
    }
    if (holder->kind != HoldKind::detached) {
      return call->finish(Status(StatusCode::FAILED_PRECONDITION,
                                 "lock is held by a connection: its who and event_id are its connection's"));
    }
    backend_.update(id, std::move(changes), [this, alive, call, &response, id](UpdateOutcome outcome) {
      if (call->finished()) return;
      if (alive.expired()) return call->finish(server_going());
      switch (outcome) {
        case UpdateOutcome::updated:
          // The record as the backend keeps it now.
          return backend_.read(LockQuery{std::nullopt, id, true}, [call, &response, id](const LockView& view) {
            if (call->finished()) return;
            // Updated, but its record cannot be shown: a retry updates again, which is harmless.
            if (!view.ok) return call->finish(backend_unavailable());
            const auto [state, holder] = find_holder(view, id);
            if (!holder) return call->finish(not_found());  // updated, but released since
            fill_lock(*response.mutable_lock(), state->name, *holder, true);
            call->finish(Status::OK);
          });
        case UpdateOutcome::unknown:
          return call->finish(not_found());
        case UpdateOutcome::held_by_connection:
          return call->finish(Status(StatusCode::FAILED_PRECONDITION,
                                     "lock is held by a connection: its who and event_id are its connection's"));
        case UpdateOutcome::not_saved:
          return call->finish(not_persisted());
        case UpdateOutcome::unavailable:
          return call->finish(unavailable());
      }
      call->finish(Status(StatusCode::INTERNAL, "unexpected update outcome"));
    });
  });
}

}  // namespace tnl
