// Accepting connections on one listening socket for as long as it is open, through running
// out of file descriptors: never spinning, never stopping for good.
//
// When accept() fails with EMFILE/ENFILE the pending connection stays queued and the listener
// stays readable: retrying at once spins, and giving up (as RESTinio's acceptor did) leaves the
// port deaf until restart. Instead one pending connection is refused with the reserved
// descriptor (DescriptorReserve), or, when Linux reported EMFILE before looking at the queue,
// the acceptor waits until a connection is pending. Any other error pauses briefly.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <functional>
#include <string>

#include "descriptor_reserve.hpp"
#include "io_types.hpp"

namespace tnl {

class Acceptor {
 public:
  /// Takes each accepted socket, with its peer.
  using OnAccept = std::function<void(TcpSocket socket, const asio::ip::tcp::endpoint& peer)>;
  /// Whether to accept now; false pauses the acceptor until resume().
  using MayAccept = std::function<bool()>;

  /// `listening`: a socket already bound and listening. A connection refused for lack of
  /// descriptors gets `refusal` (sent as is) and is closed; `on_refused` then runs.
  Acceptor(TcpAcceptor listening, DescriptorReserve& reserve, std::string refusal, OnAccept on_accept,
           std::function<void()> on_refused, MayAccept may_accept = nullptr);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  /// Starts accepting.
  void start();
  /// Stops accepting until resume(), withdrawing an accept already waiting: new connections
  /// wait in the kernel's backlog meanwhile.
  void pause();
  /// Accepts again after pause() or after may_accept() said no; does nothing unless paused.
  void resume();
  /// Stops accepting for good and closes the listening socket.
  void close();
  /// The address actually bound.
  [[nodiscard]] asio::ip::tcp::endpoint local_endpoint() const;

 private:
  /// Starts one accept, unless closed, busy, or may_accept() says no.
  void accept();
  void on_accept(std::error_code error, TcpSocket socket);
  /// Out of descriptors: refuses one pending connection, or waits until one is pending.
  void refuse_or_wait();
  /// Accepts again once the listener is readable.
  void wait_readable();
  /// Accepts again after a short pause.
  void retry_later();

  TcpAcceptor acceptor_;
  /// Paces accepting again after an unexpected error.
  SteadyTimer retry_;
  DescriptorReserve& reserve_;
  const std::string refusal_;
  OnAccept on_accept_;
  std::function<void()> on_refused_;
  MayAccept may_accept_;
  /// Filled in by each accept: who connected (saves a getpeername per connection).
  asio::ip::tcp::endpoint peer_;
  /// An accept, wait or retry is pending.
  bool busy_ = false;
  /// may_accept() said no; resume() starts again.
  bool paused_ = false;
  bool closed_ = false;
};

}  // namespace tnl
