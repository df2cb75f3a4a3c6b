// distlock's realms (its --prefix, DISTLOCK_PREFIX) on our lock names.
//
// distlock keeps lock NAME under the etcd key PREFIX + NAME, so that realms (staging,
// testing...) on one etcd never see each other's locks. Our lock names allow only
// [a-zA-Z0-9_-], so the prefix is encoded into that set, and joined to NAME by the first
// '-' of the lock name, which the encoded prefix never contains:
//
//   lock name = encode(PREFIX) + "-" + NAME
//   encode: a letter or digit stays; '/' becomes "__"; any other byte becomes '_' and its
//           two lower-case hex digits ('-' is "_2d", '_' is "_5f", '.' is "_2e").
//
// So the default prefix "/distlock/" and NAME "percona_prod" give
// "__distlock__-percona_prod". The encoding is one-to-one and no encoded prefix contains
// '-', so a lock name belongs to exactly one realm (the text before its first '-'):
// different prefixes never share a lock, and a listing shows a realm's locks only.
// Limits: NAME itself must be a valid lock name ([a-zA-Z0-9_-]+; distlock allows any
// text); "a/" + "b" and "a" + "/b", one etcd key for distlock, are two locks here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tnl::distlock {

/// distlock's default prefix.
inline constexpr std::string_view default_prefix = "/distlock/";

/// `prefix` encoded in [a-zA-Z0-9_] (see the file comment).
[[nodiscard]] std::string encode_prefix(std::string_view prefix);

/// The inverse of encode_prefix(); nullopt for text that no prefix encodes to.
[[nodiscard]] std::optional<std::string> decode_prefix(std::string_view encoded);

/// Our lock name for distlock's lock `name` under `prefix`. `name` must be a lock name.
[[nodiscard]] std::string realm_lock_name(std::string_view prefix, std::string_view name);

/// distlock's name of our lock `lock_name` when it is in the realm of `prefix`; nullopt
/// when it belongs to another realm (or to none).
[[nodiscard]] std::optional<std::string> name_in_realm(std::string_view prefix, std::string_view lock_name);

}  // namespace tnl::distlock
