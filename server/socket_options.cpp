#include "socket_options.hpp"

#include <asio/ip/address.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <spdlog/spdlog.h>

namespace tnl {

namespace {

void set_int_option(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) spdlog::debug("cannot set {}", what);
}

/// TCP_USER_TIMEOUT takes an int of milliseconds; the longest schedules do not fit.
int user_timeout_millis(std::chrono::milliseconds give_up) {
  return static_cast<int>(std::min<std::chrono::milliseconds::rep>(give_up.count(), INT_MAX));
}

}  // namespace

void configure_listening_socket(TcpAcceptor& acceptor, const ServerConfig& config) {
  const int fd = acceptor.native_handle();
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  const auto& keepalive = config.tcp_keepalive;
  if (!keepalive.enabled()) return;
  set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(keepalive.idle.count()), "TCP_KEEPIDLE");
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(keepalive.interval.count()), "TCP_KEEPINTVL");
  set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, keepalive.count, "TCP_KEEPCNT");
  // Unacknowledged writes (e.g. `lost,...` to a vanished holder) give up on the same schedule.
  set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_millis(keepalive.give_up_after()),
                 "TCP_USER_TIMEOUT");
}

KeepaliveSchedule spread_keepalive(const TcpKeepalive& configured, std::uint32_t random) {
  using std::chrono::seconds;
  const long long idle_max = configured.idle.count();
  const long long interval_max = configured.interval.count();
  const long long idle_min = (idle_max + 1) / 2;
  const long long interval_min = (interval_max + 1) / 2;
  // Two independent draws from one value: the low and the high 16 bits.
  const long long idle = idle_min + static_cast<long long>(random & 0xffff) % (idle_max - idle_min + 1);
  long long interval = interval_min + static_cast<long long>(random >> 16) % (interval_max - interval_min + 1);
  // After an answered probe Linux waits one interval, then the rest of the idle time. When
  // that rest is 1 or 2 s, the next probe's timer is in the wheel's 32 ms slots rather than
  // its 256 ms ones: eight times as many batches, each eight times smaller.
  const long long snug = std::min(interval_max, idle - 1);
  if (snug >= interval_min && idle - snug <= 2) interval = snug;
  // As many probe rounds as fit in the configured give-up time: at least COUNT, since
  // neither idle nor interval is above the configured one.
  const long long give_up_max = idle_max + interval_max * configured.count;
  const long long rounds = std::max(1LL, (give_up_max - idle) / interval);
  return {seconds(idle), seconds(interval), seconds(idle + rounds * interval)};
}

void apply_keepalive(TcpSocket& socket, const TcpKeepalive& configured, const KeepaliveSchedule& schedule) {
  const int fd = socket.native_handle();
  // Each call re-arms the keepalive timer from the last packet received, so the first
  // probe comes `idle` after the request that made the connection idle.
  if (schedule.idle != configured.idle) {
    set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(schedule.idle.count()), "TCP_KEEPIDLE");
  }
  if (schedule.interval != configured.interval) {
    set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(schedule.interval.count()), "TCP_KEEPINTVL");
  }
  if (schedule.give_up != configured.give_up_after()) {
    set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_millis(schedule.give_up), "TCP_USER_TIMEOUT");
  }
}

TcpAcceptor listen_on(asio::io_context& io, const std::string& address, std::uint16_t port) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(address), port);
  TcpAcceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(TcpAcceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

void limit_send_buffer(TcpSocket& socket, int bytes) {
  set_int_option(socket.native_handle(), SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF");
}

void reset_on_close(TcpSocket& socket) {
  const linger abort_on_close{1, 0};
  if (::setsockopt(socket.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close) != 0) {
    spdlog::debug("cannot set SO_LINGER");
  }
}

std::string format_endpoint(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  const auto port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

}  // namespace tnl
