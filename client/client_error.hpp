// The one exception type LockClient throws, with a kind the CLIs map to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace tnl {

/// A failed client operation. `kind()` says what went wrong, so callers can tell a refused
/// connection (nothing listens) from other failures without parsing messages.
class ClientError : public std::runtime_error {
 public:
  enum class Kind {
    refused,            ///< every reachable address refused the connection
    connect_failed,     ///< resolving or connecting failed otherwise (or timed out)
    timeout,            ///< no answer within the operation's timeout
    connection_lost,    ///< the server closed or reset the connection
    unexpected_answer,  ///< the server answered something the operation does not expect
    server_error,       ///< the server answered `err,...`; the message is its text
    cancelled,          ///< the operation was cancelled locally (e.g. by a signal handler)
    not_connected,      ///< an operation was attempted without an open connection
  };

  ClientError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  /// What went wrong.
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

}  // namespace tnl
