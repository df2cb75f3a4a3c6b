#include "grpc_front_end.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <asio/post.hpp>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "etcd/tsan_annotations.hpp"
#include "tcpnetlock/v1/lock_extensions.grpc.pb.h"
#include "tracker/lock/v1alpha1/lock.grpc.pb.h"

namespace tnl {

namespace {

/// "ADDRESS:PORT", an IPv6 address in brackets, as gRPC takes it.
std::string target(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

/// For its lifetime, ThreadSanitizer does not record this thread's writes (TSan builds only).
struct TsanIgnoreWrites {
#if defined(__SANITIZE_THREAD__)
  TsanIgnoreWrites() { AnnotateIgnoreWritesBegin(__FILE__, __LINE__); }
  ~TsanIgnoreWrites() { AnnotateIgnoreWritesEnd(__FILE__, __LINE__); }
#endif
  TsanIgnoreWrites(const TsanIgnoreWrites&) = delete;
  TsanIgnoreWrites& operator=(const TsanIgnoreWrites&) = delete;
#if !defined(__SANITIZE_THREAD__)
  TsanIgnoreWrites() = default;
#endif
};

grpc::Status going() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"); }

/// gRPC's thread: what the loop needs of a call's context (the context is not read there).
void copy_context(grpc::CallbackServerContext& context, std::string& authorization, std::string& peer,
                  std::chrono::system_clock::time_point& deadline) {
  const auto& metadata = context.client_metadata();
  if (const auto found = metadata.find("authorization"); found != metadata.end()) {
    authorization.assign(found->second.data(), found->second.size());
  }
  peer = context.peer();
  deadline = context.deadline();
}

}  // namespace

/// gRPC's side of LockService: each method, on gRPC's thread, makes the call's reactor and
/// posts the call to the loop; nothing else.
class GrpcFrontEnd::Service final : public tracker::LockService::CallbackService {
 public:
  explicit Service(GrpcFrontEnd& front) : front_(front) {}

  grpc::ServerUnaryReactor* CreateLock(grpc::CallbackServerContext* context, const tracker::CreateLockRequest* request,
                                       tracker::CreateLockResponse* response) override {
    return start(context, response, [request, response](GrpcLockService& locks, const std::shared_ptr<GrpcCall>& call) {
      locks.create_lock(call, *request, *response);
    });
  }
  grpc::ServerUnaryReactor* GetLock(grpc::CallbackServerContext* context, const tracker::GetLockRequest* request,
                                    tracker::GetLockResponse* response) override {
    return start(context, response, [request, response](GrpcLockService& locks, const std::shared_ptr<GrpcCall>& call) {
      locks.get_lock(call, *request, *response);
    });
  }
  grpc::ServerUnaryReactor* UnLock(grpc::CallbackServerContext* context, const tracker::UnLockRequest* request,
                                   tracker::UnLockResponse* response) override {
    return start(context, response, [request, response](GrpcLockService& locks, const std::shared_ptr<GrpcCall>& call) {
      locks.unlock(call, *request, *response);
    });
  }
  grpc::ServerUnaryReactor* ListLocks(grpc::CallbackServerContext* context, const tracker::ListLocksRequest* request,
                                      tracker::ListLocksResponse* response) override {
    return start(context, response, [request, response](GrpcLockService& locks, const std::shared_ptr<GrpcCall>& call) {
      locks.list_locks(call, *request, *response);
    });
  }
  grpc::ServerUnaryReactor* UpdateLock(grpc::CallbackServerContext* context, const tracker::UpdateLockRequest* request,
                                       tracker::UpdateLockResponse* response) override {
    return start(context, response, [request, response](GrpcLockService& locks, const std::shared_ptr<GrpcCall>& call) {
      locks.update_lock(call, *request, *response);
    });
  }

 private:
  template <typename Run>
  grpc::ServerUnaryReactor* start(grpc::CallbackServerContext* context, const google::protobuf::MessageLite* response,
                                  Run run) {
    return front_.start_unary(context, response, front_.locks_, std::move(run));
  }

  GrpcFrontEnd& front_;
};

/// gRPC's side of LockExtensions, as Service.
class GrpcFrontEnd::ExtensionService final : public ext::LockExtensions::CallbackService {
 public:
  explicit ExtensionService(GrpcFrontEnd& front) : front_(front) {}

  grpc::ServerUnaryReactor* CreateLock(grpc::CallbackServerContext* context, const ext::CreateLockRequest* request,
                                       ext::CreateLockResponse* response) override {
    return start(context, response,
                 [request, response](GrpcExtensions& extensions, const std::shared_ptr<GrpcCall>& call) {
      extensions.create_lock(call, *request, *response);
    });
  }
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* context, const ext::RenewRequest* request,
                                  ext::RenewResponse* response) override {
    return start(context, response,
                 [request, response](GrpcExtensions& extensions, const std::shared_ptr<GrpcCall>& call) {
      extensions.renew(call, *request, *response);
    });
  }
  grpc::ServerWriteReactor<ext::AcquireEvent>* Acquire(grpc::CallbackServerContext* context,
                                                       const ext::AcquireRequest* request) override {
    etcd::tsan_acquire(&front_);  // see the constructor
    auto* reactor = new GrpcStreamReactor(front_.io_, context);
    std::shared_ptr<GrpcStreamHold> hold = reactor->hold();
    copy_context(*context, hold->authorization, hold->peer, hold->deadline);
    asio::post(front_.io_, [front = &front_, hold, request] { front->dispatch_stream(hold, *request); });
    return reactor;
  }

