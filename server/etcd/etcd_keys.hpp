// Where the etcd backend keeps its locks in etcd, and what it writes there. No I/O.
//
// Under a realm prefix P (e.g. "/tcpnetlock/"):
//  - a request on name N (waiting or holding, connection or detached, or a lock-delay) is
//    the key P + N + "/" + <lock id>; who holds N are the `limit` earliest keys under
//    P + N + "/" by create revision, as etcd's own recipe (`etcdctl lock P+N`, whose keys
//    are P + N + "/" + <lease in hex> with an empty value) has it, so both exclude each other;
//  - P + ".ids/" + <lock id> is the index: its value is the lock key, so that a lock is found
//    by id from any replica. Names are [A-Za-z0-9_-]+: ".ids" is never one.
//
// A value is a small JSON object (LockValue). Values written by others (etcdctl's empty one,
// anything else) are read tolerantly: a mutex held by a connection, nothing more known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lock_id.hpp"
#include "lock_view.hpp"

namespace tnl::etcd {

/// The end of the range of every key starting with `prefix` (etcd's range_end): the prefix
/// with its last byte below 0xff incremented and what follows dropped; "\0" (every key)
/// when there is none.
[[nodiscard]] std::string prefix_end(std::string_view prefix);

/// A key under the realm prefix, taken apart.
struct ParsedKey {
  enum class Kind : std::uint8_t {
    lock,   ///< P + name + "/" + suffix: a request on a name (ours or another's)
    index,  ///< P + ".ids/" + id
    other,  ///< anything else under P (not ours: ignored)
  };
  Kind kind = Kind::other;
  std::string_view name;    ///< lock: the name (valid or not: check it)
  std::string_view suffix;  ///< lock: what follows name + "/" (our lock id, etcdctl's lease); index: the id
};

/// The key layout of one realm.
class KeyLayout {
 public:
  /// `prefix` as given by --etcd-prefix: a '/' is appended when missing.
  explicit KeyLayout(std::string prefix);

  /// The realm prefix P, ending in '/'.
  [[nodiscard]] const std::string& prefix() const { return prefix_; }
  /// P + name + "/": the range of every request on `name`.
  [[nodiscard]] std::string name_prefix(std::string_view name) const;
  /// P + name + "/" + id.
  [[nodiscard]] std::string lock_key(std::string_view name, const LockId& id) const;
  /// P + ".ids/" + id.
  [[nodiscard]] std::string index_key(const LockId& id) const;
  /// P + ".ids/".
  [[nodiscard]] const std::string& index_prefix() const { return index_prefix_; }
  /// Takes a key apart; views into `key`. A key outside the realm is Kind::other.
  [[nodiscard]] ParsedKey parse(std::string_view key) const;

 private:
  std::string prefix_;
  std::string index_prefix_;
};

/// What the backend writes as a lock key's value.
struct LockValue {
  /// Our id for the request; nullopt for a key we did not write (etcdctl's).
  std::optional<LockId> id;
  HoldKind kind = HoldKind::connection;
  std::size_t limit = 1;  ///< holders allowed at once on the name (>= 1)
  std::string client_id;
  std::string peer;
  std::string reason;
  std::int64_t since_ms = 0;  ///< wall clock, ms since the epoch: when asked (a detached grant: granted; a delay: begun)
  std::optional<std::int64_t> expires_ms;  ///< detached: lease end (none: never); delay: its end
  bool fenced = false;                     ///< the holder knows its token
  std::string replica;                     ///< "host:port" of the replica that made it
  /// Whether this was read from a value not in our format (empty, not JSON, no id).
  bool foreign = false;
};

/// The value as JSON (one line).
[[nodiscard]] std::string encode(const LockValue& value);
/// Reads a value; never throws: anything not ours (empty, not JSON, fields of the wrong
/// type) gives a foreign connection mutex with whatever fields could be read.
[[nodiscard]] LockValue decode(std::string_view text);

/// Milliseconds since the epoch of `time`, and back.
[[nodiscard]] std::int64_t to_ms(std::chrono::system_clock::time_point time);
[[nodiscard]] std::chrono::system_clock::time_point from_ms(std::int64_t ms);

}  // namespace tnl::etcd
