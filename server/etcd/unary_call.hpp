// The gRPC side of one unary call attempt: the context, request and response gRPC works
// on until its callback has run. Owned jointly by the callback, the Gate (until the call
// leaves) and the handler that takes the response to the loop.
#pragma once

#include <grpcpp/client_context.h>

#include "gate.hpp"

namespace tnl::etcd {

template <class Request, class Response>
struct UnaryCall final : Gate::Call {
  grpc::ClientContext context;
  Request request;
  Response response;

  void cancel() override { context.TryCancel(); }
};

}  // namespace tnl::etcd
