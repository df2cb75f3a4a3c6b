#include "client_stats.hpp"

namespace tnl::etcd {

ClientStats::ClientStats() : request_duration(Histogram::default_bounds()) {}

void ClientStats::count_failure(const grpc::Status& status) {
  if (!status.ok()) ++failures[static_cast<std::size_t>(kind_of(status))];
}

FailureKind ClientStats::kind_of(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return FailureKind::unavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return FailureKind::deadline_exceeded;
    default:
      return FailureKind::other;
  }
}

const char* ClientStats::name(FailureKind kind) {
  switch (kind) {
    case FailureKind::unavailable:
      return "unavailable";
    case FailureKind::deadline_exceeded:
      return "deadline_exceeded";
    case FailureKind::other:
      break;
  }
  return "other";
}

}  // namespace tnl::etcd
