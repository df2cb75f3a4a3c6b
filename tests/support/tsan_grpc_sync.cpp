// ThreadSanitizer builds only: shows TSan the ordering gRPC guarantees between starting an
// operation and its completion, which it cannot see by itself.
//
// Debian's gRPC is not instrumented. An operation's batch is started on one thread
// (grpc_call_start_batch, e.g. by StartWrite on the event loop) and its completion is
// dequeued on another (grpc_completion_queue_next, in gRPC's callback threads), through
// locks inside libgrpc that TSan does not see; every reaction, and gRPC's own inlined
// header code around it, would then look racy against what the starting thread did before.
// These two wrappers (the executable's definitions take precedence over libgrpc.so's for
// the calls libgrpc++ makes) add exactly that edge and no other: a release on the batch's
// tag when it is started, an acquire on the tag of each completion dequeued. A race in our
// code that this ordering does not cover is still reported.
#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>
#include <grpc/grpc.h>

#include <cstdio>
#include <cstdlib>

extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);

namespace {

template <typename Function>
Function* next_definition(Function*, const char* name) {
  void* found = dlsym(RTLD_NEXT, name);
  if (!found) {
    std::fprintf(stderr, "tsan_grpc_sync: %s not found in gRPC\n", name);
    std::abort();
  }
  return reinterpret_cast<Function*>(found);
}

}  // namespace

extern "C" grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                                 void* reserved) {
  static auto* real = next_definition(&grpc_call_start_batch, "grpc_call_start_batch");
  if (tag != nullptr) __tsan_release(tag);
  return real(call, ops, nops, tag, reserved);
}

extern "C" grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline, void* reserved) {
  static auto* real = next_definition(&grpc_completion_queue_next, "grpc_completion_queue_next");
  grpc_event event = real(cq, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE && event.tag != nullptr) __tsan_acquire(event.tag);
  return event;
}

#endif
