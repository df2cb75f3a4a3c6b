// tcpnetlock_do: takes a lock, runs a command while holding it, then releases it.
//
// One io_context drives everything: the lock connection, retry and keepalive timers,
// and a signal_set for SIGINT/SIGTERM/SIGHUP (forwarded to the command) and SIGCHLD
// (the command ended). No threads.
//
// Choices where tcpnetlock crashed or said nothing:
// - a signal before the command starts (while connecting, waiting in the server's queue
//   or between retries) ends us with 124, "interrupted", without running the command;
// - connection failures other than "refused" (no such host, timeout) exit 124 too, and
//   so does an `err,...` answer to the lock request (such as `err,limit mismatch`);
// - the command runs in a process group of its own (like a shell job), so that losing
//   the lock can stop everything it started; when our stdin is a terminal and we are in
//   the foreground, the terminal is handed to the command's group while it runs (Ctrl-C
//   and Ctrl-Z reach the command; a stopped command stops us too, and `fg` resumes both).
//   SIGINT, SIGTERM and SIGHUP sent to us are forwarded to the command itself;
// - if the lock is lost while the command runs (the connection breaks, or the server
//   sends `lost,REASON` or `shutting-down`), by default the command's process group gets
//   SIGTERM, then SIGKILL after --kill-grace if any of it is left, and we exit 122; with
//   --on-lost warn the error is printed and the command left to finish: we then exit
//   122 if it succeeded, else with its own status;
// - if we are SIGKILLed, the command's group is left alone: the server frees the lock
//   when our connection closes, and nothing else can be done from here.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>  // before Asio, see lock_client.hpp

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <system_error>

#include "child_command.hpp"
#include "cli_support.hpp"
#include "do_options.hpp"
#include "lock_client.hpp"
#include "wait_status.hpp"

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

/// Puts TCPNETLOCK_LOCK_NAME and TCPNETLOCK_TOKEN (or removes a TCPNETLOCK_TOKEN we
/// inherited, e.g. from an outer tcpnetlock_do) in the environment the command inherits.
void export_lock_environment(const std::string& name, std::optional<std::uint64_t> token) {
  ::setenv("TCPNETLOCK_LOCK_NAME", name.c_str(), 1);
  if (token) {
    ::setenv("TCPNETLOCK_TOKEN", std::to_string(*token).c_str(), 1);
  } else {
    ::unsetenv("TCPNETLOCK_TOKEN");
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
  asio::steady_timer grace_timer(io);
  asio::steady_timer poll_timer(io);
  std::optional<tnl::ChildCommand> child;
  std::optional<int> child_status;
  int interrupted_by = 0;  // a signal that arrived before the command started

  // The command was stopped (Ctrl-Z on its terminal): stop ourselves too, as a shell job
  // would be, so the shell gets its terminal back; once continued, continue the command.
  const auto follow_stop = [&] {
    spdlog::info("the command was stopped; stopping too");
    child->reclaim_terminal();
    ::raise(SIGTSTP);
    // Continued (or SIGTSTP was ignored).
    child->hand_terminal();
    child->signal_group(SIGCONT);
  };

  std::function<void()> arm = [&] {
    signals.async_wait([&](const asio::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD) {
        if (child && !child_status) {
          child_status = child->try_reap();
          if (!child_status && child->take_stopped()) follow_stop();
        }
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

  // --- Take the lock, waiting in the server's queue if asked, retrying while it is not granted.
  tnl::LockRequest request = lock_request(options.lock_name, options.client_id, options.lock);
  const bool waits = !request.wait_seconds || *request.wait_seconds > 0;
  tnl::LockResult result;
  for (int attempt = 0;; ++attempt) {
    std::optional<tnl::WaitStatusLine> status_line;
    try {
      client.connect(options.host, options.port);
      if (waits && tnl::WaitStatusLine::wanted(STDERR_FILENO)) {
        status_line.emplace(io, client.endpoint(), options.lock_name, stderr);
        status_line->start();
      }
      result = client.lock(request);
    } catch (const ClientError& e) {
      status_line.reset();  // erases the line before anything else is printed
      if (interrupted_by) return interrupted();
      if (e.kind() == ClientError::Kind::refused) {
        print_error(e.what());
        return do_exit::refused;
      }
      print_error(e.what());
      return do_exit::cannot_run;
    }
    status_line.reset();
    if (interrupted_by) return interrupted();
    if (result.granted) break;
    if (attempt >= options.retry) {
      print_error("lock '" + options.lock_name + "' not granted by server" + (waits ? " within the wait" : ""));
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
  if (result.token) {
    spdlog::info("lock '{}' granted with token {}; running the command", options.lock_name, *result.token);
  } else {
    spdlog::info("lock '{}' granted; running the command", options.lock_name);
  }

  // --- Run the command while holding the lock.
  const std::vector<std::string> argv = command_argv(options);
  tnl::ChildOptions child_options;
  child_options.caught_signals = forwarded;
  child_options.caught_signals.push_back(SIGCHLD);
  child_options.own_process_group = true;
  child_options.terminal_fd = STDIN_FILENO;
  child_options.die_with_parent = options.on_lost == "kill";
  export_lock_environment(options.lock_name, result.token);
  try {
    child.emplace(tnl::ChildCommand::start(argv, child_options));
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
  bool terminating = false;  // the command's group has had SIGTERM
  bool killed = false;       // ... and SIGKILL
  const bool kill_on_lost = options.on_lost != "warn";
  const auto keepalive_every =
      options.keep_alive ? std::optional(seconds(options.keep_alive_secs)) : std::nullopt;
  client.start_watch(keepalive_every, [&](const std::string& reason) {
    lost = reason;
    if (!kill_on_lost) {
      print_error("lost lock '" + options.lock_name + "' while the command runs: " + reason);
      return;
    }
    std::fprintf(stderr, "tcpnetlock_do: lost lock '%s': %s; terminating the command\n", options.lock_name.c_str(),
                 reason.c_str());
    std::fflush(stderr);
    terminating = true;
    child->signal_group(SIGTERM);
    child->signal_group(SIGCONT);  // a stopped command could not act on SIGTERM
    grace_timer.expires_after(seconds(options.kill_grace));
    grace_timer.async_wait([&](const asio::error_code& ec) {
      if (ec) return;
      if (child->group_alive()) {
        spdlog::warn("the command is still running {:g} s after SIGTERM; sending SIGKILL", options.kill_grace);
        child->signal_group(SIGKILL);
      }
      killed = true;
    });
  });

  // Wait for the command; when terminating it, also for whatever it left in its group.
  std::function<void()> poll_group = [&] {
    poll_timer.expires_after(std::chrono::milliseconds(20));
    poll_timer.async_wait([&](const asio::error_code& ec) {
      if (!ec) poll_group();
    });
  };
  bool polling = false;
  run_until(io, [&] {
    if (!child_status) return false;
    if (!terminating || killed || !child->group_alive()) return true;
    if (!polling) {  // the command ended but some of its group is left: look again soon
      polling = true;
      poll_group();
    }
    return false;
  });
  poll_timer.cancel();
  grace_timer.cancel();
  child->reclaim_terminal();
  const int status = tnl::ChildCommand::exit_code(*child_status);
  spdlog::info("command ended with status {}", status);
  if (terminating) {
    client.close();
    return do_exit::lock_lost;
  }

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
