// A LockBackend whose locks live in etcd, shared by any number of replicas (issue 13). The
// lock state this replica knows (its connections' holds, its requests, its waiters) has one
// owner, the event loop; etcd's answers come through etcd::Client's callbacks on that loop.
//
// Layout (etcd/etcd_keys.hpp): a request on name N is the key P + N + "/" + id, with the
// index P + ".ids/" + id next to it; the `limit` earliest keys under P + N + "/" by create
// revision hold (etcd's own recipe, so `etcdctl lock P+N` and we exclude each other); a
// grant's fencing token is its key's create revision. With distlock's layout
// (EtcdBackendOptions::distlock_layout), the lock names of P's own distlock realm are the key
// P + NAME instead, as a real distlock keeps them (etcd/distlock_layout.hpp; the acquire,
// waits, watch events and listing for them: etcd_distlock_layout.cpp).
//
// One lease per replica, kept alive by one keepalive stream: every connection request's key
// is on it (and a detached request's while it waits). A granted detached lock moves to its
// own lease of ceil(ttl) s, or to none for ttl:inf; a lock-delay is the holder's key moved to
// a lease of ceil(delay) s with kind "delay". A put onto an existing key keeps its create
// revision, so a move keeps the key's place in the queue and its token.
//
// The one promise rests on the LeaseGuard (etcd/lease_guard.hpp): a grant is answered only
// after a successful transaction said so AND while the guard is valid at the moment of the
// answer. When the guard expires (a timer, and a check at the start of every call and every
// completion, so that a process resumed after a pause acts on it before anything else),
// every connection hold is told `lost(backend unavailable)`, every request completes
// unavailable, available() turns false; the old lease is revoked (best effort) and a new one
// granted, and the replica is available again.
//
// Waiting: one watch on the whole prefix P. Only the earliest local waiter of a name looks
// again (a re-check transaction) when its predecessor (mutex) or any earlier key (semaphore)
// is deleted (etcd/waiter_queues.hpp). A DELETE, or a PUT moving it to another lease or kind,
// of a key this replica holds and did not change itself tells the holder it lost the lock.
//
// A holder's `release` is answered once its key is deleted (retried until it is, or until the
// lease is given up: then etcd deletes the key), so that `released` means free, as locally.
// Detached unlocks and renewals are answered only after their transaction succeeded.
#pragma once

#include <asio/io_context.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "deadline_timer.hpp"
#include "etcd/distlock_layout.hpp"
#include "etcd/etcd_keys.hpp"
#include "etcd/lease_guard.hpp"
#include "etcd/waiter_queues.hpp"
#include "io_types.hpp"
#include "listing_pacer.hpp"
#include "lock_backend.hpp"
#include "server_stats.hpp"

namespace etcdserverpb {
class RangeResponse;
class ResponseOp;
class TxnResponse;
class TxnRequest;
}  // namespace etcdserverpb
namespace mvccpb {
class Event;
class KeyValue;
}  // namespace mvccpb
namespace grpc {
class Status;
}

namespace tnl {

namespace etcd {
class Client;
class KeepAlive;
class Watch;
struct Listing;
}  // namespace etcd

struct EtcdBackendOptions {
  std::string prefix = "/tcpnetlock/";
  std::chrono::seconds lease_ttl{10};
  std::chrono::milliseconds lock_delay{0};
  std::string replica;  // "host:port" of this replica, shown in listings and logs
  /// The realm's distlock names kept as distlock keeps them (--etcd-layout; etcd/distlock_layout.hpp).
  bool distlock_layout = false;
};

class EtcdLockBackend final : public LockBackend {
 public:
  /// Starts the session (lease grant, keepalive, watch) at once, asynchronously: until the
  /// lease is granted the backend is not available(). `client` must outlive it.
  EtcdLockBackend(asio::io_context& io, etcd::Client& client, EtcdBackendOptions options, ServerStats& stats);
  /// Stops the streams and timers; calls still in flight find the backend gone and do nothing.
  ~EtcdLockBackend() override;
  EtcdLockBackend(const EtcdLockBackend&) = delete;
  EtcdLockBackend& operator=(const EtcdLockBackend&) = delete;

  // LockBackend.

