// Room inside an object for its one long-lived pending operation, so that Asio does not
// allocate it separately. After Asio's own example (examples/cpp11/allocation).
//
// A connection's wait for input is pending for as long as its client holds the lock. Asio
// would take it from its recycling cache, in whatever block an earlier operation left
// there (in practice an accept's: 177 bytes plus malloc's header, for an operation of 96).
// Kept in the connection instead, it costs 96 bytes and no allocation (docs/BENCHMARKS.md).
#pragma once

#include <cstddef>
#include <new>

namespace tnl {

class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  /// The inline room when it is free and big enough; otherwise the heap.
  void* allocate(std::size_t size, std::size_t alignment) {
    if (!in_use_ && size <= sizeof storage_ && alignment <= storage_alignment) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(size, std::align_val_t{alignment});
  }
  /// Gives back what allocate() returned, with the same alignment.
  void deallocate(void* pointer, std::size_t alignment) {
    if (pointer == storage_) {
      in_use_ = false;
    } else {
      ::operator delete(pointer, std::align_val_t{alignment});
    }
  }
  /// Whether an operation occupies the inline room now (for tests).
  [[nodiscard]] bool in_use() const { return in_use_; }

 private:
  /// A socket wait whose handler holds a shared_ptr and is bound to a HandlerAllocator
  /// needs 96 bytes, aligned as a pointer, with Asio 1.22 (a unit test checks that it fits);
  /// anything bigger goes to the heap.
  static constexpr std::size_t storage_alignment = alignof(void*);
  alignas(storage_alignment) unsigned char storage_[96];
  bool in_use_ = false;
};

/// The allocator that hands Asio a HandlerMemory (use with asio::bind_allocator).
template <typename T>
class HandlerAllocator {
 public:
  using value_type = T;

  explicit HandlerAllocator(HandlerMemory& memory) noexcept : memory_(&memory) {}
  template <typename U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory_(other.memory_) {}

  T* allocate(std::size_t count) const { return static_cast<T*>(memory_->allocate(sizeof(T) * count, alignof(T))); }
  void deallocate(T* pointer, std::size_t /*count*/) const { memory_->deallocate(pointer, alignof(T)); }

  bool operator==(const HandlerAllocator& other) const noexcept { return memory_ == other.memory_; }
  bool operator!=(const HandlerAllocator& other) const noexcept { return memory_ != other.memory_; }

 private:
  template <typename>
  friend class HandlerAllocator;
  HandlerMemory* memory_;
};

}  // namespace tnl
