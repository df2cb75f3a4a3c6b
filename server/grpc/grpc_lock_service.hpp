// Tracker's tracker.lock.v1alpha1.LockService on our LockBackend, on the event loop.
//
// Each method maps onto the backend exactly as HttpApi maps the REST call (tracker_locks.hpp
// holds what they share): CreateLock = POST /lock (a detached lock, service = the lock name,
// who = the client id), GetLock = GET /lock/{id}, UnLock = DELETE /lock/{id}, ListLocks =
// GET /locks/list. The admin token (the `authorization: Bearer TOKEN` metadata) is asked
// for as HTTP's route table asks for it (Access below). Errors are gRPC status codes
// (docs/GRPC.md) rather than Tracker's UNKNOWN for everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "grpc_call.hpp"
#include "lock_backend.hpp"
#include "tracker/lock/v1alpha1/lock.pb.h"
#include "tracker_lock_name.hpp"

namespace tnl {

namespace tracker = ::tracker::lock::v1alpha1;

/// Tracker's Lock of `holder` on `name` (a holder or a lock-delay); the hold's reason is its
/// event_id. `show_id` false leaves the id empty (no admin token given).
void fill_lock(tracker::Lock& lock, const std::string& name, const HoldRecord& holder, bool show_id);
/// `time` as a Timestamp, to the millisecond (as HTTP's createdAt).
void set_time(google::protobuf::Timestamp& out, std::chrono::system_clock::time_point time);

class GrpcLockService {
 public:
  /// `admin_token` empty: nothing needs a token.
  GrpcLockService(LockBackend& backend, std::string admin_token);
  GrpcLockService(const GrpcLockService&) = delete;
  GrpcLockService& operator=(const GrpcLockService&) = delete;

  /// What a method needs from the caller: HttpApi's route access levels.
  enum class Access : std::uint8_t {
    open,           ///< anyone
    lists_ids,      ///< anyone, but ids only with the admin token (when there is one)
    changes_locks,  ///< the admin token (when there is one)
  };
  /// The status to answer before anything else, or OK: UNAUTHENTICATED as HTTP's 401,
  /// UNAVAILABLE while the backend cannot serve.
  [[nodiscard]] grpc::Status admit(const GrpcCall& call, Access access) const;
  /// As admit(call, access), for a caller's `authorization` metadata and address.
  [[nodiscard]] grpc::Status admit(const std::string& authorization, const std::string& peer, Access access) const;
  /// Whether lock ids may be shown to this caller.
  [[nodiscard]] bool reveals_ids(const GrpcCall& call) const;

  // Each answers `call` (exactly once, now or on a later turn) and fills `response` first;
  // `request` and `response` are gRPC's, valid until the call is finished.
  void create_lock(const std::shared_ptr<GrpcCall>& call, const tracker::CreateLockRequest& request,
                   tracker::CreateLockResponse& response);
  void get_lock(const std::shared_ptr<GrpcCall>& call, const tracker::GetLockRequest& request,
                tracker::GetLockResponse& response);
  void unlock(const std::shared_ptr<GrpcCall>& call, const tracker::UnLockRequest& request,
              tracker::UnLockResponse& response);
  void list_locks(const std::shared_ptr<GrpcCall>& call, const tracker::ListLocksRequest& request,
                  tracker::ListLocksResponse& response);
  void update_lock(const std::shared_ptr<GrpcCall>& call, const tracker::UpdateLockRequest& request,
                   tracker::UpdateLockResponse& response);

  /// What a create asks for (Tracker's CreateLock, or our extension's).
  struct CreateAsk {
    TrackerLockName parts;
    std::string who;
    std::string event_id;
    /// Until when to wait in the lock's queue; nullopt: not at all (Tracker's).
    std::optional<LockBackend::Clock::time_point> deadline;
    /// The lease; nullopt: until released (Tracker's).
    std::optional<LockBackend::Clock::duration> ttl;
  };
  /// Fills the response from the record of the lock made (called once, just before OK).
  using RecordAnswer = std::function<void(const std::string& name, const HoldRecord& holder)>;
  /// Makes a detached lock as HTTP's POST /lock does (tracker_lock_request), answering the
  /// call: OK through `answer`, or ALREADY_EXISTS with the holder (DEADLINE_EXCEEDED when
  /// it waited in vain), INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE. A call cancelled
  /// while it waits withdraws its request; a grant whose answer does not reach the client is
  /// given back.
  void create(const std::shared_ptr<GrpcCall>& call, CreateAsk ask, RecordAnswer answer);

  [[nodiscard]] LockBackend& backend() { return backend_; }
  [[nodiscard]] bool ready() const { return ready_; }

  /// From now on every answer the backend gives is UNAVAILABLE "server is shutting down".
  void shutting_down() { ready_ = false; }
  /// UNAVAILABLE for an `unavailable` outcome: the shutdown's, or the backend's.
  [[nodiscard]] grpc::Status unavailable() const;

 private:
  LockBackend& backend_;
  const std::string admin_token_;
  bool ready_ = true;
  /// Expires with this object: backend completions that run later answer UNAVAILABLE.
  std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
};

}  // namespace tnl
