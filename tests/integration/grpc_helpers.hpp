// The real server with its gRPC front end on an ephemeral loopback port, and a client of
// Tracker's LockService built from our .proto's generated stubs (grpc_tests).
#pragma once

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "http_port.hpp"
#include "process.hpp"
#include "server_process.hpp"
#include "tcpnetlock/v1/lock_extensions.grpc.pb.h"
#include "tracker/lock/v1alpha1/lock.grpc.pb.h"

namespace tnl::test {

namespace tracker = ::tracker::lock::v1alpha1;
namespace ext = ::tcpnetlock::v1;

/// A protobuf Duration of `seconds`.
inline google::protobuf::Duration duration_of(double seconds) {
  google::protobuf::Duration duration;
  duration.set_seconds(static_cast<std::int64_t>(seconds));
  duration.set_nanos(static_cast<std::int32_t>((seconds - static_cast<double>(duration.seconds())) * 1e9));
  return duration;
}

/// ServerProcess plus `--grpc 127.0.0.1:0 --grpc-port-file ...` and an ephemeral HTTP port.
class GrpcServerProcess {
 public:
  explicit GrpcServerProcess(std::vector<std::string> extra_args = {})
      : server_(with_ports(std::move(extra_args), dir_.path())) {
    for (const char* file : {"grpc-port", "http-port"}) {
      if (!wait_until([&] { return read_port_file(dir_.path() / file) || !server_.process().running(); })) {
        throw std::runtime_error(std::string("server did not write its ") + file + ": " +
                                 server_.process().stderr_text());
      }
    }
    const auto grpc = read_port_file(dir_.path() / "grpc-port");
    const auto http = read_port_file(dir_.path() / "http-port");
    if (!grpc || !http) throw std::runtime_error("server exited at start: " + server_.process().stderr_text());
    grpc_port_ = *grpc;
    http_port_ = *http;
  }

  /// Stops a server still running with SIGTERM and checks that it exited 0: a sanitizer's
  /// report (the TSan stage: halt_on_error) or a crash at shutdown fails the test.
  ~GrpcServerProcess() {
    if (std::uncaught_exceptions() > 0 || !server_.process().running()) return;
    const auto status = server_.stop();
    INFO("server stderr: " << server_.process().stderr_text());
    CHECK(status);
    if (status) CHECK(status->exited(0));
  }
  GrpcServerProcess(const GrpcServerProcess&) = delete;
  GrpcServerProcess& operator=(const GrpcServerProcess&) = delete;

  ServerProcess& server() { return server_; }
  [[nodiscard]] std::uint16_t port() const { return server_.port(); }
  [[nodiscard]] std::uint16_t grpc_port() const { return grpc_port_; }
  [[nodiscard]] std::uint16_t http_port() const { return http_port_; }
  [[nodiscard]] std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }

 private:
  static std::vector<std::string> with_ports(std::vector<std::string> args, const std::filesystem::path& dir) {
    args.insert(args.begin(), {"--grpc", "127.0.0.1:0", "--grpc-port-file", (dir / "grpc-port").string(),
                               "--http-port-file", (dir / "http-port").string()});
    return args;
  }

  TempDir dir_;  // first: it must exist before the server starts, and outlive it
  ServerProcess server_;
  std::uint16_t grpc_port_ = 0;
  std::uint16_t http_port_ = 0;
};

/// A status and the answer of one call.
template <typename Response>
struct Answer {
  grpc::Status status;
  Response response;
  [[nodiscard]] bool ok() const { return status.ok(); }
  [[nodiscard]] grpc::StatusCode code() const { return status.error_code(); }
};