  LockId acquire(AcquireRequest request, AcquireDone done, std::weak_ptr<HoldWatcher> watcher = {}) override;
  bool cancel(const LockId& id) override;
  void release(const LockId& id, ReleaseBy by, std::string_view who, ReleaseDone done) override;
  void renew(const LockId& id, std::optional<Clock::duration> ttl, RenewDone done) override;
  void update(const LockId& id, HoldUpdate changes, UpdateDone done) override;
  void read(LockQuery query, ReadDone done) override;
  [[nodiscard]] bool available() const override;
  void render_metrics(std::string& out) const override;
  void shut_down() override;

  // For tests and the status of the replica.

  /// The replica's lease (0: none now).
  [[nodiscard]] std::int64_t lease() const { return lease_; }
  /// Connection holds of this replica.
  [[nodiscard]] std::size_t hold_count() const { return holds_.size(); }
  /// Requests under way (asked, waiting, being granted).
  [[nodiscard]] std::size_t request_count() const { return requests_.size(); }
  /// Key deletions and moves still being retried.
  [[nodiscard]] std::size_t cleanup_count() const { return cleanups_.size(); }
  /// Acquire transactions sent (each carries a batch of one or more requests).
  [[nodiscard]] std::uint64_t acquire_batches() const { return acquire_batches_; }
  /// Plain key deletion transactions sent (each a batch of one or more deletions).
  [[nodiscard]] std::uint64_t delete_batches() const { return delete_batches_; }
  /// Whether the shutdown's lease revocation is still under way.
  [[nodiscard]] bool revoking() const { return revoking_; }
  /// Holds told lost since the start.
  [[nodiscard]] std::uint64_t holds_lost() const { return holds_lost_; }
  /// Tests only: stops sending keepalives (as a replica cut off from etcd would), so that
  /// the guard expires while etcd may still keep the lease.
  void stop_keepalives_for_test();
  /// Tests only: the next renewal's transaction is applied by etcd but its answer is lost
  /// (reported DEADLINE_EXCEEDED), as when a member answers after the call's deadline.
  void lose_next_renew_answer_for_test() { lose_next_renew_answer_ = true; }
  /// Tests only: the next distlock-layout acquire's transaction is applied by etcd but its
  /// answer is lost (reported DEADLINE_EXCEEDED).
  void lose_next_distlock_answer_for_test() { lose_next_distlock_answer_ = true; }
  /// Test only: the watch's events are dropped while `drop` (as if the watch missed them).
  void drop_watch_events_for_test(bool drop) { drop_events_ = drop; }
  /// Test only: what the watch does when etcd says it missed events (compacted).
  void compacted_for_test() { on_compacted(); }
  /// Test only: the next distlock-layout acquire's answer is kept until release_held_answer_for_test().
  void hold_next_distlock_answer_for_test() { hold_next_answer_ = true; }
  /// Test only: delivers the answer kept; false when none is kept yet.
  bool release_held_answer_for_test() {
    if (!held_answer_) return false;
    auto answer = std::move(held_answer_);
    answer();
    return true;
  }

 private:
  using WallClock = std::chrono::system_clock;
  using Revision = std::int64_t;

  /// A request being made, waiting, or being granted.
  struct Request {
    enum class Phase : std::uint8_t {
      queued,    ///< waits for the acquire batch on its way to return (nothing sent yet)
      putting,   ///< the acquire transaction is on its way
      waiting,   ///< queued behind earlier keys
      checking,  ///< a re-check transaction is on its way
      moving,    ///< granted in etcd: a detached lock moving to its own lease
    };
    AcquireRequest request;
    AcquireDone done;
    std::weak_ptr<HoldWatcher> watcher;
    std::string key;
    std::uint64_t epoch = 0;  ///< the session its key was put in
    Revision revision = 0;    ///< its key's create revision; 0 until known
    Phase phase = Phase::queued;
    /// Its asker has gone (or it was answered) while the put was on its way: the key is
    /// deleted when the answer comes.
    bool abandoned = false;
    Clock::time_point asked;
    WallClock::time_point asked_wall;
    /// In distlock's layout (its key is P + NAME; etcd_distlock_layout.cpp).
    bool distlock = false;
    /// distlock layout, a request that does not wait: it waits only for distlock's internal
    /// mutex, briefly, and its deadline's expiry answers not_granted.
    bool nowait = false;
  };

