#include "guarded_run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "child_command.hpp"
#include "cli_support.hpp"

namespace tnl::cli {

namespace {

/// "3 processes", "1 process", or "processes" when the count is unknown (-1).
std::string processes(int count) {
  if (count < 0) return "processes";
  return std::to_string(count) + (count == 1 ? " process" : " processes");
}

/// How the guardian ended, for a message.
std::string describe_end(int raw) {
  if (raw == -1) return "ended";
  if (WIFSIGNALED(raw)) return "was killed by signal " + std::to_string(WTERMSIG(raw));
  return "exited with status " + std::to_string(WEXITSTATUS(raw));
}

/// How long past the grace the guardian may take to end the tree, once the lock is lost
/// (its SIGKILL rounds take milliseconds), before we kill it and do it ourselves.
constexpr auto unresponsive_margin = std::chrono::seconds(2);

}  // namespace

GuardedRun::GuardedRun(asio::io_context& io, LockWatch& watch, const DoOptions& options, GuardianOptions guardian)
    : io_(io), watch_(watch), options_(options), guardian_options_(std::move(guardian)), unresponsive_(io) {}

GuardedOutcome GuardedRun::run() {
  guardian_.emplace(Guardian::start(guardian_options_));
  spdlog::debug("guardian started, pid {}", guardian_->pid());
  const int watched = ::fcntl(guardian_->control_fd(), F_DUPFD_CLOEXEC, 0);
  if (watched < 0) {
    guardian_.reset();  // closing our end: the guardian takes it as our death and ends the command
    throw std::system_error(errno, std::generic_category(), "dup");
  }
  control_.emplace(io_, watched);
  watch_guardian();

  watch_.start([this](const std::string& reason) { lost(reason); });
  while (!guardian_gone_) {
    if (io_.stopped()) io_.restart();
    io_.run_one();
  }
  unresponsive_.cancel();
  asio::error_code ignored;
  control_->close(ignored);
  const int raw = guardian_->wait();
  if (!done_) guardian_died(raw);
  terminal_.reclaim();
  return outcome_;
}

void GuardedRun::forward(int sig) {
  if (!guardian_ || guardian_gone_) return;
  spdlog::info("forwarding signal {} to the command (pid {})", sig, command_);
  guardian_->forward(sig);
}

void GuardedRun::watch_guardian() {
  control_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& ec) {
    if (ec) return;
    read_guardian();
    if (!guardian_gone_) watch_guardian();
  });
}

void GuardedRun::read_guardian() {
  guardian::Message message;
  while (true) {
    switch (guardian_->next(message)) {
      case guardian::Received::message:
        handle(message);
        break;
      case guardian::Received::nothing:
        return;
      case guardian::Received::closed:
        guardian_gone_ = true;
        return;
    }
  }
}

void GuardedRun::handle(const guardian::Message& message) {
  using guardian::Kind;
  const double grace = options_.kill_grace;
  switch (message.kind) {
    case Kind::started:
      command_ = message.value;
      terminal_ = JobTerminal(guardian_options_.terminal_fd, command_, ::getpgrp(), message.extra == 1);
      spdlog::debug("command started, pid {}", command_);
      break;
    case Kind::exec_failed:
      outcome_.exec_error = message.value;
      done_ = true;
      break;
    case Kind::stopped:
      follow_stop();
      break;
    case Kind::exited:
      outcome_.status = message.value;
      terminal_.reclaim();
      terminal_.job_ended();
      spdlog::info("command ended with status {}", ChildCommand::exit_code(message.value));
      break;
    case Kind::terminating:
      if (message.extra == 1) {
        spdlog::warn("the command left {} running; terminating them before releasing lock '{}' (SIGKILL after {:g} "
                     "s; --leave-background leaves them)",
                     processes(message.value), options_.lock_name, grace);
      }
      break;
    case Kind::killing:
      if (outcome_.status) {
        spdlog::warn("what the command left is still running {:g} s after SIGTERM; sending SIGKILL", grace);
      } else {
        spdlog::warn("the command is still running {:g} s after SIGTERM; sending SIGKILL", grace);
      }
      break;
    case Kind::done:
      done_ = true;
      break;
    default:
      break;
  }
}

// The command was stopped (Ctrl-Z on its terminal): stop ourselves too, as a shell job
// would be, so the shell gets its terminal back; once continued, continue the command.
void GuardedRun::follow_stop() {
  spdlog::info("the command was stopped; stopping too");
  terminal_.reclaim();
  ::raise(SIGTSTP);
  // Continued (or SIGTSTP was ignored).
  terminal_.hand();
  guardian_->resume();
}

void GuardedRun::lost(const std::string& reason) {
  outcome_.lost = reason;
  if (options_.on_lost == "warn") {
    print_error("lost lock '" + options_.lock_name + "' while the command runs: " + reason);
    return;
  }
  std::fprintf(stderr, "tcpnetlock_do: lost lock '%s': %s; terminating the command\n", options_.lock_name.c_str(),
               reason.c_str());
  std::fflush(stderr);
  outcome_.terminated_for_lost = true;
  guardian_->terminate();
  // A stopped guardian (SIGSTOP) would leave the request unread and the command running
  // without the lock; one that still has not ended the tree once the grace is over (a
  // debugger holds it) is killed, and we end the tree ourselves (guardian_died).
  ::kill(guardian_->pid(), SIGCONT);
  unresponsive_.expires_after(seconds(options_.kill_grace) + unresponsive_margin);
  unresponsive_.async_wait([this](const asio::error_code& ec) {
    if (!ec && !guardian_gone_) guardian_unresponsive();
  });
}

void GuardedRun::guardian_unresponsive() {
  print_error("the guardian process (pid " + std::to_string(guardian_->pid()) +
              ") has not ended the command after the grace; killing it");
  ::kill(guardian_->pid(), SIGKILL);
}

// Killed (or crashed): its orphans, the command's whole tree, are ours now (we are a
// subreaper). They are ended before we let go of the lock: at once, with no grace. The
// command itself died of SIGKILL with the guardian (its parent-death signal), and while a
// grace ran, whoever killed the guardian could kill us too: the lock would go while what
// the command left still runs (random_kills found it).
void GuardedRun::guardian_died(int raw) {
  outcome_.guardian_died = raw;
  print_error("the guardian process (pid " + std::to_string(guardian_->pid()) + ") " + describe_end(raw) +
              "; killing what the command started before letting go of lock '" + options_.lock_name + "'");
  end_descendants(command_, std::chrono::steady_clock::duration::zero());
}

}  // namespace tnl::cli
