// Fuzz target: the gRPC front end's HTTP/2 (GrpcH2Connection on libnghttp2, GrpcH2Stream,
// the method table and handlers) with a real GrpcFrontEnd over a real LocalLockBackend.
//
// The input is what a client sends after HTTP/2's preface and an empty SETTINGS (both
// added here): any frames. It goes in over one end of a socket pair while the event loop
// runs and the server's answers are read and dropped, then the client's side closes.
// Checked: nothing crashes or leaks (ASan); the connection closes once the client has;
// afterwards no lock is held by a connection (every Acquire stream's lock went with it)
// and nobody waits (every waiting CreateLock was withdrawn).
//
// Seeds (fuzz/corpus/fuzz_grpc_h2) are frame sequences a gRPC client sends: Tracker's
// CreateLock, GetLock, ListLocks and UnLock, the extensions' waiting CreateLock and Acquire,
// a reflection stream, with resets and PINGs between.
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "descriptor_reserve.hpp"
#include "fuzz_check.hpp"
#include "grpc/grpc_front_end.hpp"
#include "grpc/grpc_h2_connection.hpp"
#include "local_lock_backend.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "server_stats.hpp"

namespace {

/// What the client sends first: the preface and an empty SETTINGS frame.
const std::string preface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\4\0\0\0\0\0", 9);

/// Reads and drops what the server wrote; false once it closed its side.
bool drain(int fd) {
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (got > 0) continue;
    if (got == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(std::getenv("FUZZ_TRACE") != nullptr ? spdlog::level::debug : spdlog::level::off);
    return true;
  }();
  (void)quiet;
  static tnl::DescriptorReserve reserve;
  asio::io_context io;
  tnl::LockStore store{std::filesystem::path{}};
  tnl::ServerStats stats;
  tnl::LocalLockBackend backend{io, store, stats};
  tnl::GrpcFrontEnd front(io, backend, reserve, "127.0.0.1", 0, "");

  int fds[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  tnl::TcpSocket socket(io);
  socket.assign(asio::ip::tcp::v4(), fds[0]);
  bool closed = false;
  auto connection = std::make_shared<tnl::GrpcH2Connection>(io, std::move(socket), "fuzz", front,
                                                            [&closed](tnl::GrpcH2Connection*) { closed = true; });
  connection->start();

  const std::string input = preface + std::string(reinterpret_cast<const char*>(data), size);
  std::size_t sent = 0;
  // Bounded: every turn sends something, or the server has stopped reading (then it closes
  // or takes more once its answers are drained).
  for (int turn = 0; turn < 10'000 && sent < input.size() && !closed; ++turn) {
    const ssize_t put = ::send(fds[1], input.data() + sent, input.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (put > 0) sent += static_cast<std::size_t>(put);
    io.poll();
    drain(fds[1]);
  }
  ::shutdown(fds[1], SHUT_WR);
  for (int turn = 0; turn < 10'000 && !closed; ++turn) {
    io.poll();
    if (!drain(fds[1])) break;
  }
  io.poll();
  FUZZ_CHECK(closed);  // the client closed: so does the server, whatever came before
  const auto& table = backend.table();
  FUZZ_CHECK(table.holder_count(tnl::HoldKind::connection) == 0);
  FUZZ_CHECK(table.waiting_count() == 0);
  ::close(fds[1]);
  connection.reset();
  io.poll();
  return 0;
}
