// The Gate between gRPC's threads and the event loop: results handed over before the loop
// gets to them go in ONE asio handler, in order; a result that closes the gate drops the
// rest; the work guard lasts until the last call's result is handled.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "gate.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::etcd::Gate;

namespace {

struct FakeCall final : Gate::Call {
  void cancel() override {}
};

}  // namespace

TEST_CASE("etcd gate: results handed over while the loop is busy run in order in one handler", "[etcd]") {
  asio::io_context io;
  auto gate = Gate::make(io);
  auto call = std::make_shared<FakeCall>();
  REQUIRE(gate->enter(call));
  std::vector<int> order;
  std::thread grpc_thread([&] {
    gate->post([&] { order.push_back(1); });
    gate->post([&] { order.push_back(2); });
    gate->leave(call.get(), [&] { order.push_back(3); });
  });
  grpc_thread.join();
  call.reset();
  // One handler for the three results; the loop then runs out of work (the call left).
  CHECK(io.run() == 1);
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(gate->in_flight() == 0);
  CHECK(gate->alive() == 0);
  // Later results take a handler of their own again.
  gate->post([&] { order.push_back(4); });
  io.restart();
  CHECK(io.run() == 1);
  CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("etcd gate: a result that closes the gate drops the ones queued after it", "[etcd]") {
  asio::io_context io;
  auto gate = Gate::make(io);
  std::vector<int> order;
  gate->post([&] { order.push_back(1); });
  gate->post([&] {
    order.push_back(2);
    CHECK(gate->close());
  });
  gate->post([&] { order.push_back(3); });
  io.run();
  CHECK(order == std::vector<int>{1, 2});
  gate->post([&] { order.push_back(4); });  // closed: nothing posted
  io.restart();
  CHECK(io.run() == 0);
  CHECK(order == std::vector<int>{1, 2});
}

}  // namespace TNL_UNITY_ID
