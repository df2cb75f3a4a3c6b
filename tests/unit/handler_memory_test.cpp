#include <catch2/catch.hpp>

#include <asio/bind_allocator.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/write.hpp>
#include <cstdint>
#include <memory>

#include "handler_memory.hpp"
#include "io_types.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::HandlerAllocator;
using tnl::HandlerMemory;

namespace {
using Socket = asio::basic_stream_socket<asio::local::stream_protocol, tnl::Executor>;
}

TEST_CASE("a pending socket wait lives in the handler memory, not on the heap", "[handler_memory]") {
  // The same shape as a connection's wait for input: a handler holding a shared_ptr.
  asio::io_context io;
  Socket ours(io), theirs(io);
  asio::local::connect_pair(ours, theirs);
  HandlerMemory memory;
  auto completions = std::make_shared<int>(0);
  ours.async_wait(Socket::wait_read,
                  asio::bind_allocator(HandlerAllocator<void>(memory), [self = completions](std::error_code error) {
                    if (!error) ++*self;
                  }));
  CHECK(memory.in_use());
  io.poll();
  CHECK(*completions == 0);

  asio::write(theirs, asio::buffer("x", 1));
  io.run();
  CHECK(*completions == 1);
  CHECK_FALSE(memory.in_use());  // given back before the handler ran
}

TEST_CASE("handler memory falls back to the heap when it is taken or too small", "[handler_memory]") {
  HandlerMemory memory;
  void* inline_room = memory.allocate(64, alignof(void*));
  CHECK(memory.in_use());
  void* second = memory.allocate(64, alignof(void*));  // taken: from the heap
  CHECK(second != inline_room);
  void* large = memory.allocate(4096, alignof(void*));
  CHECK(large != inline_room);
  memory.deallocate(second, alignof(void*));
  memory.deallocate(large, alignof(void*));
  CHECK(memory.in_use());
  memory.deallocate(inline_room, alignof(void*));
  CHECK_FALSE(memory.in_use());
  void* overaligned = memory.allocate(16, 64);
  CHECK_FALSE(memory.in_use());
  CHECK(reinterpret_cast<std::uintptr_t>(overaligned) % 64 == 0);
  memory.deallocate(overaligned, 64);
}

}  // namespace TNL_UNITY_ID
