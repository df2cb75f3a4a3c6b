#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "lock_id.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockId;

TEST_CASE("lock ids print in the canonical UUID form and parse back", "[lock_id]") {
  const LockId id{0x0f8e5b1c4a534c1eULL, 0x9d2a6f1b7a0c3e21ULL};
  CHECK(id.str() == "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21");
  CHECK(LockId::parse(id.str()) == id);
  CHECK(LockId::parse("0F8E5B1C-4A53-4C1E-9D2A-6F1B7A0C3E21") == id);
  CHECK(id.log_str() == "0f8e5b1c\u2026");  // logs never carry a whole id (a capability)
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

TEST_CASE("random ids vary in every one of their 122 random bits", "[lock_id]") {
  // Not a test of randomness, but of not being constant or patterned (a seed reused, a
  // counter): over 1,000 ids each random bit must take both values.
  tnl::LockIdGenerator generator;
  std::uint64_t high_ones = 0, high_zeros = 0, low_ones = 0, low_zeros = 0;
  for (int i = 0; i < 1000; ++i) {
    const LockId id = generator.next();
    CHECK(id.is_random());
    CHECK_FALSE(id.names_owner());
    high_ones |= id.high;
    high_zeros |= ~id.high;
    low_ones |= id.low;
    low_zeros |= ~id.low;
  }
  // Fixed: the version nibble (bits 12-15 of high) and the variant (top two bits of low).
  CHECK((high_ones & high_zeros) == ~0xf000ULL);
  CHECK((low_ones & low_zeros) == ~(0x3ULL << 62));
}

TEST_CASE("two generators do not repeat each other", "[lock_id]") {
  tnl::LockIdGenerator a, b;
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    seen.insert(a.next().str());
    seen.insert(b.next().str());
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("a connection hold's id is a version 8 UUID naming its owner, with random bits", "[lock_id]") {
  tnl::LockIdGenerator generator;
  const LockId first = generator.for_owner(12345);
  const LockId second = generator.for_owner(12345);
  CHECK(first.names_owner());
  CHECK_FALSE(first.is_random());
  CHECK(first.version() == 8);
  CHECK(first.rfc_variant());
  CHECK(first.owner() == 12345);
  CHECK(first.str()[14] == '8');
  CHECK(first != second);  // the same owner, other random bits
  CHECK(first.low == second.low);
  CHECK(LockId::parse(first.str()) == first);
  const LockId big = generator.for_owner(LockId::owner_mask);
  CHECK(big.owner() == LockId::owner_mask);
  CHECK(big.names_owner());
}

TEST_CASE("fill_random fills buffers of any size", "[lock_id]") {
  std::vector<unsigned char> bytes(100'000, 0);
  tnl::fill_random(bytes.data(), bytes.size());
  std::size_t zeros = 0;
  for (auto byte : bytes) zeros += byte == 0;
  CHECK(zeros < 1000);  // about 390 expected
}

}  // namespace TNL_UNITY_ID
