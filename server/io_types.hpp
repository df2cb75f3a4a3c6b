// Asio's I/O objects bound to the io_context's own executor type instead of the default,
// type-erased any_io_executor. The server has one event loop, so nothing needs the type
// erasure, and it costs 48 bytes in every socket and every pending operation: with tens of
// thousands of idle holders, that is most of a kilobyte per lock (docs/BENCHMARKS.md).
#pragma once

#include <asio/basic_socket_acceptor.hpp>
#include <asio/basic_stream_socket.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>

namespace tnl {

using Executor = asio::io_context::executor_type;
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using SteadyTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>;

}  // namespace tnl
