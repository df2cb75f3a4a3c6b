// Tracker's tracker.lock.v1alpha1.LockService on our LockBackend, on the event loop.
//
// Each method maps onto the backend exactly as HttpApi maps the REST call (tracker_locks.hpp
// holds what they share): CreateLock = POST /lock (a detached lock, service = the lock name,
// who = the client id), GetLock = GET /lock/{id}, UnLock = DELETE /lock/{id}, ListLocks =
// GET /locks/list. The admin token (the `authorization: Bearer TOKEN` metadata) is asked
// for as HTTP's route table asks for it (Access below). Errors are gRPC status codes
// (docs/GRPC.md) rather than Tracker's UNKNOWN for everything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "grpc_call.hpp"
#include "lock_backend.hpp"
#include "tracker/lock/v1alpha1/lock.pb.h"

namespace tnl {

namespace tracker = ::tracker::lock::v1alpha1;

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

  /// From now on every answer the backend gives is UNAVAILABLE "server is shutting down".
  void shutting_down() { ready_ = false; }

 private:
  /// UNAVAILABLE for an `unavailable` outcome: the shutdown's, or the backend's.
  [[nodiscard]] grpc::Status unavailable() const;

  LockBackend& backend_;
  const std::string admin_token_;
  bool ready_ = true;
  /// Expires with this object: backend completions that run later answer UNAVAILABLE.
  std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
};

}  // namespace tnl
