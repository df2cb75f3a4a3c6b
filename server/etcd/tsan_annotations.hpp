// Happens-before edges for ThreadSanitizer where the ordering is made by uninstrumented
// code (Debian's gRPC) that TSan cannot see. No-ops in every other build.
#pragma once

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace tnl::etcd {

/// What this thread did so far happens before whatever follows a later tsan_acquire(address).
inline void tsan_release([[maybe_unused]] void* address) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(address);
#endif
}

/// What preceded every earlier tsan_release(address) happens before what this thread does next.
inline void tsan_acquire([[maybe_unused]] void* address) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(address);
#endif
}

}  // namespace tnl::etcd
