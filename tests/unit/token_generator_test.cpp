#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <optional>

#include "process.hpp"
#include <nlohmann/json.hpp>

#include <asio/io_context.hpp>

#include "local_lock_backend.hpp"
#include "lock_view_json.hpp"
#include "token_generator.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

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

namespace {

/// Restores the file size limit and SIGXFSZ on destruction.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_ = std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
    rlimit limited = saved_;
    limited.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limited);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*previous_)(int) = nullptr;
};

TokenGenerator::Token read_mark(const std::filesystem::path& state) {
  const std::string text = tnl::test::read_file(state);
  REQUIRE(text.size() == 2 * TokenGenerator::slot_size);
  const auto first = TokenGenerator::parse_slot(std::string_view(text).substr(0, TokenGenerator::slot_size));
  const auto second = TokenGenerator::parse_slot(std::string_view(text).substr(TokenGenerator::slot_size));
  return std::max(first.value_or(0), second.value_or(0));
}

}  // namespace

TEST_CASE("a slot is a mark with a check: a torn or altered one does not parse", "[tokens]") {
  const std::string slot = TokenGenerator::format_slot(1'795'430'400'123'456);
  CHECK(slot.size() == TokenGenerator::slot_size);
  CHECK(TokenGenerator::parse_slot(slot) == std::optional<TokenGenerator::Token>(1'795'430'400'123'456));
  // Half of a newer mark written over an older one.
  const std::string newer = TokenGenerator::format_slot(1'795'430'401'123'456);
  CHECK_FALSE(TokenGenerator::parse_slot(newer.substr(0, 15) + slot.substr(15)));
  CHECK_FALSE(TokenGenerator::parse_slot(slot.substr(0, 30) + newer.substr(30)));
  CHECK_FALSE(TokenGenerator::parse_slot(std::string(TokenGenerator::slot_size, '\0')));
  CHECK_FALSE(TokenGenerator::parse_slot(""));
}

TEST_CASE("a torn slot falls back to the other slot's mark, which is above every token handed out",
          "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  TokenGenerator::Token clock = 1'000'000'000;
  TokenGenerator::Token last = 0;
  {
    TokenGenerator tokens(state, [&] { return clock; });
    for (TokenGenerator::Token i = 0; i < 3 * TokenGenerator::reservation_block; ++i) last = tokens.next();
  }
  // Tear whichever slot holds the higher mark: the other still bounds every token handed
  // out before the (interrupted) write of the higher one started.
  std::string text = tnl::test::read_file(state);
  const auto first = TokenGenerator::parse_slot(text.substr(0, TokenGenerator::slot_size)).value();
  const auto second = TokenGenerator::parse_slot(text.substr(TokenGenerator::slot_size)).value();
  CHECK(first != second);
  const std::size_t torn = first > second ? 0 : 1;
  text[torn * TokenGenerator::slot_size + 5] ^= 1;
  std::ofstream(state, std::ios::binary | std::ios::trunc) << text;
  clock = 1;
  TokenGenerator restarted(state, [&] { return clock; });
  const auto lower = std::min(first, second);
  CHECK(lower >= last - TokenGenerator::reservation_block);
  CHECK(restarted.next() > lower);
}

TEST_CASE("a state file in the old one-number format is read and then replaced by two slots", "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  std::ofstream(state) << "5000000000\n";
  TokenGenerator tokens(state, [] { return TokenGenerator::Token{7}; });
  CHECK(tokens.next() == 5'000'000'001);
  CHECK(read_mark(state) >= 5'000'000'001);
  CHECK(tokens.mark_persisted());
}

TEST_CASE("when the mark cannot be written, the server still starts, leaves no temporary, and tokens rise",
          "[tokens][faults]") {
  // Issue 10, finding 11: a full disk at restart made the server exit and left an empty
  // fencing-token.tmp behind. A file size limit fails writes as a full disk does.
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  std::ofstream(state) << "5000000000\n";  // the old format: its first write makes a new file
  TokenGenerator::Token clock = 100;
  std::optional<TokenGenerator> tokens;
  {
    FileSizeLimit full(10);
    REQUIRE_NOTHROW(tokens.emplace(state, [&] { return clock; }));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "fencing-token.tmp"));
    CHECK(tokens->next() == 5'000'000'001);  // above the mark on disk
    CHECK_FALSE(tokens->mark_persisted());
    CHECK(tnl::test::read_file(state) == "5000000000\n");  // the old mark, untouched
    CHECK_FALSE(std::filesystem::exists(dir.path() / "fencing-token.tmp"));
  }
  // Space again: the next write, once the retry interval has passed, restores the margin.
  clock += TokenGenerator::retry_interval;
  const auto token = tokens->next();
  CHECK(token == 5'000'000'002);
  CHECK(tokens->mark_persisted());
  CHECK(read_mark(state) > token);
}

TEST_CASE("an existing two-slot file is rewritten in place: no temporary file, no new space", "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  TokenGenerator::Token clock = 1'000;
  { TokenGenerator create(state, [&] { return clock; }); }
  const auto inode = [&] {
    struct stat info {};
    ::stat(state.c_str(), &info);
    return info.st_ino;
  };
  const auto before = inode();
  TokenGenerator tokens(state, [&] { return clock; });
  for (TokenGenerator::Token i = 0; i < 3 * TokenGenerator::reservation_block; ++i) tokens.next();
  CHECK(inode() == before);  // the same file: written in place, never replaced
  CHECK(std::filesystem::file_size(state) == 2 * TokenGenerator::slot_size);
  CHECK(read_mark(state) > 3 * TokenGenerator::reservation_block);
}

// A mark near 2^64 (a tampered file whose check was recomputed, or the old format's plain
// number) would make `last + 1` and `mark + reservation_block` wrap: tokens would start
// again from the clock, far below those handed out, and tokens of 2^63 and more do not
// fit the state database's signed column (a restart would drop such detached locks).
TEST_CASE("a mark too large to count on from is an error at start, not a wrap-around", "[tokens][adversarial]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  const TokenGenerator::Token huge = GENERATE(~TokenGenerator::Token{0} - 1, TokenGenerator::Token{1} << 63);
  const bool old_format = GENERATE(false, true);
  if (old_format) {
    std::ofstream(state) << huge << "\n";
  } else {
    std::ofstream(state) << TokenGenerator::format_slot(huge) << TokenGenerator::format_slot(huge);
  }
  INFO("mark " << huge << (old_format ? " (old format)" : ""));
  std::optional<TokenGenerator> tokens;
  try {
    tokens.emplace(state, [] { return TokenGenerator::Token{1'000'000}; });
  } catch (const std::runtime_error&) {
    SUCCEED("refused at start");
    return;
  }
  const auto first = tokens->next();
  const auto second = tokens->next();
  CHECK(first > huge);  // impossible without a wrap: so it must be refused at start
  CHECK(second > first);
}
TEST_CASE("the largest mark accepted still leaves room to count on", "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  std::ofstream(state) << TokenGenerator::format_slot(TokenGenerator::max_mark)
                       << TokenGenerator::format_slot(TokenGenerator::max_mark);
  TokenGenerator tokens(state, [] { return TokenGenerator::Token{1'000'000}; });
  CHECK(tokens.next() == TokenGenerator::max_mark + 1);
}

// Issue 10 (adversarial review): a fresh state directory on a full disk (or an old-format
// file that cannot be replaced) keeps no mark, yet tokens are still handed out, from the
// clock. After a crash, a restart whose clock reads earlier (a step back) starts below
// them: a fenced resource that saw the old tokens refuses the new holder, or worse, a
// holder with a reused token passes. Such tokens cannot be made safe, so they are never
// shown: covers() is false for them, and the lock table refuses every grant whose token a
// client would see until the mark is written (see the next test). Every token covers()
// vouched for stays below every token after a restart.
TEST_CASE("tokens handed out while no mark could be written are not covered, covered ones stay below a restart's",
          "[tokens][faults][adversarial]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  TokenGenerator::Token clock = 1'000'000'000;
  TokenGenerator::Token unwritten = 0;
  TokenGenerator::Token covered = 0;
  SECTION("the mark is never written before the crash") {
    FileSizeLimit full(0);
    TokenGenerator tokens(state, [&] { return clock; });
    unwritten = tokens.next();
    CHECK_FALSE(tokens.mark_persisted());
    CHECK_FALSE(tokens.covers(unwritten));
    clock += TokenGenerator::retry_interval;  // retried: still full
    CHECK_FALSE(tokens.covers(tokens.next()));
  }
  SECTION("the disk has room again before the crash") {
    TokenGenerator::Token first = 0;
    std::optional<TokenGenerator> tokens;
    {
      FileSizeLimit full(0);
      tokens.emplace(state, [&] { return clock; });
      first = tokens->next();
      CHECK_FALSE(tokens->covers(first));
    }
    CHECK_FALSE(tokens->covers(tokens->next()));  // no write before the retry interval
    clock += TokenGenerator::retry_interval;
    covered = tokens->next();
    CHECK(tokens->covers(covered));
    CHECK(tokens->covers(first));  // a mark above it is on disk now: safe to show
  }
  clock = 1'000;  // kill -9, then a restart on a clock stepped back
  TokenGenerator restarted(state, [&] { return clock; });
  const auto after = restarted.next();
  CHECK(after > covered);
  CHECK(restarted.covers(after));
  (void)unwritten;  // may be reused: it was never shown
}

TEST_CASE("a table on a generator that cannot write its mark refuses fencing and detached grants, shows no token",
          "[tokens][faults][adversarial]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  TokenGenerator::Token clock = 1'000'000'000;
  asio::io_context io;
  tnl::LockStore store(dir.path() / "locks.sqlite3");  // written before the disk is full
  tnl::ServerStats stats;
  std::optional<TokenGenerator> tokens;
  std::optional<tnl::LocalLockBackend> backend;
  const auto request = [](const std::string& name, bool shows_token, tnl::HoldKind kind = tnl::HoldKind::connection) {
    tnl::AcquireRequest r;
    r.name = name;
    r.kind = kind;
    r.shows_token = shows_token;
    return r;
  };
  std::optional<tnl::AcquireOutcome> fencing, detached, plain, later;
  tnl::FencingToken plain_token = 0;
  tnl::FencingToken later_token = 0;
  {
    FileSizeLimit full(0);
    tokens.emplace(state, [&] { return clock; });
    backend.emplace(io, store, stats, &*tokens);
    backend->acquire(request("f", true), [&](const tnl::AcquireResult& r) { fencing = r.outcome; });
    backend->acquire(request("d", false, tnl::HoldKind::detached), [&](const tnl::AcquireResult& r) {
      detached = r.outcome;
    });
    backend->acquire(request("p", false), [&](const tnl::AcquireResult& r) {
      plain = r.outcome;
      plain_token = r.token;
    });
  }
  CHECK(fencing == tnl::AcquireOutcome::failed);
  CHECK(detached == tnl::AcquireOutcome::failed);
  CHECK(plain == tnl::AcquireOutcome::granted);  // connection locks work on a full disk
  const auto read = [&] {
    std::optional<tnl::LockView> view;
    backend->read(tnl::LockQuery{}, [&](tnl::LockView v) { view = std::move(v); });
    REQUIRE(view);
    return *view;
  };
  auto view = read();
  auto listing = nlohmann::json::parse(tnl::locks_to_json(view));
  REQUIRE(listing.at("locks").size() == 1);
  CHECK(listing.at("locks")[0].at("holders")[0].at("token").is_null());
  const auto& name = view.names->at(0);
  CHECK(tnl::lock_record(name, name.holders.at(0), view.as_of).at("token").is_null());

  clock += TokenGenerator::retry_interval;  // room again, and time to retry
  backend->acquire(request("f", true), [&](const tnl::AcquireResult& r) {
    later = r.outcome;
    later_token = r.token;
  });
  CHECK(later == tnl::AcquireOutcome::granted);
  CHECK(later_token > plain_token);
  listing = nlohmann::json::parse(tnl::locks_to_json(read()));
  for (const auto& lock : listing.at("locks")) CHECK(lock.at("holders")[0].at("token").is_number());
}

TEST_CASE("raising the generator above a restored token persists a mark above it", "[tokens]") {
  tnl::test::TempDir dir;
  const auto state = dir.path() / "fencing-token";
  const TokenGenerator::Token clock = 1'000;
  TokenGenerator tokens(state, [&] { return clock; });  // a fresh state directory
  const TokenGenerator::Token restored = 5'000'000'000;  // saved by a server whose mark is gone
  CHECK_FALSE(tokens.covers(restored));
  tokens.raise_above(restored);
  CHECK(tokens.covers(restored));  // shown again at once: the mark on disk is above it
  CHECK(read_mark(state) > restored);
  tokens.raise_above(7);  // lower: nothing changes
  CHECK(tokens.next() == restored + 1);
}

}  // namespace TNL_UNITY_ID