  /// A connection hold of this replica.
  struct Hold {
    std::string name;
    std::string key;
    Revision revision = 0;
    std::uint64_t epoch = 0;
    std::int64_t lease = 0;
    std::weak_ptr<HoldWatcher> watcher;
    Clock::time_point since;
    std::string peer;
    std::string client_id;
    std::size_t limit = 1;  ///< holders allowed on the name (a lock-delay keeps it)
  };

  /// A key deletion (or a move to a lock-delay's lease) retried until it is done.
  struct Cleanup {
    std::string key;
    std::string index_key;
    Revision revision = 0;    ///< guard: only the key created then (0: whatever it is)
    /// Guard too: only while the key is on this lease (0: any). For stray keys (on_events).
    std::int64_t on_lease = 0;
    std::uint64_t epoch = 0;  ///< given up with this session (0: never: not on the replica lease)
    /// A lock-delay: the key moves to a lease of this length with this value instead.
    std::optional<std::chrono::milliseconds> delay;
    std::string delay_value;
    int attempts = 0;
    /// Always guarded by `revision` (never batched without a compare): a distlock-layout key
    /// P + NAME is made again by others once deleted.
    bool exact = false;
    /// Told once, with whether it was done (an admin's release waits for it).
    std::function<void(bool done)> then;
    /// Told once the key is gone from etcd, or left to its lease (given up): a holder's own
    /// `release` is answered then, so that whoever reads `released` finds the name free.
    std::function<void()> gone;
  };

  /// Runs `f` only while this backend lives (calls in flight may outlast it).
  template <class F>
  auto guarded(F f) {
    return [life = std::weak_ptr<char>(life_), f = std::move(f)](auto&&... args) mutable {
      if (life.expired()) return;
      f(std::forward<decltype(args)>(args)...);
    };
  }

  // The session: lease, keepalive, watch, guard.
  void start_session();
  /// Writes the prefix's layout in etcd (P + layout_marker) when none is, or reads it; goes on
  /// to grant_lease() only when it is this server's.
  void check_layout();
  /// Asks for the replica's lease (start_session, once the layout is checked).
  void grant_lease();
  /// Starts the session again after the backoff, which doubles up to its maximum.
  void retry_session();
  void on_ack(std::int64_t lease, Clock::time_point sent, std::int64_t ttl);
  /// Acts on an expired guard first: true while the replica can vouch for its lease.
  bool check_guard();
  void arm_guard_timer();
  /// The lease cannot be vouched for: holds lost, requests unavailable, lease revoked, new session.
  void lose_session(std::string_view why);
  void revoke(std::int64_t lease, int attempts_left);
  /// Revokes `lease` (given up) once etcd could have ended it by itself (`at`, the latest
  /// acknowledged send + TTL): never sooner, so that its holders' `lost` keeps the guard's
  /// margin before anyone else is granted their names. Dropped by shut_down().
  void revoke_at(std::int64_t lease, Clock::time_point at);
  void start_watch(Revision from);
  void on_events(const std::vector<mvccpb::Event>& events);
  void on_compacted();

  // Requests.
  /// Sends the queued acquires as ONE transaction (at most max_batch_ops operations, never
  /// two requests on one name: keys of one transaction share a create revision), unless a
  /// batch is on its way already: then they go when it returns.
  void flush_acquires();
  /// Appends request `id`'s operations (put key and index, the ranges) to `txn`.
  void add_acquire(const LockId& id, etcdserverpb::TxnRequest& txn);
  /// Request `id`'s answer, its operations starting at `first_op` of the batch's responses.
  void on_acquired(const LockId& id, const grpc::Status& status, etcdserverpb::TxnResponse& response,
                   int first_op);
  /// Decides from a transaction's ranges (first `limit` keys, the predecessor) what follows.
  void decide(const LockId& id, Revision at, const etcdserverpb::RangeResponse& first,
              const etcdserverpb::RangeResponse* predecessor, bool first_answer);
  void recheck(const LockId& id);
  void on_rechecked(const LockId& id, const grpc::Status& status, etcdserverpb::TxnResponse& response);
  /// A request's key holds in etcd: a connection hold is answered; a detached one moves first.
  void granted(const LockId& id);
  void move_detached(const LockId& id, std::int64_t lease);
  /// Completes request `id` with `outcome` (not granted), forgets it, deletes its key.
  void finish(const LockId& id, AcquireOutcome outcome);
  /// Forgets request `id` without answering; deletes its key (or does when its put is answered).
  void drop(const LockId& id);
  void expire_waits(Clock::time_point now);
  /// Takes request `id`'s deadline off the timer's list.
  void forget_deadline(const LockId& id, const Request& request);
  [[nodiscard]] std::optional<Clock::time_point> next_wait_deadline() const;

