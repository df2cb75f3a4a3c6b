// A real Connection over loopback, its RequestHandler and a ScriptedLockBackend: the line
// protocol driven line by line, with the backend's answers given by hand (unit tests).
#pragma once

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "connection_manager.hpp"
#include "process.hpp"
#include "request_handler.hpp"
#include "scripted_lock_backend.hpp"

namespace tnl::test {

/// One server-side Connection on a real loopback socket, with its client's end, handled by a
/// RequestHandler over a ScriptedLockBackend that answers only when the test says.
struct ScriptedConnection {
  explicit ScriptedConnection(tnl::ServerConfig server_config = {}) : config(std::move(server_config)) {
    tnl::TcpAcceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    tnl::TcpSocket server_side = acceptor.accept();
    connection = std::make_shared<tnl::Connection>(tnl::MaybeTlsSocket(std::move(server_side), nullptr, "peer"),
                                                   "peer", 1, manager, handler);
    manager.start(connection);
    client.non_blocking(true);
  }

  void send(const std::string& line) {
    client.non_blocking(false);
    asio::write(client, asio::buffer(line));
    client.non_blocking(true);
  }

  /// Runs the loop until `condition` holds (false after 5 s).
  template <typename Condition>
  bool run_until(Condition condition) {
    return tnl::test::wait_until([&] {
      io.run_for(std::chrono::milliseconds(2));
      return condition();
    });
  }

  /// The next line from the server, waiting up to `wait`; nullopt when none came (or EOF).
  std::optional<std::string> read_line(std::chrono::milliseconds wait = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (const auto end = received.find('\n'); end != std::string::npos) {
        std::string line = received.substr(0, end);
        received.erase(0, end + 1);
        return line;
      }
      io.run_for(std::chrono::milliseconds(2));
      char buffer[512];
      std::error_code error;
      const std::size_t got = client.read_some(asio::buffer(buffer), error);
      if (error == asio::error::would_block) continue;
      if (error) return std::nullopt;  // EOF or reset
      received.append(buffer, got);
    }
    return std::nullopt;
  }

  /// Whether the server closed the connection (EOF after any pending lines).
  bool closed_by_server() {
    return run_until([&] {
      char buffer[512];
      std::error_code error;
      const std::size_t got = client.read_some(asio::buffer(buffer), error);
      received.append(buffer, got);
      return error && error != asio::error::would_block;
    });
  }

  tnl::LockSession& session() { return connection->lock_session(); }

  asio::io_context io;
  tnl::test::ScriptedLockBackend backend;
  tnl::ServerStats stats;
  tnl::ServerConfig config;
  tnl::ConnectionManager manager{io};
  tnl::RequestHandler handler{backend, stats, manager, config, [] {}};
  asio::ip::tcp::socket client{io};
  std::shared_ptr<tnl::Connection> connection;
  std::string received;
};

}  // namespace tnl::test
