// How the open-file limit is shared between the lock port and HTTP (descriptor_budget.hpp).
#include <catch2/catch.hpp>

#include "descriptor_budget.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::lock_connection_limit;
using tnl::spare_descriptors;

TEST_CASE("the lock port leaves HTTP its connection limit and a few spare descriptors", "[descriptors]") {
  // The container's usual limit: 19,000 holders still fit.
  CHECK(lock_connection_limit(20'000, 12, 256) == 20'000 - 12 - 256 - spare_descriptors);
  CHECK(lock_connection_limit(20'000, 12, 256) > 19'000);
  // Without HTTP, only the spare.
  CHECK(lock_connection_limit(20'000, 12, 0) == 20'000 - 12 - spare_descriptors);
  // A tiny limit: HTTP gets a quarter, the lock port the rest.
  CHECK(lock_connection_limit(64, 12, 256) == 64 - 12 - 16 - spare_descriptors);
  // Nothing left: one connection still (it is refused in words only past it).
  CHECK(lock_connection_limit(16, 12, 256) == 1);
}

TEST_CASE("open descriptors and the limit are read from the system", "[descriptors]") {
  CHECK(tnl::open_descriptor_count() >= 3);
  CHECK(tnl::open_file_limit() >= tnl::open_descriptor_count());
}

}  // namespace TNL_UNITY_ID
