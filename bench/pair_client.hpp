// One client of bench_grpc: it takes a lock on a name and gives it back, once per call,
// over one transport (issue 14's "CreateLock + UnLock pairs" and their equivalents).
// Every wait is bounded (a receive timeout or a call deadline), so a server that stops
// answering fails the run instead of hanging it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// The transports bench_grpc compares.
enum class Transport {
  grpc,         ///< Tracker's CreateLock then UnLock, generated stubs, one channel per client
  http,         ///< POST /api/v1alpha1/lock then DELETE /api/v1alpha1/lock/{id}, one keep-alive connection per client
  line_ttl,     ///< `lock,name:X,ttl:inf` (the server closes) then `unlock,id:ID` on a second connection
  line_cycle,   ///< connect, `lock,name:X`, `release`, close: a connection lock
};

/// The name used in the table and on the command line ("grpc", "http", "line-ttl", "line-cycle").
std::string transport_name(Transport transport);
/// Every transport, in table order.
std::vector<Transport> all_transports();

/// Where the server under test listens (all on 127.0.0.1).
struct Ports {
  std::uint16_t line = 0;
  std::uint16_t http = 0;
  std::uint16_t grpc = 0;
};

/// One client's connection(s) and its pair of requests.
class PairClient {
 public:
  virtual ~PairClient() = default;
  /// Locks `name` (held by nobody) and releases it; throws on any answer other than the
  /// protocol's success answers.
  virtual void pair(const std::string& name) = 0;
};

/// A client of `transport`, connected (or ready to connect) to `ports`. With `spin`, the
/// HTTP and line-protocol clients poll for each answer for a moment before they sleep in
/// recv() (LineConnection::Wait::spin): worth it only while each client thread has a CPU of
/// its own, since a polling thread takes the CPU from the others.
std::unique_ptr<PairClient> make_pair_client(Transport transport, const Ports& ports, bool spin);

}  // namespace bench
