#include "request_handler.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <variant>

#include "connection_manager.hpp"
#include "lock_options.hpp"
#include "protocol_answers.hpp"
#include "protocol_requests.hpp"
#include "stats_json.hpp"
#include "lock_id_log.hpp"

namespace tnl {

namespace {

using Then = Connection::Then;
using LockState = Connection::LockState;

/// The `who` of a release its holder consented to, which the backend logs at info level
/// only: every lock cycle ends with one, so it is formatted only when that level is on.
template <typename... Args>
std::string info_who(fmt::format_string<Args...> format, Args&&... args) {
  if (!spdlog::default_logger_raw()->should_log(spdlog::level::info)) return {};
  return fmt::format(format, std::forward<Args>(args)...);
}

/// Whether `given` is `secret` (an admin token), compared over the secret's whole length
/// whatever was given, so that the time taken says nothing of where they differ.
bool same_secret(std::string_view given, std::string_view secret) {
  unsigned char differ = given.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    const char byte = i < given.size() ? given[i] : '\0';
    differ |= static_cast<unsigned char>(byte ^ secret[i]);
  }
  return differ == 0;
}

}  // namespace

RequestHandler::RequestHandler(LockBackend& locks, ServerStats& stats, const ConnectionManager& connections,
                               const ServerConfig& config, std::function<void()> request_shutdown)
    : first_line_commands_{{action::lock, &RequestHandler::lock},
                           {action::unlock, &RequestHandler::unlock},
                           {action::renew, &RequestHandler::renew},
                           {action::unlock_name, &RequestHandler::unlock_name},
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
  LockSession& session = connection.lock_session();
  switch (session.state()) {
    case LockState::holding:
      // The server gives up on the holder (it did not end the connection): the lock is taken
      // without its consent, and the lock-delay follows.
      if (error == Connection::answers_not_read()) {
        ++stats_.reaped_holder_count;
        session.release(locks_, ReleaseBy::holder_gone,
                        fmt::format("lost by {}: it takes no answers (none written for {} ms)", connection.peer(),
                                    config_.write_timeout.count()));
        return;
      }
      if (!Connection::ended_by_client(error)) {
        // Keepalive probes or a write went unanswered (a timeout, or the ICMP error that
        // came back for data in flight: no route to host...): the holder's machine is gone,
        // or cut off while its command may still run.
        ++stats_.reaped_holder_count;
        session.release(locks_, ReleaseBy::holder_gone,
                        fmt::format("lost by {}: peer unreachable ({})", connection.peer(), error.message()));
        return;
      }
      session.release(locks_, ReleaseBy::holder,
                      info_who("freed: connection {} from {} ended", connection.id(), connection.peer()));
      return;
    case LockState::waiting:
      return session.cancel(locks_);
    case LockState::none:
      return;
  }
}

void RequestHandler::holder_timed_out(Connection& connection) {
  if (connection.lock_state() != LockState::holding) return;
  ++stats_.reaped_holder_count;
  connection.lock_session().revoke(connection, locks_, lost_reason::holder_timeout);
}

