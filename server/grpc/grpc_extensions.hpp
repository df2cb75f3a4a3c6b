// tcpnetlock.v1.LockExtensions on the event loop: CreateLock that waits (a deadline, the
// call's deadline and cancellation honoured) and may have a TTL, Renew, and the streaming
// Acquire (GrpcStreamHold). The same locks, access rules and validation as GrpcLockService
// (all of them change locks: the admin token when there is one).
#pragma once

#include <memory>

#include "grpc_call.hpp"
#include "grpc_lock_service.hpp"
#include "grpc_stream_hold.hpp"
#include "tcpnetlock/v1/lock_extensions.pb.h"

namespace tnl {

class GrpcExtensions {
 public:
  explicit GrpcExtensions(GrpcLockService& locks) : locks_(locks) {}

  void create_lock(const std::shared_ptr<GrpcCall>& call, const ext::CreateLockRequest& request,
                   ext::CreateLockResponse& response);
  void renew(const std::shared_ptr<GrpcCall>& call, const ext::RenewRequest& request, ext::RenewResponse& response);
  /// Starts the stream `hold` (or ends it refused); `on_end` as GrpcStreamHold::start.
  void acquire(const std::shared_ptr<GrpcStreamHold>& hold, const ext::AcquireRequest& request,
               std::function<void()> on_end);

 private:
  GrpcLockService& locks_;
};

}  // namespace tnl