 private:
  template <typename Run>
  grpc::ServerUnaryReactor* start(grpc::CallbackServerContext* context, const google::protobuf::MessageLite* response,
                                  Run run) {
    return front_.start_unary(context, response, front_.extensions_, std::move(run));
  }

  GrpcFrontEnd& front_;
};

template <typename Handler, typename Run>
grpc::ServerUnaryReactor* GrpcFrontEnd::start_unary(grpc::CallbackServerContext* context,
                                                    const google::protobuf::MessageLite* response, Handler& handler,
                                                    Run run) {
  etcd::tsan_acquire(this);  // see the constructor
  auto* reactor = new GrpcUnaryReactor(io_, context);
  std::shared_ptr<GrpcCall> call = reactor->call();
  copy_context(*context, call->authorization, call->peer, call->deadline);
  call->answer_size = [response] { return response->ByteSizeLong(); };
  asio::post(io_, [this, &handler, call, run = std::move(run)] {
    dispatch(call, [&handler, &call, &run] { run(handler, call); });
  });
  return reactor;
}

void GrpcFrontEnd::dispatch_stream(const std::shared_ptr<GrpcStreamHold>& hold, const ext::AcquireRequest& request) {
  if (shutting_down_) return hold->refuse(going());
  if (streams_.size() >= max_calls_in_flight) {
    return hold->refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many streams"));
  }
  streams_.insert(hold);
  extensions_.acquire(hold, request, [this, weak = std::weak_ptr<GrpcStreamHold>(hold)] {
    if (auto alive = weak.lock()) streams_.erase(alive);
  });
  // Refused before it started: never held, forgotten now.
  if (hold->finished()) streams_.erase(hold);
}

GrpcFrontEnd::GrpcFrontEnd(asio::io_context& io, LockBackend& backend, const std::string& address,
                           std::uint16_t port, std::string admin_token)
    : io_(io), locks_(backend, std::move(admin_token)) {
  {
    // The services (gRPC's method handlers in them) are read by gRPC's threads, which the
    // etcd client may have started already: the hand-over is the server's start, inside
    // uninstrumented libgrpc, that ThreadSanitizer cannot see. Their construction is not
    // recorded for it (a no-op in other builds); nothing writes them afterwards.
    [[maybe_unused]] TsanIgnoreWrites ignore;
    service_ = std::make_unique<Service>(*this);
    extension_service_ = std::make_unique<ExtensionService>(*this);
  }
  // Server reflection (grpcurl needs no .proto): a plugin every later ServerBuilder adds.
  static std::once_flag reflection;
  std::call_once(reflection, [] { grpc::reflection::InitProtoReflectionServerBuilderPlugin(); });
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second server would share the port (each taking
  // some of the calls) instead of failing to bind it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 100);
  int selected = 0;
  const std::string where = target(address, port);
  builder.AddListeningPort(where, grpc::InsecureServerCredentials(), &selected);
  builder.RegisterService(service_.get());
  builder.RegisterService(extension_service_.get());
  // A client that vanished without closing (its host gone) is noticed as the lock port's
  // keepalive notices it: a ping every 10 s, given up on after 5 s without an answer; its
  // streams end, and their locks are released.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  // Everything made so far happens before the method handlers that gRPC's threads run
  // (they acquire this): the hand-over is inside uninstrumented libgrpc.
  etcd::tsan_release(this);
  server_ = builder.BuildAndStart();
  if (!server_ || selected <= 0) {
    server_.reset();
    throw std::runtime_error("cannot listen on " + where + " (in use, or not an address of this host)");
  }
  port_ = static_cast<std::uint16_t>(selected);
  spdlog::info("gRPC API (tracker.lock.v1alpha1.LockService) on {}", target(address, port_));
}

GrpcFrontEnd::~GrpcFrontEnd() {
  if (!stopper_.joinable()) {
    // Not shut down through the loop (the server failed to start or to serve): nothing
    // can be waiting on a loop that no longer runs but what is answered here.
    end_streams();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  if (stopper_.joinable()) stopper_.join();
}

void GrpcFrontEnd::refuse_calls() {
  if (shutting_down_) return;
  shutting_down_ = true;
  locks_.shutting_down();
  // Each finish() takes the call out of calls_: iterate over a copy.
  auto waiting = std::move(calls_);
  calls_.clear();
  for (const auto& call : waiting) call->finish(going());
}

void GrpcFrontEnd::end_streams() {
  refuse_calls();
  auto streams = std::move(streams_);
  streams_.clear();
  for (const auto& hold : streams) hold->shut_down();
}

void GrpcFrontEnd::shut_down(std::chrono::milliseconds deadline) {
  if (stopper_.joinable() || stopped_) return;
  end_streams();
  // Shutdown blocks until every call is over, and the calls need the loop: not on the loop.
  stopper_ = std::thread([this, until = std::chrono::system_clock::now() + deadline] {
    server_->Shutdown(until);
    asio::post(io_, [this] {
      stopped_ = true;
      spdlog::info("gRPC API stopped");
    });
  });
}

}  // namespace tnl
