// What the LockTable and LocalLockBackend unit tests share: a recorder of a request's answer,
// a fixed start time, and readable per-owner ids.
#pragma once

#include <optional>

#include "lock_id.hpp"
#include "lock_table.hpp"

namespace tnl::test {

/// Records the answer to one request, and how often it came (exactly once, always).
struct Answer {
  std::optional<LockTable::Outcome> outcome;
  LockTable::Token token = 0;
  int calls = 0;
  LockTable::Completion completion() {
    return [this](LockTable::Outcome o, LockTable::Token t) {
      outcome = o;
      token = t;
      ++calls;
    };
  }
};

/// The time the tests start from.
inline const LockTable::TimePoint t0{};

/// An id that is unique per owner, and readable in failures: a version 8 id naming the
/// owner, as LocalLockBackend gives connection holds (the owner naming a slot) (detached holds are found through their
/// index whatever their id looks like).
inline LockId id_of(LockTable::OwnerId owner) { return LockId{0x1d00'0000'0000'8000ULL, (0x2ULL << 62) | owner}; }

}  // namespace tnl::test
