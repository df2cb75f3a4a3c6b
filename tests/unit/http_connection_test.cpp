// One HTTP connection whose answers come from a backend that answers only when the test
// says: a request whose answer is pending holds up the next one (pipelined), is not
// evicted, and times out into a 503; an answer that comes after the connection ended (or
// gave up on it) is dropped without harm.
#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "connection_manager.hpp"
#include "http_api.hpp"
#include "http_connection.hpp"
#include "http_connection_manager.hpp"
#include "http_request_gate.hpp"
#include "scripted_lock_backend.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace std::chrono_literals;

namespace {

constexpr std::string_view stats_request = "GET /api/v1alpha1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
constexpr std::string_view create_request =
    "POST /api/v1alpha1/lock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Content-Length: 25\r\n\r\n{\"service\":\"a\",\"who\":\"x\"}";

/// An HttpConnection on a loopback socket pair, its API over a scripted backend.
struct ConnectionFixture {
  explicit ConnectionFixture(std::chrono::milliseconds answer_timeout = 10s)
      : connections(io), api(backend, stats, connections, {}, "<html>"), gate(api, tnl::HttpAllowedHosts()),
        manager([] {}), acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), client(io) {
    settings.answer_timeout = answer_timeout;
    client.connect(acceptor.local_endpoint());
    tnl::TcpSocket server_side(io);
    acceptor.accept(server_side);
    connection = std::make_shared<tnl::HttpConnection>(tnl::MaybeTlsSocket(std::move(server_side)), "127.0.0.1:1", 1,
                                                       manager, gate, settings);
    manager.start(connection);
  }

  /// Runs the event loop until `done()` or 5 s (fails the test then).
  template <typename Done>
  void run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(10ms);
    }
    REQUIRE(done());
  }

  /// Runs the loop for `time`: what is ready runs (for checking that nothing happens).
  void run_for(std::chrono::milliseconds time) {
    io.restart();
    io.run_for(time);
  }

  void send(std::string_view bytes) { asio::write(client, asio::buffer(bytes.data(), bytes.size())); }

  /// Everything the client has received so far.
  std::string& received() {
    std::error_code error;
    while (client.available(error) > 0 && !error) {
      char buffer[4096];
      const auto n = client.read_some(asio::buffer(buffer), error);
      if (error) break;
      input.append(buffer, n);
    }
    return input;
  }

  /// Whether the server closed the client's connection (EOF seen).
  bool closed_by_server() {
    client.non_blocking(true);
    for (;;) {
      char buffer[4096];
      std::error_code error;
      const auto n = client.read_some(asio::buffer(buffer), error);
      input.append(buffer, n);
      if (error) return error == asio::error::eof || error == asio::error::connection_reset;
    }
  }

  /// A totals-only view.
  static tnl::LockView totals() {
    tnl::LockView view;
    view.as_of = std::chrono::system_clock::now();
    view.totals.held_names = 3;
    return view;
  }

  asio::io_context io;
  tnl::test::ScriptedLockBackend backend;
  tnl::ServerStats stats;
  tnl::ConnectionManager connections;
  tnl::HttpApi api;
  tnl::HttpRequestGate gate;
  tnl::HttpConnectionSettings settings;
  tnl::HttpConnectionManager manager;
  tnl::TcpAcceptor acceptor;
  tnl::TcpSocket client;
  std::shared_ptr<tnl::HttpConnection> connection;
  std::string input;
};

}  // namespace

