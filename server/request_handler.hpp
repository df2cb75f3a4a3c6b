// Acts on request lines: a table from action name to handler for each stage of a
// connection (first line, waiting for a lock, holding one), as in the protocol.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "connection.hpp"
#include "lock_backend.hpp"
#include "locks_line_cache.hpp"
#include "protocol.hpp"
#include "server_config.hpp"
#include "server_stats.hpp"

namespace tnl {

class ConnectionManager;

class RequestHandler {
 public:
  /// `request_shutdown` stops the whole server (used by an enabled `.server-shutdown`).
  RequestHandler(LockBackend& locks, ServerStats& stats, const ConnectionManager& connections,
                 const ServerConfig& config, std::function<void()> request_shutdown);

  /// The server's settings, which every connection follows.
  [[nodiscard]] const ServerConfig& config() const { return config_; }

  /// Parses `line` (without its line end) and answers it on `connection`.
  void handle_line(Connection& connection, std::string_view line);
  /// Frees whatever `connection` holds or waits for; called the moment it ends or starts
  /// to close. `error` says why it broke, when it did not end normally.
  void connection_ended(Connection& connection, std::error_code error = {});
  /// The holder sent nothing for the holder timeout: revokes its lock and counts it as reaped.
  void holder_timed_out(Connection& connection);
  /// The server is going away: a backend that answers `unavailable` from now on is shutting
  /// down (`shutting-down`), not out of reach (`err,backend unavailable`).
  void shutting_down() { shutting_down_ = true; }

 private:
  using Handler = void (RequestHandler::*)(Connection&, const Request&);
  using CommandTable = std::unordered_map<std::string_view, Handler>;

  void lock(Connection& connection, const Request& request);
  void release(Connection& connection, const Request& request);
  void unlock(Connection& connection, const Request& request);
  void renew(Connection& connection, const Request& request);
  /// `unlock-name,name:X`: releases every detached hold of X (docs/PROTOCOL.md).
  void unlock_name(Connection& connection, const Request& request);
  /// Releases the detached holds `ids` of `name` for unlock_name() and answers `connection`.
  void unlock_detached_holds(const std::shared_ptr<Connection>& connection, const std::string& name,
                             std::vector<LockId> ids);
  void keepalive(Connection& connection, const Request& request);
  void ping(Connection& connection, const Request& request);
  void stats(Connection& connection, const Request& request);
  void locks(Connection& connection, const Request& request);
  void server_shutdown(Connection& connection, const Request& request);

  /// What a backend that answered `unavailable` (or could not read its locks) means now:
  /// `shutting-down` once the server is going away, `err,backend unavailable` before.
  [[nodiscard]] std::string_view unavailable_answer() const;

  /// The commands `connection` may send at its current stage.
  [[nodiscard]] const CommandTable& commands_for(const Connection& connection) const;

  /// Actions accepted as the first line of a connection.
  const CommandTable first_line_commands_;
  /// Actions accepted while the connection waits in a queue.
  const CommandTable waiter_commands_;
  /// Actions accepted while the connection holds a lock.
  const CommandTable holder_commands_;

  LockBackend& locks_;
  ServerStats& stats_;
  /// The `.locks` lines, shared by every reader until the locks change.
  LocksLineCache locks_lines_;
  const ConnectionManager& connections_;
  const ServerConfig& config_;
  std::function<void()> request_shutdown_;
  bool shutting_down_ = false;
};

}  // namespace tnl
