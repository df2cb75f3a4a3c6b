// How an etcd::Client reaches etcd: the members to try, the deadline of every call, the
// backoff between attempts to re-establish a stream.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace tnl::etcd {

struct ClientOptions {
  /// Members as "host:port" (parse_endpoints makes them from a URL list); tried in order,
  /// the next one after a failure.
  std::vector<std::string> endpoints;
  /// Deadline of every unary call; also how long a stream may go without an answer to a
  /// keepalive or a progress request before it is taken for dead and re-established.
  std::chrono::milliseconds call_timeout{2000};
  /// Backoff between attempts to re-establish a stream: doubles from min up to max, back to
  /// min once a stream has delivered an answer.
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{1000};
};

}  // namespace tnl::etcd
