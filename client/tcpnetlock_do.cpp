// tcpnetlock_do: takes a lock, runs a command while holding it, then releases it.
//
// One io_context drives everything: the lock connection, retry and keepalive timers,
// and a signal_set for SIGINT/SIGTERM/SIGHUP (forwarded to the command) and SIGCHLD
// (the command ended). No threads.
//
// Choices where tcpnetlock crashed or said nothing:
// - a signal before the command starts (while connecting or between retries) ends us
//   with 124, "interrupted", without running the command;
// - connection failures other than "refused" (no such host, timeout) exit 124 too;
// - if the lock connection breaks while the command runs, the error is printed at once
//   but the command is left to finish; we then exit 122 if it succeeded (as
//   tcpnetlock_client does for a broken connection), else with its own status;
// - the command stays in our process group so it keeps the terminal: a Ctrl-C typed
//   there reaches it directly and once more through us (harmless for nearly all
//   programs; `kill -INT` on tcpnetlock_do alone reaches it once).
#include <signal.h>

#include <cstddef>  // before Asio, see lock_client.hpp

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <exception>
#include <optional>
#include <string>
#include <system_error>

#include "child_command.hpp"
#include "cli_support.hpp"
#include "do_options.hpp"
#include "lock_client.hpp"

namespace {

using tnl::ClientError;
using namespace tnl::cli;

/// Runs `io` until `condition` holds. The signal set always has a wait pending, so the
/// io_context never runs out of work here.
template <typename Condition>
void run_until(asio::io_context& io, Condition condition) {
  while (!condition()) {
    if (io.stopped()) io.restart();
    io.run_one();
  }
}

int run(const DoOptions& options) {
  asio::io_context io;
  asio::signal_set signals(io);
  const std::vector<int> forwarded = not_ignored({SIGINT, SIGTERM, SIGHUP});
  for (int sig : forwarded) signals.add(sig);
  signals.add(SIGCHLD);

  tnl::LockClient client(io);
  asio::steady_timer retry_timer(io);
  std::optional<tnl::ChildCommand> child;
  std::optional<int> child_status;
  int interrupted_by = 0;  // a signal that arrived before the command started

  std::function<void()> arm = [&] {
    signals.async_wait([&](const asio::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD) {
        if (child && !child_status) child_status = child->try_reap();
      } else if (child && !child_status) {
        spdlog::info("forwarding signal {} to the command (pid {})", sig, child->pid());
        child->signal(sig);
      } else if (!child) {
        if (interrupted_by == 0) interrupted_by = sig;
        client.cancel();
        retry_timer.cancel();
      }
      arm();
    });
  };
  arm();

  const auto interrupted = [&] {
    client.close();
    print_error("interrupted by signal " + std::to_string(interrupted_by) + " before the command started");
    return do_exit::cannot_run;
  };

  // --- Take the lock, retrying while it is not granted.
  const auto client_id =
      options.client_id.empty() ? std::nullopt : std::optional<std::string_view>(options.client_id);
  for (int attempt = 0;; ++attempt) {
    bool granted = false;
    try {
      client.connect(options.host, options.port);
      granted = client.lock(options.lock_name, client_id);
    } catch (const ClientError& e) {
      if (interrupted_by) return interrupted();
      if (e.kind() == ClientError::Kind::refused) {
        print_error(e.what());
        return do_exit::refused;
      }
      print_error(e.what());
      return do_exit::cannot_run;
    }
    if (interrupted_by) return interrupted();
    if (granted) break;
    if (attempt >= options.retry) {
      print_error("lock '" + options.lock_name + "' not granted by server");
      return do_exit::not_granted;
    }
    spdlog::info("lock '{}' not granted; {} retries left, next in {:g} s", options.lock_name,
                 options.retry - attempt, options.retry_wait);
    bool waited = false;
    retry_timer.expires_after(seconds(options.retry_wait));
    retry_timer.async_wait([&](const asio::error_code&) { waited = true; });
    run_until(io, [&] { return waited; });
    if (interrupted_by) return interrupted();
  }
  spdlog::info("lock '{}' granted; running the command", options.lock_name);

  // --- Run the command while holding the lock.
  const std::vector<std::string> argv = command_argv(options);
  std::vector<int> caught = forwarded;
  caught.push_back(SIGCHLD);
  try {
    child.emplace(tnl::ChildCommand::start(argv, caught));
  } catch (const std::system_error& e) {
    client.close();
    if (e.code().value() == ENOENT) {
      print_error("command not found: '" + argv.front() + "'");
      return do_exit::command_not_found;
    }
    print_error("cannot run '" + argv.front() + "': " + e.code().message());
    return do_exit::cannot_run;
  }
  spdlog::debug("command started, pid {}", child->pid());

  std::optional<std::string> lost;
  const auto keepalive_every =
      options.keep_alive ? std::optional(seconds(options.keep_alive_secs)) : std::nullopt;
  client.start_watch(keepalive_every, [&](const std::string& reason) {
    lost = reason;
    // Killing the command half way could do more harm than finishing it unguarded.
    print_error("lost lock '" + options.lock_name + "' while the command runs: " + reason);
  });
  run_until(io, [&] { return child_status.has_value(); });
  const int status = tnl::ChildCommand::exit_code(*child_status);
  spdlog::info("command ended with status {}", status);

  // --- Release only now that the command has ended.
  if (!lost) {
    client.stop_watch();
    try {
      client.release();
      spdlog::info("lock '{}' released", options.lock_name);
    } catch (const ClientError& e) {
      if (e.kind() == ClientError::Kind::connection_lost || e.kind() == ClientError::Kind::unexpected_answer) {
        // We cannot tell when the connection ended: the lock may have been free
        // while the command ran.
        lost = e.what();
        print_error("lost lock '" + options.lock_name + "' while the command ran: " + e.what());
      } else {
        // The lock is freed anyway when the connection closes, which it now does.
        spdlog::warn("releasing lock '{}': {}", options.lock_name, e.what());
      }
    }
  }
  client.close();
  if (lost && status == 0) return do_exit::lock_lost;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  DoOptions options;
  CLI::App app{"", "tcpnetlock_do"};
  add_do_options(app, options);
  if (const auto code = parse(app, arguments(argc, argv))) return *code;
  configure_logging("tcpnetlock_do", options.info, options.debug);
  if (const auto problem = finalize_do_options(options)) {
    print_error(*problem);
    return do_exit::invalid_options;
  }
  spdlog::info("lock name '{}'", options.lock_name);
  try {
    return run(options);
  } catch (const std::exception& e) {
    print_error(e.what());
    return do_exit::cannot_run;
  }
}