TEST_CASE("HTTP connection: a late answer is written, and a pipelined request waits for it", "[http_connection]") {
  ConnectionFixture f;
  f.send(std::string(stats_request) + std::string(stats_request));  // two at once
  f.run_until([&] { return f.backend.reads.size() == 1; });
  CHECK(f.connection->phase() == tnl::HttpConnection::Phase::answering);
  CHECK_FALSE(f.manager.has_evictable());  // it may be a create: its client must learn the outcome
  f.run_for(50ms);
  CHECK(f.backend.reads.size() == 1);  // the second request is not read while the first is answered
  CHECK(f.received().empty());

  f.backend.answer_read(0, ConnectionFixture::totals());
  f.run_until([&] { return f.backend.reads.size() == 2; });  // answered, then the next one
  CHECK(f.received().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(f.received().find("\"lock_count\":3") != std::string::npos);
  f.backend.answer_read(1, ConnectionFixture::totals());
  f.run_until([&] { return f.received().find("HTTP/1.1 200 OK", 10) != std::string::npos; });
  f.run_until([&] { return f.connection->phase() == tnl::HttpConnection::Phase::awaiting; });
  CHECK(f.manager.has_evictable());  // idle again
}

TEST_CASE("HTTP connection: an answer that comes after the connection was stopped is dropped", "[http_connection]") {
  ConnectionFixture f;
  f.send(create_request);
  f.run_until([&] { return f.backend.acquires.size() == 1; });
  f.manager.stop_all();  // the server stops (or an eviction): the connection ends unanswered
  std::weak_ptr<tnl::HttpConnection> weak = f.connection;
  f.connection.reset();
  f.run_for(20ms);
  CHECK(weak.expired());  // nothing keeps it alive: no leak while the backend works
  CHECK(f.manager.size() == 0);
  // The grant and the record come now: nobody to tell, and no harm (ASan checks the rest).
  f.backend.grant(f.backend.acquires[0].id);
  REQUIRE(f.backend.reads.size() == 1);
  f.backend.answer_read(0, ConnectionFixture::totals());
  f.run_for(20ms);
  CHECK(f.closed_by_server());
  CHECK(f.input.empty());
}

/// A view of one detached lock `id` on "a", as the backend lists it just after the grant.
tnl::LockView created_view(const tnl::LockId& id) {
  tnl::LockView view = ConnectionFixture::totals();
  tnl::HoldRecord holder;
  holder.id = id;
  holder.kind = tnl::HoldKind::detached;
  holder.client_id = "x";
  holder.since = view.as_of;
  holder.token = 7;
  auto names = std::make_shared<std::vector<tnl::NameRecord>>();
  names->push_back(tnl::NameRecord{"a", 1, {holder}, {}, {}});
  view.names = names;
  return view;
}

TEST_CASE("HTTP connection: a lock created for a connection that was stopped meanwhile is released, not leaked",
          "[http_connection]") {
  ConnectionFixture f;
  f.send(create_request);
  f.run_until([&] { return f.backend.acquires.size() == 1; });
  f.manager.stop_all();  // ended unanswered: its client never learns the id of what it created
  f.connection.reset();
  f.run_for(20ms);
  const tnl::LockId id = f.backend.acquires[0].id;
  f.backend.grant(id, 7);
  REQUIRE(f.backend.reads.size() == 1);
  f.backend.answer_read(0, created_view(id));
  // Nobody knows its id: without this it would stay held (for ever, with no TTL).
  REQUIRE(f.backend.releases.size() == 1);
  CHECK(f.backend.releases[0].id == id);
  CHECK(f.backend.releases[0].by == tnl::ReleaseBy::unlock);
}

TEST_CASE("HTTP connection: an answer that comes after its client left is dropped", "[http_connection]") {
  ConnectionFixture f;
  f.send(stats_request);
  f.run_until([&] { return f.backend.reads.size() == 1; });
  f.client.close();
  f.run_for(20ms);
  f.backend.answer_read(0, ConnectionFixture::totals());  // written into a closed socket: the connection ends
  f.run_until([&] { return f.manager.size() == 0; });
}

TEST_CASE("HTTP connection: a backend that does not answer in time gets the client a 503, and its late answer is dropped",
          "[http_connection]") {
  ConnectionFixture f(100ms);
  f.send(std::string(create_request) + std::string(stats_request));
  f.run_until([&] { return f.backend.acquires.size() == 1; });
  f.run_until([&] { return f.closed_by_server(); });
  const std::string& answer = f.input;
  CHECK(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(answer.find("Retry-After: 1\r\n") != std::string::npos);
  CHECK(answer.find("Connection: close\r\n") != std::string::npos);
  CHECK(answer.find(R"({"error":"the lock backend did not answer in time"})") != std::string::npos);
  CHECK(f.backend.reads.empty());  // the pipelined request was never handed on
  // The backend answers at last: the connection has given up on it; nothing is written.
  const tnl::LockId id = f.backend.acquires[0].id;
  f.backend.grant(id, 7);
  REQUIRE(f.backend.reads.size() == 1);
  f.backend.answer_read(0, created_view(id));
  f.run_until([&] { return f.manager.size() == 0; });
  CHECK(f.input == answer);
  // The client was told 503 (try again): the lock it was granted meanwhile is given back,
  // or its retry would meet its own lock, whose id nobody knows.
  REQUIRE(f.backend.releases.size() == 1);
  CHECK(f.backend.releases[0].id == id);
  CHECK(f.backend.releases[0].by == tnl::ReleaseBy::unlock);
}

}  // namespace TNL_UNITY_ID
