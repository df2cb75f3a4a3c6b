// Fencing tokens that never go backwards, not even across a restart or a crash.
//
// Every token is at least the wall clock in microseconds since the epoch, and greater than
// the one before. With a state file, a high-water mark is also persisted (fsynced, atomically
// replaced) *before* any token above the previously persisted mark is handed out, and a new
// server starts above it: so tokens rise across restarts even if the clock is stepped back.
// Without one, they rise across restarts as long as the clock does not go back and the
// previous server never handed out more than one token per microsecond on average.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

namespace tnl {

class TokenGenerator {
 public:
  using Token = std::uint64_t;
  /// Microseconds since the epoch; injectable for tests.
  using Clock = std::function<Token()>;

  /// Tokens reserved per write of the state file: one write per second of clock at most.
  static constexpr Token reservation_block = 1'000'000;

  /// `state_file` empty: clock only. Throws std::runtime_error when the file cannot be
  /// read or written.
  explicit TokenGenerator(std::filesystem::path state_file, Clock clock = wall_clock_microseconds);

  /// The next token: strictly greater than every token handed out before.
  Token next();

  /// The real clock.
  static Token wall_clock_microseconds();

 private:
  /// Persists `mark` as the highest token that may ever have been handed out.
  void persist(Token mark);

  std::filesystem::path state_file_;
  Clock clock_;
  Token last_ = 0;
  Token persisted_ = 0;
};

}  // namespace tnl
