// The anchor of issue 13's benchmark: etcd's own way to lock, as `etcdctl lock` and
// distlock do it, through the server-side Lock service (v3lockpb) with a lease per lock:
// LeaseGrant, Lock, Unlock, LeaseRevoke. Blocking gRPC calls on the stubs generated from
// Debian's .proto files (tnl_etcd_proto), one thread and one connection per client. And
// a few reads of etcd the other scenarios use to check what the replicas did.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "async_clients.hpp"
#include "measure.hpp"

namespace bench {

/// `clients` threads, each with its own gRPC connection to `endpoint`, each looping for
/// `duration`: LeaseGrant(ttl 10), Lock(PREFIX + fresh name, lease), Unlock(key),
/// LeaseRevoke(lease). One cycle is timed from the grant to the revoke's answer. Throws on
/// any failed call.
CycleOutcome run_etcd_lock_cycles(const std::string& endpoint, int clients, Clock::duration duration,
                                  const std::string& prefix);

/// The replica's own recipe with no replica: each client thread loops the two
/// transactions the etcd backend sends for one uncontended lock (acquire: put the key and,
/// with `index`, its `.ids/` index on one lease, range the first key and the last two by
/// create revision; release: compare the create revision, delete both), while one watch on
/// the prefix takes every event, as a replica's does. What etcd and a gRPC client cost per
/// cycle for this key layout, without the replica's own work: its floor.
/// How the recipe's watch and keys are laid out (variants measured side by side).
struct RecipeVariant {
  bool index = true;    ///< write the `.ids/` index key next to the lock key
  bool prev_kv = true;  ///< the watch asks for each event's previous key-value
  /// Two watch ranges on one stream that leave out `prefix + ".ids/"`, instead of one on the prefix.
  bool split = false;
  /// The acquire ranges the first key (with its value) and the last two (keys only), as the
  /// backend does; without, only the last two with their values (enough when uncontended).
  bool head_range = true;
};

CycleOutcome run_recipe_cycles(const std::string& endpoint, int clients, Clock::duration duration,
                               const std::string& prefix, RecipeVariant variant);

/// `rounds` rounds of a holder and `waiters` clients queued behind it in etcd's Lock RPC
/// (each with its own lease and connection, queued one after another so that their order
/// is known), handed on in turn: from the holder's Unlock sent to the next waiter's Lock
/// answered, in microseconds (one per handoff).
std::vector<double> etcd_lock_handoffs(const std::string& endpoint, int waiters, int rounds, const std::string& prefix);

/// Reads of etcd for checking the replicas' work.
class EtcdReader {
 public:
  explicit EtcdReader(const std::string& endpoint);
  ~EtcdReader();
  EtcdReader(const EtcdReader&) = delete;
  EtcdReader& operator=(const EtcdReader&) = delete;

  /// How many keys start with `prefix`. Throws if etcd does not answer.
  std::int64_t count_prefix(const std::string& prefix);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace bench
