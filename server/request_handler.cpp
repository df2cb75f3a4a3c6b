#include "request_handler.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <variant>

#include "connection_manager.hpp"
#include "lock_options.hpp"
#include "lock_table_json.hpp"
#include "stats_json.hpp"

namespace tnl {

namespace {

using Then = Connection::Then;
using LockState = Connection::LockState;

}  // namespace

RequestHandler::RequestHandler(LockService& locks, ServerStats& stats, const ConnectionManager& connections,
                               const ServerConfig& config, std::function<void()> request_shutdown)
    : first_line_commands_{{action::lock, &RequestHandler::lock},
                           {action::unlock, &RequestHandler::unlock},
                           {action::renew, &RequestHandler::renew},
                           {action::ping, &RequestHandler::ping},
                           {action::stats, &RequestHandler::stats},
                           {action::locks, &RequestHandler::locks},
                           {action::server_shutdown, &RequestHandler::server_shutdown}},
      waiter_commands_{{action::keepalive, &RequestHandler::keepalive}},
      holder_commands_{{action::release, &RequestHandler::release}, {action::keepalive, &RequestHandler::keepalive}},
      locks_(locks),
      stats_(stats),
      connections_(connections),
      config_(config),
      request_shutdown_(std::move(request_shutdown)) {}

const RequestHandler::CommandTable& RequestHandler::commands_for(const Connection& connection) const {
  switch (connection.lock_state()) {
    case LockState::holding: return holder_commands_;
    case LockState::waiting: return waiter_commands_;
    case LockState::none: break;
  }
  return first_line_commands_;
}

void RequestHandler::handle_line(Connection& connection, std::string_view line) {
  ++stats_.requests_count;
  const std::optional<Request> request = parse_request(line);
  if (!request) return connection.answer(answer::bad_request, Then::close);

  const CommandTable& commands = commands_for(connection);
  const auto command = commands.find(request->action);
  if (command != commands.end()) return (this->*command->second)(connection, *request);
  // A holder or waiter keeps its place after a mistake; anyone else is done.
  connection.answer(answer::bad_action,
                    connection.lock_state() == LockState::none ? Then::close : Then::keep_open);
}

void RequestHandler::connection_ended(Connection& connection, std::error_code error) {
  switch (connection.lock_state()) {
    case LockState::holding:
      // The server gives up on the holder (it did not end the connection): the lock is taken
      // without its consent, and the lock-delay follows.
      if (error == Connection::answers_not_read()) {
        ++stats_.reaped_holder_count;
        spdlog::warn("lock '{}' lost by {}: it takes no answers (none written for {} ms)", connection.lock_name(),
                     connection.peer(), config_.write_timeout.count());
        return free_lock(connection, false);
      }
      if (!Connection::ended_by_client(error)) {
        // Keepalive probes or a write went unanswered (a timeout, or the ICMP error that
        // came back for data in flight: no route to host...): the holder's machine is gone,
        // or cut off while its command may still run.
        ++stats_.reaped_holder_count;
        spdlog::warn("lock '{}' lost by {}: peer unreachable ({})", connection.lock_name(), connection.peer(),
                     error.message());
        return free_lock(connection, false);
      }
      spdlog::info("lock '{}' freed: connection {} from {} ended", connection.lock_name(), connection.id(),
                   connection.peer());
      return free_lock(connection, true);
    case LockState::waiting:
      locks_.cancel_wait(connection.lock_name(), connection.id());
      spdlog::info("wait for '{}' by {} withdrawn: connection ended", connection.lock_name(), connection.peer());
      return connection.clear_lock();
    case LockState::none:
      return;
  }
}

void RequestHandler::free_lock(Connection& connection, bool consented) {
  locks_.release_connection_hold(connection.lock_name(), connection.id(), consented);
  connection.clear_lock();
}

void RequestHandler::holder_timed_out(Connection& connection) {
  ++stats_.reaped_holder_count;
  revoke(connection, "holder timeout");
}

void RequestHandler::revoke(Connection& connection, std::string_view reason) {
  if (connection.lock_state() != LockState::holding) return;
  spdlog::warn("lock '{}' taken from {}: {}", connection.lock_name(), connection.peer(), reason);
  // The holder is told first: its `lost` is on its way (written at once, unless an answer
  // is still being written) before the lock is handed on and the next holder's `ok` is.
  const std::string name = connection.lock_name();
  connection.clear_lock();
  connection.answer(fmt::format("{}{}", answer::lost_prefix, reason), Then::close);
  locks_.release_connection_hold(name, connection.id(), false);
}

void RequestHandler::lock(Connection& connection, const Request& request) {
  auto parsed = parse_lock_options(request);
  if (const auto* error = std::get_if<std::string_view>(&parsed)) return connection.answer(*error, Then::close);
  LockOptions options = std::get<LockOptions>(std::move(parsed));

  const auto now = LockTable::Clock::now();
  const auto deadline = LockTable::wait_deadline(options.wait_seconds, now);
  std::optional<LockTable::Clock::duration> ttl;
  if (options.ttl_seconds) {
    ttl = LockTable::seconds(*options.ttl_seconds);
  }
  connection.start_waiting(options.name);
  const std::string client_id = options.client_id;  // for the logs; the table keeps its own
  const LockId id = locks_.next_id();
  LockTable::Request lock_request{options.name,
                                  connection.id(),
                                  std::move(options.client_id),
                                  connection.peer(),
                                  std::move(options.reason),
                                  options.limit,
                                  deadline,
                                  id,
                                  options.detached ? LockTable::Kind::detached : LockTable::Kind::connection,
                                  ttl,
                                  // `ok,token:N`, and a detached lock's token (saved, listed): a
                                  // token the client sees must be durable.
                                  options.fencing || options.detached};

  // Runs now, or later from another connection's release or from the deadline timer.
  // It keeps the connection alive until then; an ended connection cancels its wait.
  // Logged as "peer (client id)"; formatted only when the log level asks for it.
  auto done = [self = connection.shared_from_this(), client_id, id, detached = options.detached,
               fencing = options.fencing](LockTable::Outcome outcome, LockTable::Token token) {
    const std::string& name = self->lock_name();
    switch (outcome) {
      case LockTable::Outcome::granted:
        if (detached) {
          // The lock no longer belongs to this connection: it ends, the lock stays.
          spdlog::info("detached lock '{}' ({}) granted to {} ({}) token {}", name, id.log_str(), self->peer(), client_id,
                       token);
          self->clear_lock();
          return self->answer(fencing ? fmt::format("{}{},{}:{}", answer::ok_id_prefix, id.str(), param::token, token)
                                      : fmt::format("{}{}", answer::ok_id_prefix, id.str()),
                              Then::close);
        }
        spdlog::info("lock '{}' granted to {} ({}) token {}", name, self->peer(), client_id, token);
        self->start_holding();
        self->watch_holder();
        return self->answer(fencing ? fmt::format("{}{}", answer::ok_token_prefix, token) : std::string{answer::ok});
      case LockTable::Outcome::not_granted:
      case LockTable::Outcome::timed_out:
        spdlog::info("lock '{}' not granted to {} ({}){}", name, self->peer(), client_id,
                     outcome == LockTable::Outcome::timed_out ? ": wait timed out" : "");
        self->clear_lock();
        return self->answer(answer::not_granted, Then::close);
      case LockTable::Outcome::limit_mismatch:
        spdlog::info("lock '{}' refused to {} ({}): limit mismatch", name, self->peer(), client_id);
        self->clear_lock();
        return self->answer(answer::limit_mismatch, Then::close);
      case LockTable::Outcome::failed:
        spdlog::warn("lock '{}' not granted to {} ({}): the server cannot persist it (the lock or its fencing token)",
                     name, self->peer(), client_id);
        self->clear_lock();
        return self->answer(answer::state_write_failed, Then::close);
      case LockTable::Outcome::unavailable:  // the server is shutting down: nothing is granted
        self->clear_lock();
        return self->answer(answer::shutting_down, Then::close);
    }
  };
  locks_.acquire(std::move(lock_request), std::move(done));
  if (connection.lock_state() == LockState::waiting) {
    spdlog::info("{} ({}) waits for lock '{}'", connection.peer(), client_id, connection.lock_name());
  }
}

void RequestHandler::release(Connection& connection, const Request&) {
  // Free the lock before answering: whoever reads `released` may rely on it being free.
  spdlog::info("lock '{}' released by {}", connection.lock_name(), connection.peer());
  free_lock(connection, true);
  connection.answer(answer::released, Then::close);
}

namespace {

/// The `id:` of an unlock or renew request, or the error answer. Without any `id:` the
/// line is not one of ours: tcpnetlock answered `unlock,name:X` with bad-action, and so do we.
std::variant<LockId, std::string_view> lock_id_param(const Request& request) {
  const auto text = request.param(param::id);
  if (!text) return answer::bad_action;
  const auto id = LockId::parse(*text);
  if (!id) return answer::invalid_lock_id;
  return *id;
}

}  // namespace

void RequestHandler::unlock(Connection& connection, const Request& request) {
  const auto id = lock_id_param(request);
  if (const auto* error = std::get_if<std::string_view>(&id)) return connection.answer(*error, Then::close);
  switch (locks_.release(std::get<LockId>(id), connection.peer(), false)) {
    case LockService::Release::released:
    case LockService::Release::forced:
      return connection.answer(answer::released, Then::close);
    case LockService::Release::unknown:
      return connection.answer(answer::unknown_lock_id, Then::close);
    case LockService::Release::held_by_connection:
      return connection.answer(answer::held_by_connection, Then::close);
    case LockService::Release::not_saved:  // still held: `released` only once it is forgotten on disk
      return connection.answer(answer::state_write_failed, Then::close);
  }
}

void RequestHandler::renew(Connection& connection, const Request& request) {
  const auto id = lock_id_param(request);
  if (const auto* error = std::get_if<std::string_view>(&id)) return connection.answer(*error, Then::close);
  std::optional<double> ttl_seconds;
  const auto ttl_text = request.param(param::ttl);
  if (!ttl_text || !parse_ttl_seconds(*ttl_text, ttl_seconds)) return connection.answer(answer::invalid_ttl, Then::close);
  std::optional<LockTable::Clock::duration> ttl;
  if (ttl_seconds) {
    ttl = LockTable::seconds(*ttl_seconds);
  }
  switch (locks_.renew(std::get<LockId>(id), ttl)) {
    case LockService::Renew::renewed:
      return connection.answer(answer::renewed, Then::close);
    case LockService::Renew::unknown:
      return connection.answer(answer::unknown_lock_id, Then::close);
    case LockService::Renew::held_by_connection:
      return connection.answer(answer::held_by_connection, Then::close);
    case LockService::Renew::not_saved:
      return connection.answer(answer::state_write_failed, Then::close);
  }
}

void RequestHandler::keepalive(Connection& connection, const Request&) { connection.answer(answer::alive); }

void RequestHandler::ping(Connection& connection, const Request&) { connection.answer(answer::pong, Then::close); }

void RequestHandler::stats(Connection& connection, const Request&) {
  const auto stats = stats_to_json(locks_.table(), stats_, connections_.size());
  connection.answer(std::string{answer::stats_prefix} + stats.dump(), Then::close);
}

void RequestHandler::locks(Connection& connection, const Request& request) {
  std::optional<std::string> only;
  if (const auto name = request.param(param::name)) {
    if (!is_valid_lock_name(*name)) return connection.answer(answer::invalid_lock_name, Then::close);
    only = std::string{*name};
  }
  // One shared line per table change, whoever asks; ids only when no admin token guards them
  // (a detached lock's id is its creator's capability).
  connection.answer(locks_.locks_line(only, config_.admin_token.empty()), Then::close);
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
