#include "request_handler.hpp"

#include <sys/resource.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connection_manager.hpp"

namespace tnl {

namespace {

using Then = Connection::Then;

/// Peak resident set size of this process, in KiB (as tcpnetlock reported it).
long max_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

RequestHandler::RequestHandler(LockTable& locks, ServerStats& stats, const ConnectionManager& connections,
                               const ServerConfig& config, std::function<void()> request_shutdown)
    : first_line_commands_{{action::lock, &RequestHandler::lock},
                           {action::ping, &RequestHandler::ping},
                           {action::stats, &RequestHandler::stats},
                           {action::server_shutdown, &RequestHandler::server_shutdown}},
      holder_commands_{{action::release, &RequestHandler::release}, {action::keepalive, &RequestHandler::keepalive}},
      locks_(locks),
      stats_(stats),
      connections_(connections),
      config_(config),
      request_shutdown_(std::move(request_shutdown)) {}

void RequestHandler::handle_line(Connection& connection, std::string_view line) {
  ++stats_.requests_count;
  const std::optional<Request> request = parse_request(line);
  if (!request) return connection.answer(answer::bad_request, Then::close);

  const bool holding = connection.lock_state() == Connection::LockState::holding;
  const CommandTable& commands = holding ? holder_commands_ : first_line_commands_;
  const auto command = commands.find(request->action);
  if (command != commands.end()) return (this->*command->second)(connection, *request);
  // A holder keeps its lock and its connection after a mistake; anyone else is done.
  connection.answer(answer::bad_action, holding ? Then::keep_open : Then::close);
}

void RequestHandler::connection_ended(Connection& connection) {
  switch (connection.lock_state()) {
    case Connection::LockState::holding:
      locks_.release(connection.lock_name(), connection.id(), LockTable::Clock::now());
      spdlog::info("lock '{}' freed: connection {} from {} ended", connection.lock_name(), connection.id(),
                   connection.peer());
      break;
    case Connection::LockState::waiting:
      locks_.cancel(connection.lock_name(), connection.id());
      break;
    case Connection::LockState::none:
      break;
  }
  connection.set_lock(Connection::LockState::none, {});
}

void RequestHandler::lock(Connection& connection, const Request& request) {
  const auto name = request.param(param::name);
  if (!name || !is_valid_lock_name(*name)) return connection.answer(answer::invalid_lock_name, Then::close);
  const auto client_id = request.param(param::client_id);
  if (client_id && !is_valid_client_id(*client_id)) return connection.answer(answer::invalid_client_id, Then::close);

  LockTable::Request lock_request{std::string{*name}, connection.id(), std::string{client_id.value_or("")}, {}};
  connection.set_lock(Connection::LockState::waiting, lock_request.name);
  // The completion may run now or, once waiting exists, from another connection's release;
  // it holds the connection alive until then.
  locks_.acquire(std::move(lock_request), LockTable::Clock::now(),
                 [this, self = connection.shared_from_this(), client_id = std::string{client_id.value_or("-")}](
                     LockTable::Outcome outcome) {
                   if (outcome == LockTable::Outcome::granted) {
                     ++stats_.lock_acquired_count;
                     self->set_lock(Connection::LockState::holding, self->lock_name());
                     spdlog::info("lock '{}' granted to {} ({})", self->lock_name(), self->peer(), client_id);
                     self->answer(answer::ok);
                   } else {
                     ++stats_.lock_not_acquired_count;
                     spdlog::info("lock '{}' not granted to {} ({})", self->lock_name(), self->peer(), client_id);
                     self->set_lock(Connection::LockState::none, {});
                     self->answer(answer::not_granted, Then::close);
                   }
                 });
}

void RequestHandler::release(Connection& connection, const Request&) {
  // Free the lock before answering: whoever reads `released` may rely on it being free.
  locks_.release(connection.lock_name(), connection.id(), LockTable::Clock::now());
  spdlog::info("lock '{}' released by {}", connection.lock_name(), connection.peer());
  connection.set_lock(Connection::LockState::none, {});
  connection.answer(answer::released, Then::close);
}

void RequestHandler::keepalive(Connection& connection, const Request&) { connection.answer(answer::alive); }

void RequestHandler::ping(Connection& connection, const Request&) { connection.answer(answer::pong, Then::close); }

void RequestHandler::stats(Connection& connection, const Request&) {
  const nlohmann::json stats = {
      {"lock_count", locks_.held_count()},
      {"maxrss", max_rss_kib()},
      {"requests_count", stats_.requests_count},
      {"lock_acquired_count", stats_.lock_acquired_count},
      {"lock_not_acquired_count", stats_.lock_not_acquired_count},
      {"connection_count", connections_.size()},
  };
  connection.answer(std::string{answer::stats_prefix} + stats.dump(), Then::close);
}

void RequestHandler::server_shutdown(Connection& connection, const Request&) {
  if (!config_.allow_remote_shutdown) {
    spdlog::warn("refused .server-shutdown from {}: not enabled", connection.peer());
    return connection.answer(answer::shutdown_disabled, Then::close);
  }
  spdlog::warn(".server-shutdown from {}: shutting down", connection.peer());
  request_shutdown_();  // answers `shutting-down` on every connection, this one included
}

}  // namespace tnl