/// Tracker's LockService over one channel; each call has a 10 s deadline and, when set,
/// `authorization: Bearer TOKEN`.
class TrackerClient {
 public:
  explicit TrackerClient(const std::string& target, std::string token = {})
      : stub_(tracker::LockService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))),
        token_(std::move(token)) {}

  /// Sends `authorization` exactly as given from now on ("" sends none).
  void set_authorization(std::string value) { authorization_ = std::move(value); }

  Answer<tracker::CreateLockResponse> create(const std::string& service, const std::string& who,
                                             const std::string& environment = {}, const std::string& resource = {},
                                             const std::string& event_id = {}) {
    tracker::CreateLockRequest request;
    request.set_service(service);
    request.set_who(who);
    request.set_environment(environment);
    request.set_resource(resource);
    request.set_event_id(event_id);
    return call<tracker::CreateLockResponse>(&tracker::LockService::Stub::CreateLock, request);
  }
  Answer<tracker::GetLockResponse> get(const std::string& id) {
    tracker::GetLockRequest request;
    request.set_id(id);
    return call<tracker::GetLockResponse>(&tracker::LockService::Stub::GetLock, request);
  }
  Answer<tracker::UnLockResponse> unlock(const std::string& id) {
    tracker::UnLockRequest request;
    request.set_id(id);
    return call<tracker::UnLockResponse>(&tracker::LockService::Stub::UnLock, request);
  }
  Answer<tracker::ListLocksResponse> list(std::optional<std::uint32_t> per_page = std::nullopt,
                                          std::optional<std::int32_t> page = std::nullopt) {
    tracker::ListLocksRequest request;
    if (per_page) request.mutable_per_page()->set_value(*per_page);
    if (page) request.mutable_page()->set_value(*page);
    return call<tracker::ListLocksResponse>(&tracker::LockService::Stub::ListLocks, request);
  }
  Answer<tracker::UpdateLockResponse> update(const tracker::UpdateLockRequest& request) {
    return call<tracker::UpdateLockResponse>(&tracker::LockService::Stub::UpdateLock, request);
  }

 private:
  template <typename Response, typename Method, typename Request>
  Answer<Response> call(Method method, const Request& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!authorization_.empty()) {
      context.AddMetadata("authorization", authorization_);
    } else if (!token_.empty()) {
      context.AddMetadata("authorization", "Bearer " + token_);
    }
    Answer<Response> answer;
    answer.status = ((*stub_).*method)(&context, request, &answer.response);
    return answer;
  }

  std::unique_ptr<tracker::LockService::Stub> stub_;
  std::string token_;
  std::string authorization_;
};

/// Our LockExtensions over one channel (same deadline and token rules as TrackerClient).
class ExtensionsClient {
 public:
  explicit ExtensionsClient(const std::string& target, std::string token = {})
      : channel_(grpc::CreateChannel(target, grpc::InsecureChannelCredentials())),
        stub_(ext::LockExtensions::NewStub(channel_)),
        token_(std::move(token)) {}

  /// Prepares `context` as every call here: the deadline and the token.
  void prepare(grpc::ClientContext& context, std::chrono::milliseconds deadline = std::chrono::seconds(10)) const {
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
  }
  Answer<ext::CreateLockResponse> create(const ext::CreateLockRequest& request,
                                         std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    grpc::ClientContext context;
    prepare(context, deadline);
    Answer<ext::CreateLockResponse> answer;
    answer.status = stub_->CreateLock(&context, request, &answer.response);
    return answer;
  }
  Answer<ext::RenewResponse> renew(const std::string& id, std::optional<double> ttl) {
    ext::RenewRequest request;
    request.set_id(id);
    if (ttl) *request.mutable_ttl() = duration_of(*ttl);
    grpc::ClientContext context;
    prepare(context);
    Answer<ext::RenewResponse> answer;
    answer.status = stub_->Renew(&context, request, &answer.response);
    return answer;
  }
  ext::LockExtensions::Stub& stub() { return *stub_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ext::LockExtensions::Stub> stub_;
  std::string token_;
};

/// One Acquire stream: started at construction; read() the events; cancel() ends it.
class AcquireStream {
 public:
  AcquireStream(ExtensionsClient& client, const ext::AcquireRequest& request,
                std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    client.prepare(context_, deadline);
    reader_ = client.stub().Acquire(&context_, request);
  }
  ~AcquireStream() {
    if (!finished_) {
      context_.TryCancel();
      finish();
    }
  }
  /// The next event; nullopt once the stream has ended.
  std::optional<ext::AcquireEvent> read() {
    ext::AcquireEvent event;
    if (!reader_->Read(&event)) return std::nullopt;
    return event;
  }
  /// Cancels the call (any thread).
  void cancel() { context_.TryCancel(); }
  /// The stream's status (after read() returned nullopt, or cancel()).
  grpc::Status finish() {
    if (!finished_) {
      finished_ = true;
      status_ = reader_->Finish();
    }
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<ext::AcquireEvent>> reader_;
  bool finished_ = false;
  grpc::Status status_;
};

}  // namespace tnl::test
