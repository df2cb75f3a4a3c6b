// The gRPC front end (--grpc): Tracker's tracker.lock.v1alpha1.LockService and our
// tcpnetlock.v1.LockExtensions, with server reflection, served on the one event loop.
//
// gRPC's HTTP/2 framing is done here (GrpcH2Connection, on Debian's libnghttp2), not by
// gRPC's own server, whose callback API hands every call between two threads of its own
// and the loop (some 28 context switches per call against 2 for HTTP/1.1). The table of
// methods (handler_for) maps each path to its handler; the handlers hand calls to
// GrpcLockService and GrpcExtensions. Shutdown: refuse_calls() answers every call waiting
// UNAVAILABLE and refuses new ones; end_streams() ends the Acquire streams; shut_down()
// sends GOAWAY and closes each connection once its answers are written (at the latest
// after a deadline); stopped() turns true once all are closed.
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "acceptor.hpp"
#include "descriptor_reserve.hpp"
#include "grpc_call.hpp"
#include "grpc_extensions.hpp"
#include "grpc_lock_service.hpp"
#include "grpc_reflection.hpp"
#include "grpc_stream_handler.hpp"
#include "grpc_stream_hold.hpp"
#include "io_types.hpp"
#include "lock_backend.hpp"

namespace tnl {

class GrpcH2Connection;

class GrpcFrontEnd final : public GrpcMethods {
 public:
  /// Most calls waiting on the loop at once; more get RESOURCE_EXHAUSTED.
  static constexpr std::size_t max_calls_in_flight = 4096;
  /// Most bytes of answers given but not yet taken by their callers (gRPC keeps them until
  /// the client reads them); beyond, new calls get RESOURCE_EXHAUSTED. A client that never
  /// reads (a zero HTTP/2 window) could otherwise make the server hold every answer it asks
  /// for: 100 ListLocks per connection, each up to some 500 KB, without end.
  static constexpr std::size_t max_undelivered_bytes = 32 * 1024 * 1024;
  /// Most client connections at once; newcomers wait in the backlog meanwhile.
  static constexpr std::size_t max_connections = 1024;

  /// Listens on `address`:`port` (0: a free one); throws std::system_error when it cannot.
  /// A connection refused for lack of descriptors is closed (see Acceptor).
  GrpcFrontEnd(asio::io_context& io, LockBackend& backend, DescriptorReserve& reserve, const std::string& address,
               std::uint16_t port, std::string admin_token);
  ~GrpcFrontEnd();
  GrpcFrontEnd(const GrpcFrontEnd&) = delete;
  GrpcFrontEnd& operator=(const GrpcFrontEnd&) = delete;

  /// The port bound.
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Loop: answers waiting calls UNAVAILABLE "server is shutting down", and every call from
  /// now on; the gRPC server keeps listening (so that callers hear that, rather than have
  /// their calls cut) until shut_down().
  void refuse_calls();
  /// Loop: refuse_calls(), and ends every Acquire stream UNAVAILABLE, releasing its lock
  /// (call it after the backend's shut_down(), so that nothing passes to a waiter).
  void end_streams();
  /// Loop: end_streams(), stops accepting and sends every connection GOAWAY; each closes
  /// once its answers are written, or at `deadline` from now.
  void shut_down(std::chrono::milliseconds deadline = std::chrono::seconds(2));
  /// Loop: true once every connection has closed after shut_down().
  [[nodiscard]] bool stopped() const { return stopped_; }

  /// The method table: a handler for `path`, or null (UNIMPLEMENTED).
  std::unique_ptr<GrpcStreamHandler> handler_for(std::string_view path) override;

  /// Loop: takes one unary call; `run` answers it unless refused first.
  template <typename Run>
  void dispatch(const std::shared_ptr<GrpcCall>& call, Run run);
  /// Loop: takes one Acquire stream.
  void dispatch_stream(const std::shared_ptr<GrpcStreamHold>& hold, const ext::AcquireRequest& request);

 private:
  /// The handler of a unary method of `service` (locks_ or extensions_).
  template <auto method, typename Request, typename Response, typename Service>
  std::unique_ptr<GrpcStreamHandler> unary(Service& service);
  /// Takes a new connection.
  void on_accept(TcpSocket socket, const asio::ip::tcp::endpoint& peer);
  /// A connection closed: forgotten; the last one after shut_down() stops the front end.
  void on_close(GrpcH2Connection* connection);

  asio::io_context& io_;
  GrpcLockService locks_;
  GrpcExtensions extensions_{locks_};
  GrpcReflection reflection_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unordered_map<GrpcH2Connection*, std::shared_ptr<GrpcH2Connection>> connections_;
  SteadyTimer stop_timer_;
  std::uint16_t port_ = 0;
  /// Calls posted to the loop and not answered yet (loop only).
  std::unordered_set<std::shared_ptr<GrpcCall>> calls_;
  /// Calls answered that gRPC is not done with yet, and the bytes of their answers (loop only;
  /// shared with the calls' on_over actions, which may run after this is gone).
  struct Undelivered {
    std::size_t calls = 0;
    std::size_t bytes = 0;
  };
  std::shared_ptr<Undelivered> undelivered_ = std::make_shared<Undelivered>();
  /// Acquire streams not ended yet (loop only).
  std::unordered_set<std::shared_ptr<GrpcStreamHold>> streams_;
  bool shutting_down_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
};

template <typename Run>
void GrpcFrontEnd::dispatch(const std::shared_ptr<GrpcCall>& call, Run run) {
  if (shutting_down_) return call->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  if (call->cancelled()) return call->finish(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
  if (calls_.size() + undelivered_->calls >= max_calls_in_flight) {
    return call->finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many calls in flight"));
  }
  if (undelivered_->bytes >= max_undelivered_bytes) {
    return call->finish(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many answers not yet taken by their callers"));
  }
  calls_.insert(call);
  call->on_finish([this, weak = std::weak_ptr<GrpcCall>(call)] {
    auto alive = weak.lock();
    if (!alive) return;
    calls_.erase(alive);
    // Until gRPC is done with it, its answer is held for a caller that may never read it.
    const std::size_t bytes = alive->answer_bytes();
    ++undelivered_->calls;
    undelivered_->bytes += bytes;
    alive->on_over([undelivered = undelivered_, bytes] {
      --undelivered->calls;
      undelivered->bytes -= bytes;
    });
  });
  run();
}

}  // namespace tnl
