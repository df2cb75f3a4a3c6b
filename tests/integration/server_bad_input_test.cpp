// Bad input never crashes the server, never grows its memory without bound and never
// loses or leaks a lock: each case gets a clear answer, and where the protocol says so,
// the connection is closed.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <sys/socket.h>

#include <thread>

#include "line_client.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::LineClient;
using tnl::test::ServerProcess;
using tnl::test::stats;
using namespace std::chrono_literals;

namespace {

/// The server still serves, and `name` is free (with etcd, once the key of a connection that
/// just ended is deleted: a moment later).
void check_healthy_and_free(std::uint16_t port, const std::string& name) {
  LineClient client(port);
  CHECK(client.request("lock,name:" + name + (tnl::test::etcd_backend() ? ",wait:5" : "")) == "ok");
  CHECK(client.request("release") == "released");
}

}  // namespace

TEST_CASE("a line longer than the maximum gets err,line too long and is closed", "[bad-input]") {
  ServerProcess server;
  LineClient client(server.port());
  // Far beyond the limit, in one go: the server must stop reading at the limit.
  client.send(std::string(64 * 1024, 'a'));
  CHECK(client.read_line() == "err,line too long");
  CHECK(client.wait_closed());
  check_healthy_and_free(server.port(), "a");
}

TEST_CASE("a line of exactly the maximum is accepted, one byte more is not", "[bad-input]") {
  ServerProcess server({"--max-line-length", "64"});
  const std::string name_at_limit(64 - std::string{"lock,name:"}.size(), 'n');
  {
    LineClient client(server.port());
    CHECK(client.request("lock,name:" + name_at_limit) == "ok");
    CHECK(client.request("release") == "released");
  }
  {
    // CRLF does not count towards the limit. (Another name of that length: with etcd the
    // first one's key may not be deleted yet.)
    LineClient client(server.port());
    client.send("lock,name:" + std::string(name_at_limit.size(), 'm') + "\r\n");
    CHECK(client.read_line() == "ok");
  }
  {
    LineClient client(server.port());
    CHECK(client.request("lock,name:" + name_at_limit + "x") == "err,line too long");
    CHECK(client.wait_closed());
  }
}

TEST_CASE("a holder that sends an overlong line loses its connection and its lock", "[bad-input]") {
  ServerProcess server({"--max-line-length", "32"});
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  holder.send(std::string(100, 'x'));
  CHECK(holder.read_line() == "err,line too long");
  CHECK(holder.wait_closed());
  check_healthy_and_free(server.port(), "abc");
}

TEST_CASE("binary garbage, NUL bytes and invalid UTF-8 get bad-action", "[bad-input]") {
  ServerProcess server;
  const std::string lines[] = {
      std::string("\x00\x01\x02\x03", 4),
      std::string("lo\x00ck,name:abc", 13),
      "\xff\xfe\xfd",
      "\xc3\x28,name:abc",
  };
  for (const auto& line : lines) {
    LineClient client(server.port());
    CHECK(client.request(line) == "bad-action");
    CHECK(client.wait_closed());
  }
  check_healthy_and_free(server.port(), "abc");
}

TEST_CASE("NUL bytes and invalid UTF-8 in a lock name get err,invalid lock name", "[bad-input]") {
  ServerProcess server;
  const std::string lines[] = {std::string("lock,name:ab\x00", 13), "lock,name:\xc3\x28", "lock,name:\xff"};
  for (const auto& line : lines) {
    LineClient client(server.port());
    CHECK(client.request(line) == "err,invalid lock name");
    CHECK(client.wait_closed());
  }
}

TEST_CASE("binary garbage while holding gets bad-action and the lock stays", "[bad-input]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  CHECK(holder.request(std::string("\x00\xff\x80", 3)) == "bad-action");
  LineClient other(server.port());
  CHECK(other.request("lock,name:abc") == "not-granted");
  CHECK(holder.request(".keepalive") == "alive");
}

TEST_CASE("a line split across many TCP segments is one request", "[bad-input]") {
  ServerProcess server;
  LineClient client(server.port());
  for (const char c : std::string{"lock,name:split-up"}) {
    client.send(std::string(1, c));
    // The server must not answer a partial line.
    REQUIRE(client.stays_silent(2ms));
  }
  client.send("\n");
  CHECK(client.read_line() == "ok");
}

