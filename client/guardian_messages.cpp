#include "guardian_messages.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace tnl::guardian {

bool send_message(int fd, const Message& message) {
  ssize_t sent = 0;
  do {
    sent = ::send(fd, &message, sizeof message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(sizeof message);
}

Received receive_message(int fd, Message& out) {
  while (true) {
    Message message;
    const ssize_t got = ::recv(fd, &message, sizeof message, MSG_DONTWAIT);
    if (got == static_cast<ssize_t>(sizeof message)) {
      out = message;
      return Received::message;
    }
    if (got > 0) continue;  // not one of ours: skip it
    if (got == 0) return Received::closed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Received::nothing;
    return Received::closed;  // ECONNRESET and the like: the peer is gone
  }
}

}  // namespace tnl::guardian