void RequestHandler::lock(Connection& connection, const Request& request) {
  auto parsed = parse_lock_options(request);
  if (const auto* error = std::get_if<std::string_view>(&parsed)) return connection.answer(*error, Then::close);
  LockOptions options = std::get<LockOptions>(std::move(parsed));

  AcquireRequest lock_request;
  lock_request.name = options.name;
  lock_request.limit = options.limit;
  lock_request.client_id = options.client_id;
  lock_request.peer = connection.peer();
  lock_request.reason = std::move(options.reason);
  lock_request.deadline = AcquireRequest::wait_deadline(options.wait_seconds, AcquireRequest::Clock::now());
  lock_request.kind = options.detached ? HoldKind::detached : HoldKind::connection;
  if (options.ttl_seconds) lock_request.ttl = AcquireRequest::seconds(*options.ttl_seconds);
  // `ok,token:N`, and a detached lock's token (saved, listed): a token the client sees
  // must be durable.
  lock_request.shows_token = options.fencing || options.detached;

  // Runs now, or later from another connection's release or from the deadline timer; the
  // session keeps the connection alive until then, and an ended connection cancels it.
  // Logged as "peer (client id)"; formatted only when the log level asks for it.
  auto done = [this, self = connection.shared_from_this(), name = options.name, client_id = options.client_id,
               detached = options.detached, fencing = options.fencing](const AcquireResult& result) {
    const LockId& id = result.id;
    const FencingToken token = result.token;
    switch (result.outcome) {
      case AcquireOutcome::granted:
        if (detached) {
          // The lock no longer belongs to this connection: it ends, the lock stays.
          spdlog::info("detached lock '{}' ({}) granted to {} ({}) token {}", name, LogId{id}, self->peer(), client_id,
                       token);
          return self->answer(format_detached_grant(id, fencing ? std::optional<FencingToken>(token) : std::nullopt),
                              Then::close);
        }
        spdlog::info("lock '{}' granted to {} ({}) token {}", name, self->peer(), client_id, token);
        self->watch_holder();
        return self->answer(format_lock_grant(fencing ? std::optional<FencingToken>(token) : std::nullopt));
      case AcquireOutcome::not_granted:
      case AcquireOutcome::timed_out:
        spdlog::info("lock '{}' not granted to {} ({}){}", name, self->peer(), client_id,
                     result.outcome == AcquireOutcome::timed_out ? ": wait timed out" : "");
        return self->answer(answer::not_granted, Then::close);
      case AcquireOutcome::limit_mismatch:
        spdlog::info("lock '{}' refused to {} ({}): limit mismatch", name, self->peer(), client_id);
        return self->answer(answer::limit_mismatch, Then::close);
      case AcquireOutcome::failed:
        spdlog::warn("lock '{}' not granted to {} ({}): the server cannot persist it (the lock or its fencing token)",
                     name, self->peer(), client_id);
        return self->answer(answer::state_write_failed, Then::close);
      case AcquireOutcome::unavailable:  // shutting down, or the backend is out of reach: nothing is granted
        if (!shutting_down_) spdlog::info("lock '{}' not granted to {} ({}): backend unavailable", name, self->peer(), client_id);
        return self->answer(unavailable_answer(), Then::close);
    }
  };
  // A request that does not wait is answered promptly: the lines after it wait for its
  // answer, so that they are answered in order. One that waits is answered whenever the
  // lock is free: meanwhile its keepalives are answered.
  const bool waits = lock_request.deadline.has_value();
  if (!waits) connection.await_answer();
  connection.lock_session().acquire(connection, locks_, std::move(lock_request), std::move(done));
  // Still waiting: queued (a remote backend's answer to a request that does not wait is on its way).
  if (waits && connection.lock_state() == LockState::waiting) {
    spdlog::info("{} ({}) waits for lock '{}'", connection.peer(), options.client_id, options.name);
  }
}

void RequestHandler::release(Connection& connection, const Request&) {
  // Answered once the lock is free: whoever reads `released` may rely on it being free.
  connection.await_answer();
  const bool held = connection.lock_session().release(
      locks_, ReleaseBy::holder, info_who("released by {}", connection.peer()),
      [self = connection.shared_from_this()](ReleaseOutcome) { self->answer(answer::released, Then::close); });
  if (!held) connection.answer(answer::released, Then::close);  // cannot be: only holders may send it
}

void RequestHandler::unlock(Connection& connection, const Request& request) {
  const auto id = parse_lock_id_param(request);
  if (const auto* error = std::get_if<std::string_view>(&id)) return connection.answer(*error, Then::close);
  connection.await_answer();
  locks_.release(std::get<LockId>(id), ReleaseBy::unlock, connection.peer(),
                 [this, self = connection.shared_from_this()](ReleaseOutcome outcome) {
                   switch (outcome) {
                     case ReleaseOutcome::released:
                     case ReleaseOutcome::forced:
                       return self->answer(answer::released, Then::close);
                     case ReleaseOutcome::unknown:
                       return self->answer(answer::unknown_lock_id, Then::close);
                     case ReleaseOutcome::held_by_connection:
                       return self->answer(answer::held_by_connection, Then::close);
                     case ReleaseOutcome::not_saved:  // still held: `released` only once it is forgotten on disk
                       return self->answer(answer::state_write_failed, Then::close);
                     case ReleaseOutcome::unavailable:  // still held, if it was
                       return self->answer(unavailable_answer(), Then::close);
                   }
                 });
}

void RequestHandler::renew(Connection& connection, const Request& request) {
  const auto parsed = parse_renew_request(request);
  if (const auto* error = std::get_if<std::string_view>(&parsed)) return connection.answer(*error, Then::close);
  const RenewRequest& renewal = std::get<RenewRequest>(parsed);
  std::optional<LockBackend::Clock::duration> ttl;
  if (renewal.ttl_seconds) ttl = AcquireRequest::seconds(*renewal.ttl_seconds);
  connection.await_answer();
  locks_.renew(renewal.id, ttl, [this, self = connection.shared_from_this()](RenewOutcome outcome) {
    switch (outcome) {
      case RenewOutcome::renewed:
        return self->answer(answer::renewed, Then::close);
      case RenewOutcome::unknown:
        return self->answer(answer::unknown_lock_id, Then::close);
      case RenewOutcome::held_by_connection:
        return self->answer(answer::held_by_connection, Then::close);
      case RenewOutcome::not_saved:
        return self->answer(answer::state_write_failed, Then::close);
      case RenewOutcome::unavailable:  // the lease is unchanged
        return self->answer(unavailable_answer(), Then::close);
    }
  });
}

