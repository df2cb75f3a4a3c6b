// Starting, listening and stopping the real server: addresses, exit codes, signals.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

#include "holder_swarm.hpp"
#include "line_client.hpp"
#include "server_process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::test::ChildProcess;
using tnl::test::LineClient;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

TEST_CASE("SIGTERM and SIGINT shut down gracefully: shutting-down to everyone, exit 0", "[lifecycle]") {
  for (const int sig : {SIGTERM, SIGINT}) {
    INFO("signal " << sig);
    ServerProcess server;
    LineClient holder(server.port());
    REQUIRE(holder.request("lock,name:abc") == "ok");
    LineClient idle(server.port());  // connected, nothing sent yet
    REQUIRE(tnl::test::wait_until([&] {
      LineClient probe(server.port());
      return probe.request(".stats").value_or("").find("\"connection_count\":3") != std::string::npos;
    }));
    server.process().signal(sig);
    CHECK(holder.read_line() == "shutting-down");
    CHECK(holder.wait_closed());
    CHECK(idle.read_line() == "shutting-down");
    CHECK(idle.wait_closed());
    holder.close();
    idle.close();
    const auto status = server.process().wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(0));
  }
}

TEST_CASE("shutdown does not wait for clients that never close", "[lifecycle]") {
  ServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:abc") == "ok");
  server.process().signal(SIGTERM);
  CHECK(holder.read_line() == "shutting-down");
  // The holder keeps its end open; the server still exits, within its linger time.
  const auto status = server.process().wait_for_exit(10s);
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("shutdown does not wait out the write timeout of a long answer nobody reads", "[lifecycle]") {
  ServerProcess server({"--write-timeout", "60"});
  tnl::test::HolderSwarm holders(server.port());
  REQUIRE(holders.open(2'000, 200, "busy-", std::chrono::steady_clock::now() + 30s).empty());
  LineClient reader(server.port());
  REQUIRE(reader.send(".locks\n"));  // about 0.5 MiB, never read
  REQUIRE(tnl::test::wait_until([&] {
    LineClient probe(server.port());
    return probe.request(".stats").value_or("").find("\"connection_count\":2002") != std::string::npos;
  }));
  const auto stopping = std::chrono::steady_clock::now();
  server.process().signal(SIGTERM);
  // Within the linger time (2 s) and some slack, not the 60 s write timeout.
  const auto status = server.process().wait_for_exit(15s);
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(std::chrono::steady_clock::now() - stopping < 10s);
}

TEST_CASE("the server stops accepting once shutting down", "[lifecycle]") {
  ServerProcess server;
  const auto port = server.port();
  LineClient holder(port);
  REQUIRE(holder.request("lock,name:abc") == "ok");
  server.process().signal(SIGTERM);
  REQUIRE(holder.read_line() == "shutting-down");
  CHECK_THROWS(LineClient(port));
}

TEST_CASE("a port in use exits 2", "[lifecycle]") {
  ServerProcess first;
  auto second = ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--listen", "127.0.0.1", "--port",
                                     first.port_string()});
  const auto status = second.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(2));
  CHECK(second.stderr_text().find("in use") != std::string::npos);
}

TEST_CASE("an address that cannot be resolved or bound exits 2", "[lifecycle]") {
  for (const char* listen : {"no-such-host.invalid", "192.0.2.1"}) {
    INFO(listen);
    auto server =
        ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--listen", listen, "--port", "0"});
    const auto status = server.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
  }
}

TEST_CASE("invalid options exit 2, --help exits 0", "[lifecycle]") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--port", "notaport"}, {"--port", "70000"}, {"--no-such-option"}, {"--max-line-length", "1"}}) {
    std::vector<std::string> argv{tnl::test::binary("tcpnetlock_server")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto server = ChildProcess::start(argv);
    const auto status = server.wait_for_exit();
    REQUIRE(status);
    CHECK(status->exited(2));
  }
  auto help = ChildProcess::start({tnl::test::binary("tcpnetlock_server"), "--help"});
  const auto status = help.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(help.stdout_text().find("--listen") != std::string::npos);
}

TEST_CASE("listening on :: serves IPv6 and IPv4 clients", "[lifecycle]") {
  ServerProcess server({}, "::");
  LineClient v6("::1", server.port());
  CHECK(v6.request("lock,name:dual") == "ok");
  LineClient v4("127.0.0.1", server.port());
  CHECK(v4.request("lock,name:dual") == "not-granted");
}

TEST_CASE("listening on 0.0.0.0 serves IPv4 clients", "[lifecycle]") {
  ServerProcess server({}, "0.0.0.0");
  LineClient v4("127.0.0.1", server.port());
  CHECK(v4.request(".ping") == "pong");
}

