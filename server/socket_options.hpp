// Socket helpers: options every connection gets, its own keepalive schedule, and how
// endpoints are shown.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "io_types.hpp"
#include "server_config.hpp"

namespace tnl {

/// TCP_NODELAY (no delayed-ACK stalls on request/answer round trips), and TCP keepalive
/// with TCP_USER_TIMEOUT on the same schedule, so that a holder whose machine vanished
/// (no FIN, no RST) is detected and its lock freed. Set once on the listening socket:
/// Linux copies them to every socket it accepts, which saves six system calls a connection.
/// Each accepted socket then gets its own schedule (spread_keepalive).
void configure_listening_socket(TcpAcceptor& acceptor, const ServerConfig& config);

/// One connection's keepalive schedule: never later than the configured one.
struct KeepaliveSchedule {
  std::chrono::seconds idle;        ///< silence before the first probe
  std::chrono::seconds interval;    ///< between unanswered probes
  std::chrono::milliseconds give_up;  ///< TCP_USER_TIMEOUT: when an unanswered peer is dropped
};

/// Spreads keepalive probes over time (docs/PROTOCOL.md, "Dead holders").
///
/// Linux fires the keepalive timers of sockets that went quiet at about the same time in
/// one batch: a timer 2 to 16 s out falls into a timer-wheel slot 256 ms wide (HZ 250),
/// and the whole slot expires in one tick. Over loopback or a veth pair (containers), each
/// probe is queued on the sending CPU's input backlog, and beyond
/// net.core.netdev_max_backlog (1,000) probes in one batch the rest are dropped without
/// TCP noticing. Sockets that shared a slot share it again on every retry, so the same
/// live holders lose every probe and are reaped. Measured here (2 vCPUs, HZ 250) with
/// 19,000 holders opened within 1 to 2 s: batches of up to 2,400 timer expiries in one
/// tick, 96 % of them on one CPU (perf, timer:timer_expire_entry); with
/// `--tcp-keepalive 6,3,2`, 17,000 to 39,000 packets dropped and 3,100 to 11,000 live
/// holders reaped within 36 s (stress_keepalive_test). With the spreading below: none
/// reaped, 700 to 3,400 packets dropped.
///
/// So each connection gets its own idle time, a whole number of seconds drawn uniformly
/// from [ceil(IDLE/2), IDLE], and its own interval from [ceil(INTERVAL/2), INTERVAL]:
/// connections opened together first probe over IDLE/2 seconds instead of in one tick,
/// and retry apart. Its TCP_USER_TIMEOUT is the end of its last probe round that fits in
/// IDLE + INTERVAL * COUNT, so it probes at least COUNT times and is never given up on
/// later than the configured schedule says. Neither value is ever above the configured
/// one: probes come earlier and more often, never later. Where it can, the interval
/// leaves 1 or 2 s of idle time after it: after an answered probe Linux waits one interval,
/// then the rest, and a rest under 2 s is timed in the wheel's 32 ms slots, whose batches
/// are eight times smaller. Cost: two setsockopt calls per connection on average (three
/// at most; none for a value equal to the inherited one).
///
/// `random` is any uniformly distributed 32-bit value (the caller's generator, or a test's).
[[nodiscard]] KeepaliveSchedule spread_keepalive(const TcpKeepalive& configured, std::uint32_t random);

/// Gives the accepted `socket` its own keepalive `schedule` (only what differs from the
/// configured schedule, which it inherited from the listener).
void apply_keepalive(TcpSocket& socket, const TcpKeepalive& configured, const KeepaliveSchedule& schedule);

/// Caps what the kernel buffers for `socket`'s writes at about `bytes` (Linux doubles it).
/// For long answers: over loopback Linux grows a send buffer to 4 MiB, so a client that
/// never reads would have every byte of its answer copied into kernel memory, and 1,000 of
/// them keep the event loop busy copying gigabytes (issue 10, finding 9).
void limit_send_buffer(TcpSocket& socket, int bytes);

/// Makes the next close of `socket` abortive: an RST, and unsent data is dropped.
void reset_on_close(TcpSocket& socket);

/// A socket bound to `address`:`port` (0: any free port) and listening (an IPv6 wildcard
/// takes IPv4 too, as the system's default has it); throws std::system_error when it cannot.
[[nodiscard]] TcpAcceptor listen_on(asio::io_context& io, const std::string& address, std::uint16_t port);

/// "127.0.0.1:7654" or "[::1]:7654", for logs and `.locks`.
[[nodiscard]] std::string format_endpoint(const asio::ip::tcp::endpoint& endpoint);

}  // namespace tnl
