// The local requests on each name that wait for keys created before theirs to go, and which
// of them must look again (a re-check transaction) when the watch reports a deletion. No I/O.
//
// Only the earliest local waiter of a name (by its key's create revision) is active: a later
// one cannot be granted before it (it would need a slot the earlier one takes first), so it
// looks again only once it becomes the earliest (the earlier one was granted, gave up or was
// withdrawn). The active waiter of a mutex looks again when its predecessor (the greatest key
// created before its own) is deleted, so that a queue of N waiters does not answer every
// release with N transactions (no herd); a waiter of a semaphore when any key before its own
// is deleted.
//
// A deletion can go by while a request's transaction is on its way (the acquire, or a re-check):
// the answer shows the name as of its revision, and the watch may already have reported a
// deletion after it. So while a check is in flight, every deletion of a key that may be
// before the request's own is remembered with its revision, and the request looks again at
// once if one came after the revision its answer was read at.
//
// The watch asks for no previous values (prev_kv costs etcd a read of the old revision per
// deleted key), so a DELETE event names only the key. The create revision of every key put
// on a name while a local request on it exists is remembered from the PUT events (created());
// a key deleted without one was created before the first of those requests was sent, so
// before every waiter's own key: in the way of all of them. A mutex waiter also knows its
// predecessor's key, so it still looks only when that very key goes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lock_id.hpp"

namespace tnl::etcd {

class WaiterQueues {
 public:
  using Revision = std::int64_t;

  /// A request on `name` (holders allowed: `limit`) whose acquire transaction is being sent.
  void sent(const std::string& name, const LockId& id, std::size_t limit);
  /// Its acquire (or re-check) transaction answered at revision `at`: not granted, its key
  /// created at `revision`, its predecessor (the greatest key before it; 0: none) at
  /// `predecessor`. Returns whether it must look again at once.
  bool waiting(const std::string& name, const LockId& id, Revision revision, Revision predecessor, Revision at,
               std::string predecessor_key = {});
  /// A re-check transaction is being sent for `id`.
  void checking(const std::string& name, const LockId& id);
  /// `id` waits no more (granted, refused, timed out, withdrawn, failed). Returns the waiter
  /// that became the active one and must look at once, if any.
  std::optional<LockId> remove(const std::string& name, const LockId& id);
  /// A key of `name` created at `created` (0: not known, so before every waiter's own key)
  /// was deleted at revision `at`. Returns the waiters that must look again now (at most one:
  /// the active waiter, if not already looking). A mutex waiter looks if `key` is its
  /// predecessor's (without the predecessor's key: if `created` is its revision or unknown).
  std::vector<LockId> deleted(const std::string& name, Revision created, Revision at, std::string_view key = {});
  /// The watch saw `key` of `name` put, created at `revision`: remembered while `name` has
  /// local requests, for deleted_key().
  void put(const std::string& name, const std::string& key, Revision revision);
  /// The watch saw `key` of `name` deleted at `at`: deleted() with the create revision
  /// remembered by put(), if any (then forgotten).
  std::vector<LockId> deleted_key(const std::string& name, const std::string& key, Revision at);
  /// The watch missed events (a compaction): forgets every remembered create revision, and
  /// every request with a check in flight looks again when answered (all_active() covers
  /// the others).
  void forget_created();
  /// Create revisions remembered (for tests).
  [[nodiscard]] std::size_t remembered() const;

  /// The active waiter of every name that is not looking already (after the watch missed
  /// events: a compaction): each must look again.
  [[nodiscard]] std::vector<std::pair<std::string, LockId>> all_active() const;
  /// The active waiter of `name` (known revision, earliest), if any.
  [[nodiscard]] std::optional<LockId> active(const std::string& name) const;
  /// Whether `id` is waiting on `name` (for tests and checks).
  [[nodiscard]] bool contains(const std::string& name, const LockId& id) const;
  /// Requests on all names.
  [[nodiscard]] std::size_t size() const { return size_; }
  /// Names with requests.
  [[nodiscard]] std::size_t name_count() const { return names_.size(); }

 private:
  struct Waiter {
    LockId id;
    std::size_t limit = 1;
    Revision revision = 0;     ///< its key's create revision; 0 until its acquire answered
    Revision predecessor = 0;  ///< mutex: the key it waits for (0: none known)
    std::string predecessor_key;  ///< and that key (empty: not known)
    bool in_flight = true;     ///< a transaction about it is on its way
    Revision seen_delete = 0;  ///< the latest deletion that may matter, seen while in flight
  };
  using Queue = std::vector<Waiter>;  ///< in the order asked; front() finds the earliest

  /// The earliest waiter with a known revision, or null.
  static const Waiter* front(const Queue& queue);
  static Waiter* find(Queue& queue, const LockId& id);

  std::unordered_map<std::string, Queue> names_;
  /// Per name with requests: create revisions of its keys seen put since the first was sent.
  std::unordered_map<std::string, std::unordered_map<std::string, Revision>> created_;
  std::size_t size_ = 0;
};

}  // namespace tnl::etcd
