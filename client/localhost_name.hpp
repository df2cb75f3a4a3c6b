#pragma once
// The localhost names (RFC 6761 section 6.3), answered without a resolver: "localhost",
// "localhost." and any name under it ("db.localhost") are the loopback addresses. glibc
// asks /etc/hosts and DNS for them, and a root that holds only a static client (a bare
// chroot, a scratch or Alpine image) has neither; Go's resolver and systemd-resolved
// answer them the same way.

#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace tnl {

/// True for "localhost", "localhost." and names ending in ".localhost" (or ".localhost."),
/// in any letter case.
[[nodiscard]] bool is_localhost_name(std::string_view host);

/// 127.0.0.1 then ::1 on `port`: the order in which a connect tries them (servers listen
/// on 127.0.0.1 by default; IPv6 may be disabled, which only makes the second one fail).
[[nodiscard]] std::vector<asio::ip::tcp::endpoint> loopback_endpoints(std::uint16_t port);

}  // namespace tnl
