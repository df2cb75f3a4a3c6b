#include <catch2/catch.hpp>

#include <set>

#include "lock_id.hpp"

using tnl::LockId;

TEST_CASE("lock ids print in the canonical UUID form and parse back", "[lock_id]") {
  const LockId id{0x0f8e5b1c4a534c1eULL, 0x9d2a6f1b7a0c3e21ULL};
  CHECK(id.str() == "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");
  CHECK(LockId::parse(id.str()) == id);
  CHECK(LockId::parse("0F8E5B1C-4A53-4C1E-9D2A-6F1B7A0C3E21") == id);
}

TEST_CASE("anything but a canonical UUID is not a lock id", "[lock_id]") {
  for (const char* text : {"", "null", "0f8e5b1c4a534c1e9d2a6f1b7a0c3e21", "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e2",
                           "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e211", "0f8e5b1c_4a53-4c1e-9d2a-6f1b7a0c3e21",
                           "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3eg1", " 0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e2"}) {
    INFO(text);
    CHECK_FALSE(LockId::parse(text));
  }
}

TEST_CASE("generated ids are distinct version 4 UUIDs", "[lock_id]") {
  tnl::LockIdGenerator generator;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string text = generator.next().str();
    CHECK(text[14] == '4');
    CHECK((text[19] == '8' || text[19] == '9' || text[19] == 'a' || text[19] == 'b'));
    seen.insert(text);
  }
  CHECK(seen.size() == 1000);
}
