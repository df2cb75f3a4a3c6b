// What a Client shares with the streams it made (KeepAlive, Watch): the event loop, the
// options, the members and the stats. Shared ownership, so that a stream outliving its
// Client still works. Loop thread only.
#pragma once

#include <asio/io_context.hpp>

#include "client_options.hpp"
#include "client_stats.hpp"
#include "endpoint_pool.hpp"

namespace tnl::etcd {

struct ClientCore {
  ClientCore(asio::io_context& io, ClientOptions options)
      : io(io), options(std::move(options)), pool(this->options) {}

  asio::io_context& io;
  const ClientOptions options;
  EndpointPool pool;
  ClientStats stats;
};

}  // namespace tnl::etcd
