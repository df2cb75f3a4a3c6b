// tcpnetlock_client: takes a lock and holds it until killed; or, with --ttl, takes a
// detached lock (which the server keeps after we exit), prints its id and exits; or
// releases (--unlock) or renews (--renew) a detached lock by its id.
//
// On SIGINT, SIGTERM or SIGHUP the connection is closed (which frees the lock at once)
// and the process then dies of that same signal, as the shell and supervisors expect
// from a program that is "held until killed" (tcpnetlock died of SIGTERM the same way).
#include <signal.h>
#include <unistd.h>

#include <cstddef>  // before Asio, see lock_client.hpp

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "tls_options.hpp"
#include "cli_support.hpp"
#include "client_options.hpp"
#include "lock_client.hpp"
#include "wait_status.hpp"

namespace {

using tnl::ClientError;
using namespace tnl::cli;

/// Closes `client`, restores the default action of `sig` and dies of it.
[[noreturn]] void die_of(int sig, tnl::LockClient& client, asio::signal_set& signals) {
  spdlog::info("received signal {}; closing the connection and exiting", sig);
  client.close();
  asio::error_code ignored;
  signals.clear(ignored);  // restores the default action
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  std::_Exit(128 + sig);  // only if the signal did not end us
}

int run(const ClientOptions& options) {
  asio::io_context io;
  asio::signal_set signals(io);
  for (int sig : not_ignored({SIGINT, SIGTERM, SIGHUP})) signals.add(sig);
  tnl::LockClient client(io);

  int received = 0;
  std::function<void()> arm = [&] {
    signals.async_wait([&](const asio::error_code& ec, int sig) {
      if (ec) return;
      if (received == 0) received = sig;
      client.cancel();  // aborts a connect or lock in progress
      arm();
    });
  };
  arm();

  try {
    client.connect(options.host, options.port);
  } catch (const ClientError& e) {
    if (received) die_of(received, client, signals);
    print_error(e.what());
    return e.kind() == ClientError::Kind::refused ? client_exit::refused : client_exit::connection_failed;
  }

  if (options.mode == ClientMode::unlock || options.mode == ClientMode::renew) {
    const bool unlock = options.mode == ClientMode::unlock;
    const std::string& id = unlock ? options.unlock_id : options.renew_id;
    try {
      if (unlock) {
        client.unlock(id);
      } else {
        client.renew(id, options.ttl_value);
      }
    } catch (const std::exception& e) {
      if (received) die_of(received, client, signals);
      print_error(e.what());
      const auto* error = dynamic_cast<const ClientError*>(&e);
      return error && error->kind() == ClientError::Kind::server_error ? client_exit::refused_by_server
                                                                       : client_exit::unexpected_error;
    }
    // Done, even if a signal came meanwhile: there is nothing left to interrupt.
    spdlog::info("detached lock {} {}", id, unlock ? "released" : "renewed");
    return 0;
  }

  tnl::LockRequest request = lock_request(options.lock_name, options.client_id, options.lock);
  const bool detach = options.mode == ClientMode::detach;
  const bool waits = !request.wait_seconds || *request.wait_seconds > 0;
  tnl::LockResult result;
  tnl::DetachedLockResult detached;
  {
    std::optional<tnl::WaitStatusLine> status_line;
    if (waits && tnl::WaitStatusLine::wanted(STDERR_FILENO)) {
      status_line.emplace(io, client.endpoint(), options.lock_name, stderr);
      status_line->start();
    }
    try {
      if (detach) {
        detached = client.lock_detached(request, options.ttl_value);
        result.granted = detached.granted;
      } else {
        result = client.lock(request);
      }
    } catch (const std::exception& e) {
      status_line.reset();  // erases the line before anything else is printed
      if (received) die_of(received, client, signals);
      print_error(e.what());
      return client_exit::unexpected_error;
    }
  }
  if (detach && detached.granted) {
    // The server holds the lock now, whatever happens to us: its id must be printed, even
    // if a signal came meanwhile. For scripts: the id, and with --fencing the token, and
    // nothing else on stdout.
    std::printf("%s\n", detached.id.c_str());
    if (detached.token) std::printf("token:%llu\n", static_cast<unsigned long long>(*detached.token));
    std::fflush(stdout);
    spdlog::info("detached lock '{}' acquired from {}, id {}", options.lock_name, client.server(), detached.id);
    return 0;
  }
  if (received) die_of(received, client, signals);
  if (!result.granted) {
    print_error("lock '" + options.lock_name + "' not granted by server" + (waits ? " within the wait" : ""));
    return options.lock.conflict_exit_code;  // 123 unless -E says otherwise
  }
  if (result.token) {
    // For scripts: the only line we ever print on stdout.
    std::printf("token:%llu\n", static_cast<unsigned long long>(*result.token));
    std::fflush(stdout);
  }
  spdlog::info("lock '{}' acquired from {}; holding it until killed", options.lock_name, client.server());

  std::optional<std::string> lost;
  const auto keepalive_every =
      options.keep_alive ? std::optional(seconds(options.keep_alive_secs)) : std::nullopt;
  client.start_watch(
      keepalive_every, [&](const std::string& reason) { lost = reason; }, seconds(options.keep_alive_timeout));
  while (!lost && !received) {
    if (io.stopped()) io.restart();
    io.run_one();
  }
  if (received) die_of(received, client, signals);
  print_error("connection to the server broke while holding lock '" + options.lock_name + "': " + *lost);
  return client_exit::connection_broke;
}

}  // namespace

int main(int argc, char** argv) {
  ClientOptions options;
  CLI::App app{"", "tcpnetlock_client"};
  add_client_options(app, options);
  tnl::add_client_tls_options(app);
  if (const auto code = parse(app, arguments(argc, argv))) return *code;
  configure_logging("tcpnetlock_client", options.info, options.debug);
  if (const auto problem = check_client_options(options)) {
    // tcpnetlock reported an invalid lock name as an unexpected error (4), not as an
    // invalid option: 2 means "connection refused" for this program.
    print_error(*problem);
    return client_exit::unexpected_error;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    print_error(e.what());
    return client_exit::unexpected_error;
  }
}
