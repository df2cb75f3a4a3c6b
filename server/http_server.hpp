// HTTP on the lock server's event loop: RESTinio parses requests and writes responses;
// HttpApi decides what to answer. RESTinio stays out of every other file (it is heavy to compile).
#pragma once

#include <asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "http_api.hpp"

namespace tnl {

class HttpServer {
 public:
  /// Binds `address`:`port` (0: any free port) on `io`; throws std::system_error or
  /// std::runtime_error when it cannot.
  HttpServer(asio::io_context& io, HttpApi& api, const std::string& address, std::uint16_t port);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The port actually bound.
  [[nodiscard]] std::uint16_t port() const { return port_; }
  /// Stops accepting; idle keep-alive connections go when the event loop stops.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace tnl