TEST_CASE("several lines pipelined in one segment are answered in order", "[bad-input]") {
  ServerProcess server;
  LineClient client(server.port());
  client.send("lock,name:piped\n.keepalive\nhello\n.keepalive\nrelease\n");
  CHECK(client.read_line() == "ok");
  CHECK(client.read_line() == "alive");
  CHECK(client.read_line() == "bad-action");
  CHECK(client.read_line() == "alive");
  CHECK(client.read_line() == "released");
  CHECK(client.wait_closed());
  check_healthy_and_free(server.port(), "piped");
}

TEST_CASE("lines pipelined after a closing answer are ignored", "[bad-input]") {
  ServerProcess server;
  LineClient client(server.port());
  client.send(".ping\nlock,name:never\n");
  CHECK(client.read_line() == "pong");
  CHECK(client.wait_closed());
  check_healthy_and_free(server.port(), "never");
}

TEST_CASE("CRLF line ends, as telnet sends them, are accepted", "[bad-input]") {
  ServerProcess server;
  LineClient client(server.port());
  client.send("lock,name:telnet\r\n");
  CHECK(client.read_line() == "ok");
  client.send(".keepalive\r\n");
  CHECK(client.read_line() == "alive");
  client.send("release\r\n");
  CHECK(client.read_line() == "released");
}

TEST_CASE("a connection that sends no first line is closed after the first-line timeout", "[bad-input]") {
  ServerProcess server({"--first-line-timeout", "0.3"});
  LineClient silent(server.port());
  LineClient partial(server.port());
  partial.send("lock,name:slow");  // never finished
  CHECK(silent.read_line(5s) == "err,no request received in time");
  CHECK(silent.wait_closed());
  CHECK(partial.read_line(5s) == "err,no request received in time");
  CHECK(partial.wait_closed());
  check_healthy_and_free(server.port(), "slow");
}

TEST_CASE("a holder is never timed out by the first-line timeout", "[bad-input]") {
  ServerProcess server({"--first-line-timeout", "0.2"});
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:held") == "ok");
  // Several timeouts' worth of silence: the lock and the connection stay.
  CHECK(holder.stays_silent(1s));
  LineClient other(server.port());
  CHECK(other.request("lock,name:held") == "not-granted");
  CHECK(holder.request(".keepalive") == "alive");
}

TEST_CASE("a client that never reads its answers cannot make the server buffer without bound",
          "[bad-input]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:flood") == "ok");
  // 8 MiB of keepalives without reading one answer. The server reads a line only after
  // its answer is written, so once our receive buffer is full it stops reading and the
  // kernel stops us. Send from a thread, which blocks there.
  std::thread flooder([fd = holder.fd()] {
    const std::string burst = [] {
      std::string s;
      for (int i = 0; i < 1024; ++i) s += ".keepalive\n";
      return s;
    }();
    for (int i = 0; i < 8 * 1024 * 1024 / static_cast<int>(burst.size()); ++i) {
      if (::send(fd, burst.data(), burst.size(), MSG_NOSIGNAL) <= 0) return;
    }
  });
  // The server keeps serving others meanwhile, with bounded memory.
  const auto before = stats(server.port()).at("maxrss").get<long>();
  CHECK(tnl::test::wait_until([&] { return stats(server.port()).at("requests_count").get<long>() > 1000; }));
  LineClient other(server.port());
  CHECK(other.request("lock,name:flood") == "not-granted");
  const auto after = stats(server.port()).at("maxrss").get<long>();
  CHECK(after - before < 16 * 1024);  // KiB
  // Closing the flooder's socket unblocks its thread and frees the lock.
  ::shutdown(holder.fd(), SHUT_RDWR);
  flooder.join();
  holder.close(true);
  CHECK(tnl::test::wait_until([&] {
    LineClient next(server.port());
    return next.request("lock,name:flood") == "ok";
  }));
}

TEST_CASE("many connections opened and dropped leave no lock and no connection behind", "[bad-input]") {
  ServerProcess server;
  for (int i = 0; i < 200; ++i) {
    LineClient client(server.port());
    switch (i % 4) {
      case 0: client.send_line("lock,name:churn"); break;
      case 1: client.send("lock,name:chu"); break;
      case 2: break;
      case 3: client.send_line("lock,name:churn"); client.read_line(); break;
    }
    client.close(i % 2 == 0);
  }
  CHECK(tnl::test::wait_until([&] {
    const auto s = stats(server.port());
    return s.at("lock_count") == 0 && s.at("connection_count") == 1;
  }));
  check_healthy_and_free(server.port(), "churn");
}