  // Holds and keys.
  /// Takes hold `id` away (it is lost), telling its watcher first.
  void take_away(const LockId& id, std::string_view reason);
  void add_cleanup(Cleanup cleanup);
  void run_cleanup(std::uint64_t number);
  /// Sends the queued plain deletions as ONE transaction of DeleteRange operations (unless
  /// one, or an acquire batch, is on its way: then when it returns; see take_deletes()).
  void flush_deletes();
  /// Moves queued plain deletions (at most `max_ops` operations) into `success` and
  /// `failure` (the same DeleteRanges in each, when given); returns their cleanup numbers.
  std::vector<std::uint64_t> take_deletes(etcdserverpb::TxnRequest& txn, bool both_branches, int max_ops);
  /// The transaction carrying deletions `batch` was answered with `status`.
  void deletes_done(const std::vector<std::uint64_t>& batch, const grpc::Status& status);
  void retry_cleanup(std::uint64_t number);
  /// The record of a lock found by id from any replica: its key, name, value, create
  /// revision, lease and whether it holds.
  struct Found {
    std::string key;
    std::string name;
    etcd::LockValue value;
    Revision revision = 0;
    /// Its mod revision: a change guarded by it is made only to the value found (a renewal,
    /// an update or a move since then fails it).
    Revision modified = 0;
    std::int64_t lease = 0;
    bool holds = false;
  };
  /// The lease a found detached lock has to itself (0: none). One granted but not moved yet
  /// (no expiry written) is still on its replica's lease, with that replica's connection
  /// holds on it: never revoked for the lock.
  static std::int64_t own_lease(const Found& found);
  using FoundDone = std::function<void(const grpc::Status& status, std::optional<Found> found)>;
  void find(const LockId& id, FoundDone done);
  void release_found(const LockId& id, ReleaseBy by, std::string who, const Found& found, ReleaseDone done);
  /// Renewal of `found` onto `lease` (granted for it; 0: none), guarded by its mod revision:
  /// found again and tried again (at most `attempts` times) when it changed meanwhile.
  void renew_found(const LockId& id, std::optional<Clock::duration> ttl, const Found& found, std::int64_t lease,
                   std::shared_ptr<RenewDone> answer, int attempts);
  /// Update of `found`, guarded by its mod revision, so that it keeps the key's lease and
  /// expiry as they are now (a renewal moves the key to a new lease and revokes the old
  /// one): found again and tried again (at most `attempts` times) when it changed meanwhile.
  void update_attempt(const LockId& id, HoldUpdate changes, UpdateDone done, Revision created, int attempts);

  // Reads.
  /// Sends the Range behind the shared listing for the readers waiting, unless one is on
  /// its way or a key deletion answered before them has not been tried yet.
  void start_listing();
  void answer_reads(std::vector<std::pair<LockQuery, ReadDone>>& readers);
  /// Changes with every change of the locks this replica knows of (the watch's, its own).
  [[nodiscard]] std::uint64_t version() const;
  void read_by_id(LockQuery query, ReadDone done);
  [[nodiscard]] LockView failed_view() const;

  /// Counts a failed transaction or call; logs it (rate-limited).
  void failed(std::string_view what, const grpc::Status& status);
  /// A warning at most once per 5 s per kind, with how many were left out meanwhile.
  void warn_limited(int kind, const std::string& text);

