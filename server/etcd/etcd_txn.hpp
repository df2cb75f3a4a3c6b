// Pieces of etcd transactions and answers that both etcd layouts (ours, and distlock's in
// etcd_distlock_layout.cpp) build and read the same way. No I/O.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace tnl::etcd {

/// Only while `key` is the one created at `revision`: not deleted and made again since.
inline void compare_created(etcdserverpb::TxnRequest& txn, const std::string& key, std::int64_t revision) {
  etcdserverpb::Compare* compare = txn.add_compare();
  compare->set_result(etcdserverpb::Compare::EQUAL);
  compare->set_target(etcdserverpb::Compare::CREATE);
  compare->set_key(key);
  compare->set_create_revision(revision);
}

/// Whether a failed call says our lease is gone (a put on it, a revoke).
[[nodiscard]] inline bool lease_not_found(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::NOT_FOUND &&
         status.error_message().find("lease not found") != std::string::npos;
}

}  // namespace tnl::etcd