TEST_CASE("a line ending in a bare CR is answered at once, not after the first-line timeout", "[bad-input][line-end]") {
  ServerProcess server;  // first-line timeout: 30 s
  LineClient client(server.port());
  client.send("lock,name:bare-cr\r");
  CHECK(client.read_line(2s) == "ok");
  client.send(".keepalive\r");
  CHECK(client.read_line(2s) == "alive");
  client.send("release\r");
  CHECK(client.read_line(2s) == "released");
  CHECK(client.wait_closed());
  check_healthy_and_free(server.port(), "bare-cr");
}

TEST_CASE("a CR and its LF in separate segments are one line end", "[bad-input][line-end]") {
  ServerProcess server;
  LineClient client(server.port());
  client.send("lock,name:split-crlf\r");
  CHECK(client.read_line(2s) == "ok");
  // The LF that completes the CR LF is not an empty line (which would be a bad request).
  client.send("\n");
  CHECK(client.stays_silent(200ms));
  client.send(".keepalive\r");
  CHECK(client.read_line(2s) == "alive");
  client.send("\n.keepalive\r\n");
  CHECK(client.read_line(2s) == "alive");
  CHECK(client.stays_silent(200ms));  // one answer per line: the lone LF was no line
  LineClient other(server.port());
  CHECK(other.request("lock,name:split-crlf") == "not-granted");
}

TEST_CASE("CR NUL ends a line, as telnet sends it, also split over segments", "[bad-input][line-end]") {
  ServerProcess server;
  LineClient client(server.port());
  client.send(std::string("lock,name:telnet-nul\r\0", 22));
  CHECK(client.read_line(2s) == "ok");
  client.send(std::string(".keepalive\r\0.keepalive\r\0", 24));
  CHECK(client.read_line(2s) == "alive");
  CHECK(client.read_line(2s) == "alive");
  client.send(".keepalive\r");
  CHECK(client.read_line(2s) == "alive");
  client.send(std::string("\0", 1));  // the rest of that CR NUL: nothing
  CHECK(client.stays_silent(200ms));
  client.send("release\r\n");
  CHECK(client.read_line(2s) == "released");
}

TEST_CASE("a CR inside a line stays part of it, around a value it is white space", "[bad-input][line-end]") {
  ServerProcess server;
  {
    // As tcpnetlock: the name is "x\ry", which is no valid name.
    LineClient client(server.port());
    CHECK(client.request("lock,name:x\ry") == "err,invalid lock name");
    CHECK(client.wait_closed());
  }
  {
    // White space around the action and values is stripped, CRs included.
    LineClient client(server.port());
    CHECK(client.request("lock\r,name:\rmid\r") == "ok");
  }
  {
    // CR CR LF: the first CR is followed by a CR (part of the line), the second ends it.
    LineClient client(server.port());
    client.send("lock,name:crcr\r\r\n");
    CHECK(client.read_line(2s) == "ok");
  }
}

TEST_CASE("a holder that pipelines and never reads is cut after the write timeout and loses its lock",
          "[bad-input][slow-reader]") {
  ServerProcess server({"--write-timeout", "1"});
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:deaf") == "ok");
  // Keepalives without reading one answer, until the server stops reading (its answers
  // fill our receive buffer) and our sends block. Sent from a thread, which blocks there
  // until the server cuts the connection.
  std::thread flooder([fd = holder.fd()] {
    std::string burst;
    for (int i = 0; i < 1024; ++i) burst += ".keepalive\n";
    for (int i = 0; i < 8 * 1024 * 1024 / static_cast<int>(burst.size()); ++i) {
      if (::send(fd, burst.data(), burst.size(), MSG_NOSIGNAL) <= 0) return;
    }
  });
  const auto before = stats(server.port()).at("maxrss").get<long>();
  // Cut within about the write timeout: the lock is free, and counted as reaped.
  CHECK(tnl::test::wait_until(
      [&] {
        LineClient next(server.port());
        return next.request("lock,name:deaf") == "ok";
      },
      15s));
  ::shutdown(holder.fd(), SHUT_RDWR);  // unblocks the flooder, had the server not cut it
  flooder.join();
  const auto after = stats(server.port());
  CHECK(after.at("reaped_holder_count") == 1);
  CHECK(after.at("maxrss").get<long>() - before < 16 * 1024);  // KiB
  CHECK(server.process().wait_for_stderr("it takes no answers", 5s));
}

}  // namespace TNL_UNITY_ID