  // distlock's layout (etcd_distlock_layout.cpp).
  /// A request on a distlock-layout name, just made: answered, queued, or tried.
  void start_distlock(const LockId& id);
  /// One acquire transaction: the key is put only while it is absent and distlock's
  /// internal mutex is free.
  void try_distlock(const LockId& id);
  void on_distlock_tried(const LockId& id, const grpc::Status& status, etcdserverpb::TxnResponse& response);
  /// Tries the requests of `name` that may go now (the first waiting one, and those not waiting).
  void wake_distlock(const std::string& name);
  /// drop() of a distlock-layout request.
  void drop_distlock(const LockId& id);
  /// Takes request `id` out of its name's local queue; true when it was the first waiting one.
  bool unqueue_distlock(const std::string& name, const LockId& id);
  /// A watch event on a distlock-layout key, distlock's mutex or an index of ours in that
  /// layout; false: not one (the recipe's handling goes on).
  bool on_distlock_event(const mvccpb::Event& event);
  /// Deletes what an acquire whose answer was lost may have put (found through its index).
  void clean_unsure_distlock(const LockId& id, std::string key, std::uint64_t epoch, int attempts);
  /// Deletes (a bounded number of) the lease-less indexes of a full listing whose distlock
  /// key is gone or was made again by another; `ours`: key -> (index, its create revision).
  void delete_orphan_indexes(const etcdserverpb::RangeResponse& response,
                             const std::map<std::string, std::pair<etcd::DistlockLayout::Index, Revision>>& ours);
  /// Whether `kv` is still our key that `index` (made at `index_created`) describes: the same
  /// create revision and the value we wrote with the index.
  [[nodiscard]] bool distlock_key_ours(const mvccpb::KeyValue& kv, const etcd::DistlockLayout::Index& index,
                                       Revision index_created) const;
  /// The id shown for a distlock-layout key that is not ours (a real distlock's) with this
  /// create revision: a random one, remembered while listings show the key (an id is a
  /// capability: never one made from the revision, which listings show as the token).
  LockId foreign_distlock_id(Revision created, std::unordered_map<Revision, LockId>& seen);
  /// The create revision of the key a foreign id was shown for; nullopt for any other id.
  [[nodiscard]] std::optional<Revision> foreign_distlock_revision(const LockId& id) const;
  void find_distlock(const LockId& id, const etcd::DistlockLayout::Index& index, Revision index_created,
                     FoundDone done);
  void find_foreign_distlock(const LockId& id, Revision created, FoundDone done);
  /// Adds the distlock-layout keys of a Range over the prefix to `listing`.
  /// A listing of every name (`only` unset) forgets the foreign ids of keys gone.
  void add_distlock_names(const etcdserverpb::RangeResponse& response, etcd::Listing& listing,
                          const std::optional<std::string>& only, WallClock::time_point as_of);
  void read_distlock_by_id(LockQuery query, const etcd::DistlockLayout::Index& index, Revision index_created,
                           ReadDone done);
  /// A lock key's value: distlock's for a distlock-layout key, ours (JSON) otherwise.
  [[nodiscard]] std::string key_value(const std::string& key, const etcd::LockValue& value) const;
  /// An index's value: the key, and in distlock's layout the record too.
  [[nodiscard]] std::string index_value(const std::string& key, const etcd::LockValue& value) const;

  /// The record of request `id`'s key, of `kind`, since `since`, ending at `expires`.
  [[nodiscard]] etcd::LockValue lock_value_for(const LockId& id, const Request& request, HoldKind kind,
                                               WallClock::time_point since,
                                               std::optional<WallClock::time_point> expires) const;
  /// The value of request `id`'s key, of `kind`, since `since`, ending at `expires`.
  [[nodiscard]] std::string value_for(const LockId& id, const Request& request, HoldKind kind,
                                      WallClock::time_point since,
                                      std::optional<WallClock::time_point> expires) const;

  asio::io_context& io_;
  etcd::Client& client_;
  EtcdBackendOptions options_;
  ServerStats& stats_;
  etcd::KeyLayout layout_;
  etcd::DistlockLayout distlock_;
  /// A distlock-layout name's local waiters, first asked first (distlock itself has no
  /// order: FIFO holds among this replica's requests only), and the latest deletion of its
  /// key the watch reported.
  struct DistlockQueue {
    std::deque<LockId> ids;
    Revision deleted = 0;
  };
  std::map<std::string, DistlockQueue> distlock_queues_;
  /// The latest deletion of a key of distlock's internal mutex the watch reported.
  Revision distlock_mutex_deleted_ = 0;
  /// See foreign_distlock_id(): create revision -> id, and back.
  std::unordered_map<Revision, LockId> foreign_ids_;
  std::unordered_map<LockId, Revision> foreign_revisions_;
  std::shared_ptr<char> life_ = std::make_shared<char>();