TEST_CASE("listening on localhost serves both loopback families, whichever resolves first", "[lifecycle]") {
  ServerProcess server({}, "localhost");
  LineClient v4("127.0.0.1", server.port());
  CHECK(v4.request("lock,name:local") == "ok");
  // ::1 is served too when this machine resolves localhost to it.
  try {
    LineClient v6("::1", server.port());
    CHECK(v6.request("lock,name:local") == "not-granted");
  } catch (const std::system_error& e) {
    // Acceptable only on a machine where localhost has no IPv6 address.
    auto getent = ChildProcess::start({"getent", "ahostsv6", "localhost"});
    REQUIRE(getent.wait_for_exit());
    INFO("connect to ::1 failed: " << e.what() << "; localhost resolves to: " << getent.stdout_text());
    CHECK(getent.stdout_text().find("::1") == std::string::npos);
  }
}

TEST_CASE("the short name tnl_server is the same server", "[lifecycle]") {
  auto help = ChildProcess::start({tnl::test::binary("tnl_server"), "--help"});
  const auto status = help.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
}

namespace {

/// A holder of `name` that pipelines `.keepalive` lines and never reads an answer: its
/// receive buffer is made tiny before connecting (a later change would not shrink the
/// window it already offered), then it sends until the server stops reading its lines
/// (our receive buffer and the server's send buffer are full, so the server waits to write,
/// and reads nothing meanwhile): what we sent stays unread for 500 ms. The descriptor is
/// closed with the object.
class DeafHolder {
 public:
  DeafHolder(std::uint16_t port, const std::string& name) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    const int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    const std::string request = "lock,name:" + name + "\n";
    REQUIRE(::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    char ok[3] = {};
    REQUIRE(::recv(fd_, ok, sizeof ok, MSG_WAITALL) == 3);
    REQUIRE(std::string(ok, 3) == "ok\n");
  }
  ~DeafHolder() { ::close(fd_); }
  DeafHolder(const DeafHolder&) = delete;
  DeafHolder& operator=(const DeafHolder&) = delete;

  /// Floods until the server stops reading; false if it never does within 20 s.
  bool flood() {
    std::string burst;
    for (int i = 0; i < 1024; ++i) burst += ".keepalive\n";
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      const ssize_t sent = ::send(fd_, burst.data(), burst.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) continue;
      if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
      // Stuck once what we sent stays unread for 500 ms (a slow server may take longer to
      // make room than that, yet still be reading).
      int unread_before = 0;
      ::ioctl(fd_, SIOCOUTQ, &unread_before);
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, 500) != 0) continue;
      int unread_after = 0;
      ::ioctl(fd_, SIOCOUTQ, &unread_after);
      if (unread_after == unread_before) return true;
    }
    return false;
  }

 private:
  int fd_;
};

}  // namespace

TEST_CASE("shutdown does not wait for a holder that pipelines and reads no answer", "[lifecycle][slow-reader]") {
  // The holder's answers wait for its socket when SIGTERM comes: `shutting-down` queues
  // behind them, and the connection must still go within the linger time, not the 60 s
  // write timeout (and not never, as when closing dropped the write's deadline).
  ServerProcess server({"--write-timeout", "60"});
  DeafHolder holder(server.port(), "deaf");
  REQUIRE(holder.flood());
  const auto stopping = std::chrono::steady_clock::now();
  server.process().signal(SIGTERM);
  const auto status = server.process().wait_for_exit(30s);
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(std::chrono::steady_clock::now() - stopping < 10s);
}

TEST_CASE("a holder timed out while its answers wait for its socket is still cut at the write timeout",
          "[lifecycle][slow-reader]") {
  // The holder timeout revokes the lock (`lost,holder timeout` queues behind the unread
  // answers) and starts closing; the connection must still be cut once the write timeout
  // is over, not left open for as long as the client likes.
  ServerProcess server({"--write-timeout", "2", "--holder-timeout", "1"});
  DeafHolder holder(server.port(), "deaf");
  REQUIRE(holder.flood());
  REQUIRE(server.process().wait_for_stderr("taken from", 10s));  // the holder timeout revoked it
  // Only the asking connection is left, within the write timeout and some slack.
  CHECK(tnl::test::wait_until(
      [&] {
        LineClient probe(server.port());
        return probe.request(".stats").value_or("").find("\"connection_count\":1,") != std::string::npos;
      },
      15s));
  LineClient next(server.port());
  CHECK(next.request("lock,name:deaf") == "ok");
}

}  // namespace TNL_UNITY_ID
