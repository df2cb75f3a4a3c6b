#include "grpc_front_end.hpp"

#include <spdlog/spdlog.h>

#include <asio/ip/address.hpp>
#include <utility>

#include "grpc_h2_connection.hpp"
#include "grpc_method_handlers.hpp"
#include "socket_options.hpp"

namespace tnl {

namespace {

grpc::Status going() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"); }

constexpr std::string_view lock_service = "/tracker.lock.v1alpha1.LockService/";
constexpr std::string_view extension_service = "/tcpnetlock.v1.LockExtensions/";
constexpr std::string_view reflection_service = "/grpc.reflection.v1alpha.ServerReflection/";

}  // namespace

GrpcFrontEnd::GrpcFrontEnd(asio::io_context& io, LockBackend& backend, DescriptorReserve& reserve,
                           const std::string& address, std::uint16_t port, std::string admin_token)
    : io_(io),
      locks_(backend, std::move(admin_token)),
      reflection_({"tracker.lock.v1alpha1.LockService", "tcpnetlock.v1.LockExtensions",
                   "grpc.reflection.v1alpha.ServerReflection"}),
      stop_timer_(io) {
  acceptor_ = std::make_unique<Acceptor>(
      listen_on(io, address, port), reserve, std::string(),
      [this](TcpSocket socket, const asio::ip::tcp::endpoint& peer) { on_accept(std::move(socket), peer); },
      [this] {
        spdlog::warn("refused a gRPC connection: out of file descriptors ({} open gRPC connections)",
                     connections_.size());
      },
      [this] { return connections_.size() < max_connections; });
  // Unlike gRPC's own server (SO_REUSEPORT), a second server cannot share the port.
  const auto bound = acceptor_->local_endpoint();
  port_ = bound.port();
  acceptor_->start();
  spdlog::info("gRPC API (tracker.lock.v1alpha1.LockService) on {}", format_endpoint(bound));
}

GrpcFrontEnd::~GrpcFrontEnd() {
  // Not shut down through the loop (the server failed to start or to serve): what is
  // waiting is answered, and every connection closed, here.
  end_streams();
  acceptor_->close();
  auto connections = std::move(connections_);
  connections_.clear();
  for (auto& [raw, connection] : connections) connection->close();
}

template <auto method, typename Request, typename Response, typename Service>
std::unique_ptr<GrpcStreamHandler> GrpcFrontEnd::unary(Service& service) {
  // The call dispatched (refused while shutting down, or over the limits) to the service's
  // method. Two pointers: std::function keeps them without a heap allocation.
  return std::make_unique<UnaryHandler<Request, Response>>(
      [front = this, &service](const std::shared_ptr<GrpcCall>& call, const Request& request, Response& response) {
        front->dispatch(call, [&] { (service.*method)(call, request, response); });
      });
}

std::unique_ptr<GrpcStreamHandler> GrpcFrontEnd::handler_for(std::string_view path) {
  if (path.substr(0, lock_service.size()) == lock_service) {
    const auto name = path.substr(lock_service.size());
    if (name == "CreateLock") {
      return unary<&GrpcLockService::create_lock, tracker::CreateLockRequest, tracker::CreateLockResponse>(locks_);
    }
    if (name == "GetLock") {
      return unary<&GrpcLockService::get_lock, tracker::GetLockRequest, tracker::GetLockResponse>(locks_);
    }
    if (name == "UnLock") {
      return unary<&GrpcLockService::unlock, tracker::UnLockRequest, tracker::UnLockResponse>(locks_);
    }
    if (name == "ListLocks") {
      return unary<&GrpcLockService::list_locks, tracker::ListLocksRequest, tracker::ListLocksResponse>(locks_);
    }
    if (name == "UpdateLock") {
      return unary<&GrpcLockService::update_lock, tracker::UpdateLockRequest, tracker::UpdateLockResponse>(locks_);
    }
  } else if (path.substr(0, extension_service.size()) == extension_service) {
    const auto name = path.substr(extension_service.size());
    if (name == "CreateLock") {
      return unary<&GrpcExtensions::create_lock, ext::CreateLockRequest, ext::CreateLockResponse>(extensions_);
    }
    if (name == "Renew") {
      return unary<&GrpcExtensions::renew, ext::RenewRequest, ext::RenewResponse>(extensions_);
    }
    if (name == "Acquire") {
      return std::make_unique<AcquireHandler>(
          [this](const std::shared_ptr<GrpcStreamHold>& hold, const ext::AcquireRequest& request) {
        dispatch_stream(hold, request);
      });
    }
  } else if (path == std::string(reflection_service) + "ServerReflectionInfo") {
    return std::make_unique<ReflectionHandler>(reflection_);
  }
  return nullptr;
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

void GrpcFrontEnd::on_accept(TcpSocket socket, const asio::ip::tcp::endpoint& peer) {
  if (stopping_) return;
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  // What a client that does not read can make the kernel hold for it: about 128 KiB rather
  // than the 4 MiB loopback's autotuning grows to (1,024 such clients: 4 GiB), besides the
  // connection's own 64 KiB and its answers' share of the undelivered budget.
  limit_send_buffer(socket, static_cast<int>(GrpcH2Connection::output_high_water));
  auto connection = std::make_shared<GrpcH2Connection>(io_, std::move(socket), format_endpoint(peer), *this,
                                                       [this](GrpcH2Connection* closed) { on_close(closed); });
  connections_.emplace(connection.get(), connection);
  connection->start();
}

void GrpcFrontEnd::on_close(GrpcH2Connection* connection) {
  // Kept until the end of this turn: the connection may be on the stack.
  if (auto found = connections_.find(connection); found != connections_.end()) {
    asio::post(io_, [keep = std::move(found->second)] {});
    connections_.erase(found);
  }
  if (acceptor_ && !stopping_) acceptor_->resume();
  if (stopping_ && connections_.empty() && !stopped_) {
    stopped_ = true;
    stop_timer_.cancel();
    spdlog::info("gRPC API stopped");
  }
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
  if (stopping_) return;
  end_streams();
  stopping_ = true;
  acceptor_->close();
  if (connections_.empty()) {
    stopped_ = true;
    spdlog::info("gRPC API stopped");
    return;
  }
  // GOAWAY: each connection closes once its answers are written.
  std::vector<std::shared_ptr<GrpcH2Connection>> open;
  for (auto& [raw, connection] : connections_) open.push_back(connection);
  for (auto& connection : open) connection->go_away();
  stop_timer_.expires_after(deadline);
  stop_timer_.async_wait([this](std::error_code error) {
    if (error || stopped_) return;
    std::vector<std::shared_ptr<GrpcH2Connection>> left;
    for (auto& [raw, connection] : connections_) left.push_back(connection);
    for (auto& connection : left) connection->close();
  });
}

}  // namespace tnl
