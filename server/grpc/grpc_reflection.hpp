// gRPC server reflection (grpc.reflection.v1alpha.ServerReflection), so that grpcurl and
// other clients need no .proto: the services served, and the descriptors of the files that
// declare them, from protobuf's generated pool (every .proto compiled into the server).
// No I/O: the front end feeds it each request of a ServerReflectionInfo stream.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "grpc_reflection_v1alpha/reflection.pb.h"

namespace google::protobuf {
class FileDescriptor;
}  // namespace google::protobuf

namespace tnl {

namespace reflection = ::grpc::reflection::v1alpha;

class GrpcReflection {
 public:
  /// `services`: the full names listed (the reflection service's own among them).
  explicit GrpcReflection(std::vector<std::string> services) : services_(std::move(services)) {}

  /// The answer to one request of a stream. As gRPC's own reflection, a file already sent on
  /// the stream (`sent`, kept per stream) is not sent again.
  [[nodiscard]] reflection::ServerReflectionResponse answer(const reflection::ServerReflectionRequest& request,
                                                            std::set<std::string>& sent) const;

 private:
  /// `file` and the files it imports, recursively, but those in `sent`.
  static void add_files(const google::protobuf::FileDescriptor* file, std::set<std::string>& sent,
                        reflection::FileDescriptorResponse& out);

  const std::vector<std::string> services_;
};

}  // namespace tnl
