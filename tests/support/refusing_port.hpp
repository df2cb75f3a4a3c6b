// A loopback port that refuses connections, for client tests of "cannot connect".
#pragma once

#include <cstdint>
#include <string>

namespace tnl::test {

/// A loopback port bound but not listening: connecting to it is refused, and no other
/// process can take it while this object lives.
class RefusingPort {
 public:
  /// Binds an ephemeral loopback port without listening; throws when it cannot.
  RefusingPort();
  /// Closes the socket, freeing the port.
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  /// The port, as text for command lines.
  [[nodiscard]] std::string port_string() const { return std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace tnl::test
