// A line-protocol connection's lock: whether it waits for one, holds one or neither, and
// the lock's id. The one place a connection's lock is kept (the backend knows the rest:
// the name, the holder's details). 24 bytes in its Connection, which is the HoldWatcher the
// backend is given with a connection's request and hands lost() on to here: so a hold
// taken away (a forced release, a lost backend) reaches the connection by this one path:
// `lost,REASON`, then the connection closes. (The session has no pointer back to its
// connection and no vtable of its own: every idle holder would pay 16 bytes for them.)
//
// Completions may run before the backend's call returns or later: the state is set before
// each call, and each completion checks it. A completion that arrives for a connection
// that has stopped waiting (it ended) does no harm: a grant is given back at once.
#pragma once

#include <cstdint>
#include <string_view>

#include "lock_backend.hpp"

namespace tnl {

class Connection;

class LockSession {
 public:
  /// What the connection is doing with respect to a lock.
  enum class State : std::uint8_t {
    none,     ///< no lock asked for, or the last one is over
    waiting,  ///< a request is made and not answered yet
    holding,  ///< holds the connection lock `id()`
  };

  LockSession() = default;
  LockSession(const LockSession&) = delete;
  LockSession& operator=(const LockSession&) = delete;

  [[nodiscard]] State state() const { return state_; }
  /// The id of the request made or the lock held (meaningless in State::none).
  [[nodiscard]] const LockId& id() const { return id_; }

  /// Asks `backend` for a lock for `connection` (this session's). The state is `waiting`
  /// until `done` runs (now or later), then `holding` for a granted connection lock and
  /// `none` otherwise (a detached lock belongs to no connection). `done` never runs once the
  /// connection has stopped waiting (see cancel()); a grant that still arrives then is released.
  void acquire(Connection& connection, LockBackend& backend, AcquireRequest request, LockBackend::AcquireDone done);
  /// Withdraws the request the connection waits on (it ends). Nothing when it does not wait.
  void cancel(LockBackend& backend);
  /// Gives up the lock held: `by` holder (its consent) or holder_gone (the server gave up on
  /// the holder: the lock-delay follows); `who` completes the backend's log line. `done`
  /// (may be empty) runs once it is released. False (and `done` does not run) when nothing
  /// is held.
  bool release(LockBackend& backend, ReleaseBy by, std::string_view who, LockBackend::ReleaseDone done = {});
  /// The server takes the lock held away (the holder timeout): `lost,REASON` is queued on
  /// `connection` and it closes, then the lock is released (with the lock-delay), in that order.
  void revoke(Connection& connection, LockBackend& backend, std::string_view reason);
  /// The backend took the hold `id` away (HoldWatcher::lost, through its connection):
  /// `lost,REASON`, then the connection closes. Nothing for any other id.
  void lost(Connection& connection, const LockId& id, std::string_view reason);

 private:
  /// A request's completion: updates the state and runs `done`, or gives back a grant
  /// nobody waits for.
  void completed(LockBackend& backend, bool detached, const AcquireResult& result,
                 const LockBackend::AcquireDone& done);

  LockId id_;
  State state_ = State::none;
};

}  // namespace tnl
