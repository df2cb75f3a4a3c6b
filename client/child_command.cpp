#include "child_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace tnl {

ChildCommand ChildCommand::start(const std::vector<std::string>& argv, const std::vector<int>& caught_signals) {
  if (argv.empty()) throw std::invalid_argument("ChildCommand: empty command");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");

  // Block signals across fork: our handlers must not run in the child before exec
  // (they would report the signal to the parent's event loop through a shared pipe).
  // Signals that arrive meanwhile are delivered to the parent once it unblocks.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int sig : caught_signals) ::sigaction(sig, &default_action, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ::execvp(args[0], args.data());
    const int error = errno;
    // Nothing useful can be done if this write fails; the parent then sees a plain exit.
    [[maybe_unused]] const auto written = ::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    throw std::system_error(fork_error, std::generic_category(), "fork");
  }

  // EOF means exec succeeded (the pipe closed on exec); an int is exec's errno.
  int exec_error = 0;
  ssize_t got = 0;
  do {
    got = ::read(report[0], &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof exec_error)) {
    int ignored = 0;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    throw std::system_error(exec_error, std::generic_category(), argv[0]);
  }
  return ChildCommand(pid);
}

ChildCommand::ChildCommand(ChildCommand&& other) noexcept : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
}

void ChildCommand::signal(int sig) const {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> ChildCommand::try_reap() {
  if (status_ || pid_ <= 0) return status_;
  int raw = 0;
  pid_t done = 0;
  do {
    done = ::waitpid(pid_, &raw, WNOHANG);
  } while (done < 0 && errno == EINTR);
  if (done == pid_) status_ = raw;
  return status_;
}

int ChildCommand::wait() {
  if (status_ || pid_ <= 0) return status_.value_or(-1);
  int raw = 0;
  while (::waitpid(pid_, &raw, 0) < 0) {
    if (errno != EINTR) return -1;  // not our child any more: status unknown (exit_code: 124)
  }
  status_ = raw;
  return raw;
}

int ChildCommand::exit_code(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  return 124;
}

}  // namespace tnl
