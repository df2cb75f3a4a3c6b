#include "socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

namespace tnl {

namespace {
void set_int_option(int fd, int level, int name, int value, const char* what) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) spdlog::debug("cannot set {}", what);
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
  set_int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, static_cast<int>(keepalive.give_up_after().count()),
                 "TCP_USER_TIMEOUT");
}

std::string format_endpoint(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address().to_string();
  const auto port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

}  // namespace tnl
