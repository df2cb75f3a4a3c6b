// How a connection's end is read (Connection::ended_by_client): a lock is taken without
// its holder's consent, and --lock-delay follows, whenever the server gave up on the
// client rather than the client ending the connection.
#include <catch2/catch.hpp>

#include <cerrno>
#include <asio/error.hpp>

#include "connection.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::Connection;

TEST_CASE("a connection ended by its client is told from one the server gave up on, whatever the kernel reported",
          "[connection][lock-delay]") {
  // The client (or its stack) ended it: EOF, a reset, a broken pipe after a reset.
  CHECK(Connection::ended_by_client({}));
  CHECK(Connection::ended_by_client(asio::error::eof));
  CHECK(Connection::ended_by_client(asio::error::connection_reset));
  CHECK(Connection::ended_by_client(asio::error::broken_pipe));
  // The server gave up: a keepalive or retransmission timeout reads as ETIMEDOUT, or as
  // the ICMP error last seen for data in flight (every code Linux maps ICMP errors to).
  CHECK_FALSE(Connection::ended_by_client(Connection::answers_not_read()));
  for (const int code : {ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN, ECONNREFUSED, ENOPROTOOPT,
                         ENONET, EPROTO, EOPNOTSUPP, EMSGSIZE}) {
    INFO("errno " << code);
    CHECK_FALSE(Connection::ended_by_client(std::error_code(code, asio::error::get_system_category())));
  }
}

}  // namespace TNL_UNITY_ID
