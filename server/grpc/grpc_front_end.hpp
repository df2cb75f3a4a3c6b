// The gRPC front end (--grpc): Tracker's tracker.lock.v1alpha1.LockService and our
// tcpnetlock.v1.LockExtensions on gRPC's callback API, with server reflection, next to the
// one event loop.
//
// gRPC's threads never touch lock state: each call is posted to the loop (asio::post),
// which answers it there (GrpcCall, GrpcLockService). Shutdown: shut_down() answers every
// call still waiting with UNAVAILABLE and refuses new ones on the loop, then a thread of its
// own runs grpc::Server::Shutdown (with a deadline; it blocks until every call is over,
// which needs the loop to keep running); stopped() turns true on the loop once it returned.
// The server calls refuse_calls() when its shutdown begins and shut_down() once its
// connections have closed: a call that reaches gRPC in the instant it stops may be answered
// CANCELLED by gRPC itself.
#pragma once

#include <asio/io_context.hpp>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>

#include "grpc_call.hpp"
#include "grpc_extensions.hpp"
#include "grpc_lock_service.hpp"
#include "grpc_stream_hold.hpp"
#include "lock_backend.hpp"

namespace grpc {
class Server;
}  // namespace grpc

namespace tnl {

class GrpcFrontEnd {
 public:
  /// Most calls waiting on the loop at once; more get RESOURCE_EXHAUSTED.
  static constexpr std::size_t max_calls_in_flight = 4096;
  /// Most bytes of answers given but not yet taken by their callers (gRPC keeps them until
  /// the client reads them); beyond, new calls get RESOURCE_EXHAUSTED. A client that never
  /// reads (a zero HTTP/2 window) could otherwise make the server hold every answer it asks
  /// for: 100 ListLocks per connection, each up to some 500 KB, without end.
  static constexpr std::size_t max_undelivered_bytes = 32 * 1024 * 1024;
  /// Largest request message accepted (a lock request is a few hundred bytes), as HTTP's body.
  static constexpr int max_message_bytes = 8 * 1024;

  /// Listens on `address`:`port` (0: a free one); throws std::runtime_error when it cannot.
  GrpcFrontEnd(asio::io_context& io, LockBackend& backend, const std::string& address, std::uint16_t port,
               std::string admin_token);
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
  /// Loop: end_streams(), then stops the gRPC server on a thread of its own (calls in
  /// flight get until `deadline` from now, then gRPC cancels them).
  void shut_down(std::chrono::milliseconds deadline = std::chrono::seconds(2));
  /// Loop: true once the gRPC server has stopped (every call over).
  [[nodiscard]] bool stopped() const { return stopped_; }

  /// Loop: takes one call posted from gRPC's thread; `run` answers it unless refused first.
  template <typename Run>
  void dispatch(const std::shared_ptr<GrpcCall>& call, Run run);
  /// Loop: takes one Acquire stream posted from gRPC's thread.
  void dispatch_stream(const std::shared_ptr<GrpcStreamHold>& hold, const ext::AcquireRequest& request);

 private:
  class Service;
  class ExtensionService;

  /// gRPC's thread: the reactor of a unary call, with what the loop needs of the context
  /// copied into the call (the context is not read on the loop) and the size of its answer
  /// counted, and the call posted to the loop, where `run(handler, call)` answers it.
  template <typename Handler, typename Run>
  grpc::ServerUnaryReactor* start_unary(grpc::CallbackServerContext* context,
                                        const google::protobuf::MessageLite* response, Handler& handler, Run run);

  asio::io_context& io_;
  GrpcLockService locks_;
  GrpcExtensions extensions_{locks_};
  std::unique_ptr<Service> service_;
  std::unique_ptr<ExtensionService> extension_service_;
  std::unique_ptr<grpc::Server> server_;
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
  bool stopped_ = false;
  std::thread stopper_;
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
