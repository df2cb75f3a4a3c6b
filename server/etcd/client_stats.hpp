// What an etcd::Client counts: request latency, reconnects, failures by kind. Updated on the
// event loop only (never by gRPC's threads); read it there too.
#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <cstdint>

#include "histogram.hpp"

namespace tnl::etcd {

/// The kinds a failed call or a broken stream is counted under.
enum class FailureKind { unavailable, deadline_exceeded, other };

struct ClientStats {
  ClientStats();

  /// Seconds from issuing a unary call to its result on the event loop, whatever the result.
  Histogram request_duration;
  /// Unary calls issued.
  std::uint64_t requests = 0;
  /// Streams (keepalive, watch) re-established after a break, and unary calls moved to
  /// another endpoint after a failure.
  std::uint64_t reconnects = 0;
  /// Failed unary calls and broken streams, indexed by FailureKind.
  std::array<std::uint64_t, 3> failures{};

  /// The count of one kind.
  [[nodiscard]] std::uint64_t failures_of(FailureKind kind) const { return failures[static_cast<std::size_t>(kind)]; }
  /// Counts a failure of `status` (not OK) under its kind.
  void count_failure(const grpc::Status& status);

  /// UNAVAILABLE -> unavailable, DEADLINE_EXCEEDED -> deadline_exceeded, anything else -> other.
  static FailureKind kind_of(const grpc::Status& status);
  /// "unavailable", "deadline_exceeded", "other": the label values of the failures metric.
  static const char* name(FailureKind kind);
};

}  // namespace tnl::etcd
