// Tracker's CreateLock + UnLock on the generated synchronous stubs.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <stdexcept>

#include "pair_client.hpp"
#include "tracker/lock/v1alpha1/lock.grpc.pb.h"

namespace bench {

namespace {

namespace lockpb = ::tracker::lock::v1alpha1;

/// Longest a call may take before the run fails.
constexpr auto call_deadline = std::chrono::seconds(10);

class GrpcPairClient final : public PairClient {
 public:
  explicit GrpcPairClient(std::uint16_t port) {
    grpc::ChannelArguments arguments;
    // A connection of its own per client, as HTTP's keep-alive connections: channels to one
    // target would otherwise share one subchannel (one TCP connection) from the global pool.
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub_ = lockpb::LockService::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), arguments));
  }

  void pair(const std::string& name) override {
    create_.set_service(name);
    create_.set_who("bench");
    grpc::ClientContext create_context;
    create_context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    const grpc::Status created = stub_->CreateLock(&create_context, create_, &created_);
    if (!created.ok()) throw std::runtime_error("CreateLock: " + created.error_message());
    unlock_.set_id(created_.lock().id());
    grpc::ClientContext unlock_context;
    unlock_context.set_deadline(std::chrono::system_clock::now() + call_deadline);
    const grpc::Status released = stub_->UnLock(&unlock_context, unlock_, &released_);
    if (!released.ok()) throw std::runtime_error("UnLock: " + released.error_message());
    if (released_.count() != 1) throw std::runtime_error("UnLock released " + std::to_string(released_.count()));
  }

 private:
  std::unique_ptr<lockpb::LockService::Stub> stub_;
  lockpb::CreateLockRequest create_;  ///< reused: the client's own allocations are not what we measure
  lockpb::CreateLockResponse created_;
  lockpb::UnLockRequest unlock_;
  lockpb::UnLockResponse released_;
};

}  // namespace

std::unique_ptr<PairClient> make_grpc_pair_client(std::uint16_t port) { return std::make_unique<GrpcPairClient>(port); }

}  // namespace bench
