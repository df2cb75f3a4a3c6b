#include <catch2/catch.hpp>

#include <fstream>

#include "process.hpp"
#include "token_generator.hpp"

using tnl::TokenGenerator;

TEST_CASE("tokens follow the clock and never repeat", "[tokens]") {
  TokenGenerator::Token clock = 5'000;
  TokenGenerator tokens({}, [&] { return clock; });
  CHECK(tokens.next() == 5'000);
  CHECK(tokens.next() == 5'001);  // the clock stood still
  clock = 4'000;                  // and now goes back
  CHECK(tokens.next() == 5'002);
  clock = 9'000;
  CHECK(tokens.next() == 9'000);
}

TEST_CASE("with a state file, a restart starts above every token handed out, even if the clock went back",
          "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  TokenGenerator::Token clock = 1'000'000'000;
  TokenGenerator::Token last = 0;
  {
    TokenGenerator tokens(state, [&] { return clock; });
    for (int i = 0; i < 10; ++i) last = tokens.next();
    // More than a reservation block in one go, with the clock standing still.
    for (TokenGenerator::Token i = 0; i < TokenGenerator::reservation_block + 10; ++i) last = tokens.next();
  }
  clock = 1;  // the machine's clock was reset
  TokenGenerator restarted(state, [&] { return clock; });
  CHECK(restarted.next() > last);
}

TEST_CASE("the state file is replaced atomically and holds the reserved mark", "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  TokenGenerator tokens(state, [] { return TokenGenerator::Token{100}; });
  const auto token = tokens.next();
  std::ifstream in(state);
  TokenGenerator::Token mark = 0;
  REQUIRE(in >> mark);
  CHECK(mark >= token);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "fencing-token.tmp"));
}

TEST_CASE("an unreadable state file is an error at start, not a silent reset", "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  std::ofstream(state) << "garbage\n";
  CHECK_THROWS(TokenGenerator(state));
}