  etcd::LeaseGuard guard_;
  std::int64_t lease_ = 0;
  std::uint64_t epoch_ = 0;  ///< one per lease granted
  bool granting_ = false;
  /// Whether the prefix's layout in etcd was found to be the other one (not serving).
  bool layout_conflict_ = false;
  /// After P without its '/' (/distlock.tcpnetlock-layout): the key saying which layout P is in.
  static constexpr std::string_view layout_marker = ".tcpnetlock-layout";
  bool shut_down_ = false;
  bool revoking_ = false;
  std::unique_ptr<etcd::KeepAlive> keep_alive_;
  std::unique_ptr<etcd::Watch> watch_;
  Revision watched_ = 0;  ///< the latest revision the watch reported
  SteadyTimer guard_timer_;
  SteadyTimer session_retry_;
  /// Timers of revocations waiting for their lease's earliest end (revoke_at()).
  std::list<std::shared_ptr<SteadyTimer>> revoke_timers_;
  std::chrono::milliseconds session_backoff_{50};

  LockIdGenerator ids_;
  std::unordered_map<LockId, Request> requests_;
  /// Requests whose acquire call failed (etcd may still apply its put later: a stray key
  /// the watch shows), with when; pruned after 2 lease TTLs (the lease, or a newer one, has
  /// been vouched for since) and at most max_unsure entries.
  std::unordered_set<LockId> unsure_;
  std::deque<std::pair<Clock::time_point, LockId>> unsure_order_;
  void remember_unsure(const LockId& id);
  /// Acquires waiting for the batch on its way (ids of requests dropped meanwhile are skipped).
  std::deque<LockId> acquire_queue_;
  bool acquire_in_flight_ = false;
  std::unordered_map<LockId, Hold> holds_;
  etcd::WaiterQueues waiters_;
  std::multimap<Clock::time_point, LockId> deadlines_;
  DeadlineTimer wait_timer_;

  /// See lose_next_renew_answer_for_test().
  bool lose_next_renew_answer_ = false;
  /// See lose_next_distlock_answer_for_test().
  bool lose_next_distlock_answer_ = false;
  /// See drop_watch_events_for_test().
  bool drop_events_ = false;
  /// See hold_next_distlock_answer_for_test().
  bool hold_next_answer_ = false;
  std::function<void()> held_answer_;
  std::map<std::uint64_t, Cleanup> cleanups_;
  /// Plain deletions (no lock-delay, nobody waiting for the outcome) waiting for the batch on its way.
  std::deque<std::uint64_t> delete_queue_;
  bool delete_in_flight_ = false;
  std::uint64_t next_cleanup_ = 1;
  /// Cleanups whose first attempt is on its way.
  std::set<std::uint64_t> first_tries_;
  /// The shared listing is read only after the first attempts of cleanups below this.
  std::uint64_t listing_waits_for_ = 0;
  /// Grants and releases of this replica (the watch may not have reported them yet).
  std::uint64_t local_changes_ = 0;

  // The shared listing.
  std::shared_ptr<const std::vector<NameRecord>> listing_;
  LockTotals listing_totals_;
  Revision listing_revision_ = 0;
  WallClock::time_point listing_wall_{};
  ListingPacer pacer_;
  bool listing_in_flight_ = false;
  std::vector<std::pair<LockQuery, ReadDone>> readers_;

  // Counters for /metrics.
  std::uint64_t holds_lost_ = 0;
  std::uint64_t acquire_batches_ = 0;
  std::uint64_t delete_batches_ = 0;
  std::uint64_t leases_lost_ = 0;
  std::uint64_t txn_failed_ = 0;
  struct Limited {
    Clock::time_point last{};
    std::uint64_t left_out = 0;
  };
  std::array<Limited, 4> limited_{};
};

}  // namespace tnl
