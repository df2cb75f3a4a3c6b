// What tcpnetlock_do and its guardian tell each other over their socket pair
// (AF_UNIX, SOCK_SEQPACKET): small fixed-size messages, one per packet.
#pragma once

#include <cstdint>

namespace tnl::guardian {

/// What a message says.
enum class Kind : std::int32_t {
  // From the guardian to tcpnetlock_do.
  started = 1,  ///< the command runs: value = its pid (and process group); extra = 1 when its
                ///< group was handed the terminal
  exec_failed,  ///< the command could not be started: value = exec's errno. The guardian exits.
  stopped,      ///< the command was stopped (Ctrl-Z, SIGSTOP)
  exited,       ///< the command ended: value = its raw wait status
  terminating,  ///< the command and what it started get SIGTERM now: value = how many processes
                ///< (-1: unknown), extra = 1 when the command had already ended (leftovers)
  killing,      ///< still running after the grace: SIGKILL now; value = how many (-1: unknown)
  done,         ///< every process descended from the command has ended and been reaped; the
                ///< guardian exits right after this, closing its copy of the lock's connection
  // From tcpnetlock_do to the guardian.
  forward = 100,  ///< send signal `value` to the command (once it has ended: stop waiting for
                  ///< what it left, SIGKILL that now)
  terminate,      ///< terminate the command and everything it started: SIGTERM (and SIGCONT),
                  ///< SIGKILL after the grace
  resume,         ///< SIGCONT to the command's process group (after we were continued)
};

/// One message.
struct Message {
  Kind kind{};
  std::int32_t value = 0;
  std::int32_t extra = 0;
};

/// Sends `message` on `fd` (never raising SIGPIPE). False when the peer is gone.
bool send_message(int fd, const Message& message);

/// What receive_message() found.
enum class Received {
  message,  ///< `out` holds the next message
  nothing,  ///< no message waiting
  closed,   ///< the peer has closed its end (it has exited or died)
};

/// Takes the next message from `fd` without blocking.
Received receive_message(int fd, Message& out);

}  // namespace tnl::guardian
