// Acts on request lines: a table from action name to handler, one table for a connection
// that holds no lock yet and one for a connection that holds one (as in the protocol).
#pragma once

#include <functional>
#include <string_view>
#include <unordered_map>

#include "connection.hpp"
#include "lock_table.hpp"
#include "protocol.hpp"
#include "server_config.hpp"
#include "server_stats.hpp"

namespace tnl {

class ConnectionManager;

class RequestHandler {
 public:
  /// `request_shutdown` stops the whole server (used by an enabled `.server-shutdown`).
  RequestHandler(LockTable& locks, ServerStats& stats, const ConnectionManager& connections,
                 const ServerConfig& config, std::function<void()> request_shutdown);

  /// Parses `line` (without its line end) and answers it on `connection`.
  void handle_line(Connection& connection, std::string_view line);
  /// Frees whatever `connection` holds or waits for; called the moment it ends.
  void connection_ended(Connection& connection);

 private:
  using Handler = void (RequestHandler::*)(Connection&, const Request&);
  using CommandTable = std::unordered_map<std::string_view, Handler>;

  void lock(Connection& connection, const Request& request);
  void release(Connection& connection, const Request& request);
  void keepalive(Connection& connection, const Request& request);
  void ping(Connection& connection, const Request& request);
  void stats(Connection& connection, const Request& request);
  void server_shutdown(Connection& connection, const Request& request);

  /// Actions accepted as the first line of a connection.
  const CommandTable first_line_commands_;
  /// Actions accepted while the connection holds a lock.
  const CommandTable holder_commands_;

  LockTable& locks_;
  ServerStats& stats_;
  const ConnectionManager& connections_;
  const ServerConfig& config_;
  std::function<void()> request_shutdown_;
};

}  // namespace tnl
