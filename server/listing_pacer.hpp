// When a listing of the lock table (the `.locks` line, the HTTP list) is built again.
//
// Listings are shared until the table changes, and rebuilt at least every max_age (their
// ages go stale). A table that keeps changing would cost a build per request, and building
// a listing of thousands of locks takes milliseconds to tens of milliseconds of the one
// event loop: a flood of list requests, each after a change, left the loop doing little
// else (/healthz waited seconds). So a listing that was slow to build is reused after a
// change for `pacing` times as long as it took: listings take at most about a tenth of the
// loop, however often they are asked for. Quick builds (small tables) are always fresh, and
// no listing is ever more than max_age behind the table. No I/O.
#pragma once

#include <chrono>
#include <cstdint>


namespace tnl {

class ListingPacer {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  /// How far behind the table a listing may be.
  static constexpr std::chrono::seconds max_age{1};
  /// Builds that took at least this long (together, since the last rebuild) are paced.
  static constexpr std::chrono::milliseconds default_slow_build{1};
  /// A slow build is reused for this many times as long as it took.
  static constexpr int pacing = 10;

  /// `slow_build`: builds quicker than this are never paced.
  explicit ListingPacer(Clock::duration slow_build = default_slow_build) : slow_build_(slow_build) {}

  /// Whether the listings built so far (`have_listings`) must be dropped before answering
  /// for the table at `version`, at `now`. `hold` asks to keep them across a change anyway
  /// (until they are max_age old), e.g. while too many old ones are still being sent.
  [[nodiscard]] bool must_rebuild(std::uint64_t version, TimePoint now, bool have_listings, bool hold = false) const {
    if (!have_listings || now < built_ || now - built_ >= max_age) return true;
    if (version == version_ || hold) return false;
    return build_time_ < slow_build_ || now - built_ >= pacing * build_time_;
  }
  /// The listings were dropped at `now`; new ones are built for the table at `version`.
  void restart(std::uint64_t version, TimePoint now) {
    version_ = version;
    built_ = now;
    build_time_ = {};
  }
  /// A listing kept until the next restart took `spent` to build.
  void built(Clock::duration spent) { build_time_ += spent; }

 private:
  Clock::duration slow_build_;
  std::uint64_t version_ = 0;
  TimePoint built_{};
  Clock::duration build_time_{};
};

}  // namespace tnl
