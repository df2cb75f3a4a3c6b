// The --etcd-endpoints list: "http://a:2379,b:2379" -> {"a:2379", "b:2379"}.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tnl::etcd {

/// Splits a comma-separated list of etcd endpoints (`http://host:port` or `host:port`,
/// IPv6 as `[addr]:port`; spaces around items and one trailing `/` ignored) into
/// "host:port" strings, in order, duplicates dropped. Throws std::invalid_argument with a
/// message naming the bad item: an empty list or item, `https://` (no TLS to etcd yet),
/// another scheme, a path, a missing host or port, a port outside 1..65535.
std::vector<std::string> parse_endpoints(std::string_view list);

}  // namespace tnl::etcd
