// Fencing tokens that never go backwards, not even across a restart or a crash.
//
// Every token is at least the wall clock in microseconds since the epoch, and greater than
// the one before. With a state file, a high-water mark is also persisted (fsynced) *before*
// any token above the previously persisted mark is handed out, and a new server starts
// above it: so tokens rise across restarts even if the clock is stepped back. Without one,
// they rise across restarts as long as the clock does not go back and the previous server
// never handed out more than one token per microsecond on average.
//
// The state file has two slots, each a mark with a check value. A new mark overwrites the
// slot with the lower mark in place and is fdatasynced: a torn write spoils only that slot,
// and the other still holds the previous mark, which bounds every token handed out before
// the write. Writing in place also needs no new disk space, so a server restarted on a full
// disk (on any filesystem that overwrites in place: ext4, XFS, tmpfs) still keeps the
// guarantee. A file in the old one-number format is read, and replaced (by an fsynced
// rename) at the first write.
//
// When the mark cannot be written (a full disk at the first write of a new or old-format
// file, a filesystem that cannot overwrite in place), tokens still rise with the clock,
// but a server started after a crash on a clock stepped back could hand them out again:
// covers() tells which tokens a durable mark is above, and the lock table refuses every
// grant whose token a client would see unless it is covered.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace tnl {

class TokenGenerator {
 public:
  using Token = std::uint64_t;
  /// Microseconds since the epoch; injectable for tests.
  using Clock = std::function<Token()>;

  /// Tokens reserved per write of the state file: one write per second of clock at most.
  static constexpr Token reservation_block = 1'000'000;
  /// After a failed write, how long (in clock microseconds) before the next attempt.
  static constexpr Token retry_interval = 1'000'000;
  /// Highest mark a state file may hold (2^62 microseconds: 146,000 years after 1970). A
  /// higher one is no mark this server wrote (it would be tampered with): counting on from
  /// it would wrap around past 2^64, and tokens from 2^63 on do not fit the state
  /// database's signed column. Refused at start, like an unreadable file.
  static constexpr Token max_mark = Token{1} << 62;

  /// `state_file` empty: clock only. Throws std::runtime_error when the file exists but
  /// cannot be read, or holds a mark above max_mark: a silent reset could hand out tokens again. A file that cannot be
  /// written (a full disk) is logged, not fatal: see next().
  explicit TokenGenerator(std::filesystem::path state_file, Clock clock = wall_clock_microseconds);
  ~TokenGenerator();
  TokenGenerator(const TokenGenerator&) = delete;
  TokenGenerator& operator=(const TokenGenerator&) = delete;

  /// The next token: strictly greater than every token handed out before.
  Token next();

  /// Whether the persisted mark is above every token handed out so far.
  [[nodiscard]] bool mark_persisted() const { return covers(last_); }

  /// Whether `token` is at or below the persisted mark, so that no server started later,
  /// whatever its clock, hands out a token at or below it. Without a state file, always
  /// (tokens are then only as good as the clock, as documented). Once true, stays true.
  [[nodiscard]] bool covers(Token token) const { return state_file_.empty() || token <= persisted_; }

  /// Makes every later token greater than `token` (one handed out by an earlier server, e.g.
  /// a restored lock's), persisting a mark above it now if it can.
  void raise_above(Token token);

  /// The real clock.
  static Token wall_clock_microseconds();

  /// One slot of the state file: "MARK CHECK\n", fixed width.
  [[nodiscard]] static std::string format_slot(Token mark);
  /// The mark in a slot, or nullopt when the slot is torn or not a slot.
  [[nodiscard]] static std::optional<Token> parse_slot(std::string_view slot);
  static constexpr std::size_t slot_size = 38;

 private:
  /// Reads the state file; throws when it exists but holds no valid mark.
  void read_state();
  /// Throws when the mark read is above max_mark.
  void check_mark() const;
  /// Persists `mark` unless a write failed less than retry_interval ago; false (logged) on failure.
  bool try_persist(Token mark);
  /// Persists `mark` as the highest token that may ever have been handed out; throws.
  void persist(Token mark);
  /// Writes a fresh two-slot file holding `mark` in both slots, by an fsynced rename.
  void replace_file(Token mark);

  std::filesystem::path state_file_;
  Clock clock_;
  Token last_ = 0;
  Token persisted_ = 0;
  /// The marks in the two slots (0: empty or torn); valid once the file has two slots.
  std::array<Token, 2> slots_{};
  /// The state file, open for in-place writes once it has two slots; -1 before.
  int fd_ = -1;
  /// No write is tried before this clock reading (after a failure).
  Token retry_at_ = 0;
};

}  // namespace tnl