void RequestHandler::unlock_name(Connection& connection, const Request& request) {
  auto parsed = parse_unlock_name_request(request);
  if (const auto* error = std::get_if<std::string_view>(&parsed)) return connection.answer(*error, Then::close);
  UnlockNameRequest unlock = std::get<UnlockNameRequest>(std::move(parsed));
  // With an admin token a detached lock's id is its creator's capability (listings hide it):
  // releasing by name, which needs no id, needs the token instead.
  if (!config_.admin_token.empty() &&
      !(unlock.admin_token && same_secret(*unlock.admin_token, config_.admin_token))) {
    spdlog::warn("refused unlock of '{}' by name from {}: no valid admin token", unlock.name, connection.peer());
    return connection.answer(answer::admin_token_required, Then::close);
  }
  connection.await_answer();
  LockQuery query;
  query.name = unlock.name;
  query.fresh = true;  // never a listing a second old: a hold granted since then would be missed
  locks_.read(std::move(query), [this, self = connection.shared_from_this(), name = unlock.name](LockView view) {
    if (!view.ok) return self->answer(unavailable_answer(), Then::close);
    std::vector<LockId> detached;
    bool connection_held = false;
    for (const NameRecord& record : *view.names) {
      if (record.name != name) continue;
      for (const HoldRecord& holder : record.holders) {
        if (holder.kind == HoldKind::detached) detached.push_back(holder.id);
        if (holder.kind == HoldKind::connection) connection_held = true;
      }
    }
    if (detached.empty()) {
      return self->answer(connection_held ? answer::held_by_connection : answer::lock_not_held, Then::close);
    }
    unlock_detached_holds(self, name, std::move(detached));
  });
}

void RequestHandler::unlock_detached_holds(const std::shared_ptr<Connection>& connection, const std::string& name,
                                           std::vector<LockId> ids) {
  // Every release runs at once; the answer waits for the last of them.
  struct Progress {
    std::size_t pending = 0;
    std::size_t released = 0;
    std::optional<ReleaseOutcome> failure;  ///< the first release that left its hold in place
  };
  auto progress = std::make_shared<Progress>();
  progress->pending = ids.size();
  const std::string who = fmt::format("{} (unlock by name)", connection->peer());
  spdlog::info("unlock of '{}' by name from {}: {} detached hold(s)", name, connection->peer(), ids.size());
  for (const LockId& id : ids) {
    locks_.release(id, ReleaseBy::unlock, who, [this, progress, self = connection](ReleaseOutcome outcome) {
      switch (outcome) {
        case ReleaseOutcome::released:
        case ReleaseOutcome::forced:
          ++progress->released;
          break;
        case ReleaseOutcome::unknown:             // released or expired since the read: not ours to count
        case ReleaseOutcome::held_by_connection:  // not reached: the ids are detached holds
          break;
        case ReleaseOutcome::not_saved:
        case ReleaseOutcome::unavailable:
          if (!progress->failure) progress->failure = outcome;
          break;
      }
      if (--progress->pending > 0) return;
      // Any hold left in place makes it a failure: the caller tries again (what is already
      // released stays so), as after `unlock,id:`.
      if (progress->failure == ReleaseOutcome::not_saved) return self->answer(answer::state_write_failed, Then::close);
      if (progress->failure) return self->answer(unavailable_answer(), Then::close);
      self->answer(progress->released > 0 ? answer::released : answer::lock_not_held, Then::close);
    });
  }
}

void RequestHandler::keepalive(Connection& connection, const Request&) { connection.answer(answer::alive); }

void RequestHandler::ping(Connection& connection, const Request&) { connection.answer(answer::pong, Then::close); }

void RequestHandler::stats(Connection& connection, const Request&) {
  connection.await_answer();
  LockQuery query;
  query.listing = false;  // the totals only
  locks_.read(std::move(query), [this, self = connection.shared_from_this()](LockView view) {
    // Totals the backend could not read would be made-up zeros.
    if (!view.ok) return self->answer(unavailable_answer(), Then::close);
    const auto stats = stats_to_json(view.totals, stats_, connections_.size());
    self->answer(format_stats_answer(stats.dump()), Then::close);
  });
}

void RequestHandler::locks(Connection& connection, const Request& request) {
  auto parsed = parse_locks_request(request);
  if (const auto* error = std::get_if<std::string_view>(&parsed)) return connection.answer(*error, Then::close);
  std::optional<std::string> only = std::move(std::get<LocksRequest>(parsed).name);
  connection.await_answer();
  LockQuery query;
  query.name = only;
  // One shared line per change of the locks, whoever asks; ids only when no admin token
  // guards them (a detached lock's id is its creator's capability).
  locks_.read(std::move(query), [this, self = connection.shared_from_this(), only = std::move(only)](LockView view) {
    // An empty listing would say that nobody holds anything.
    if (!view.ok) return self->answer(unavailable_answer(), Then::close);
    self->answer(locks_lines_.line(view, only, config_.admin_token.empty()), Then::close);
  });
}

std::string_view RequestHandler::unavailable_answer() const {
  return shutting_down_ ? answer::shutting_down : answer::backend_unavailable;
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
