#include "child_command.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace tnl {

ChildCommand ChildCommand::start(const std::vector<std::string>& argv, const std::vector<int>& caught_signals) {
  ChildOptions options;
  options.caught_signals = caught_signals;
  return start(argv, options);
}

ChildCommand ChildCommand::start(const std::vector<std::string>& argv, const ChildOptions& options) {
  const std::vector<int>& caught_signals = options.caught_signals;
  const std::vector<int>& ignored_signals = options.ignored_signals;
  const bool own_group = options.own_process_group;
  const pid_t home_group = options.foreground_group > 0 ? options.foreground_group : ::getpgrp();
  // Like a shell's job control: only a foreground process hands its terminal over.
  const int terminal = own_group && options.terminal_fd >= 0 && ::isatty(options.terminal_fd) &&
                               ::tcgetpgrp(options.terminal_fd) == home_group
                           ? options.terminal_fd
                           : -1;
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
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(report[0]);
    // Both here and in the parent, so neither order of scheduling leaves a window.
    if (own_group) ::setpgid(0, 0);
    if (terminal >= 0) ::tcsetpgrp(terminal, ::getpid());  // every signal is blocked here
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    }
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int sig : caught_signals) ::sigaction(sig, &default_action, nullptr);
    struct sigaction ignore_action {};
    ignore_action.sa_handler = SIG_IGN;
    sigemptyset(&ignore_action.sa_mask);
    for (int sig : ignored_signals) ::sigaction(sig, &ignore_action, nullptr);
    ::pthread_sigmask(SIG_SETMASK, options.signal_mask ? &*options.signal_mask : &previous, nullptr);
    ::execvp(args[0], args.data());
    const int error = errno;
    // Nothing useful can be done if this write fails; the parent then sees a plain exit.
    [[maybe_unused]] const auto written = ::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  const int fork_error = errno;
  if (pid > 0 && own_group) {
    ::setpgid(pid, pid);  // fails harmlessly if the child has already exec'd
    if (terminal >= 0) ::tcsetpgrp(terminal, pid);  // SIGTTOU is still blocked
  }
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
    if (terminal >= 0) set_foreground(terminal, home_group);
    throw std::system_error(exec_error, std::generic_category(), argv[0]);
  }
  ChildCommand child(pid);
  child.own_group_ = own_group;
  child.terminal_ = JobTerminal(terminal, pid, home_group, terminal >= 0);
  return child;
}

bool ChildCommand::signal_group(int sig) const {
  if (!own_group_ || pid_ <= 0) return false;
  return ::kill(-pid_, sig) == 0;
}

void ChildCommand::reclaim_terminal() { terminal_.reclaim(); }

void ChildCommand::hand_terminal() {
  if (!status_) terminal_.hand();
}

bool ChildCommand::take_stopped() {
  const bool stopped = stopped_;
  stopped_ = false;
  return stopped;
}

ChildCommand::ChildCommand(ChildCommand&& other) noexcept
    : pid_(other.pid_),
      own_group_(other.own_group_),
      terminal_(other.terminal_),
      stopped_(other.stopped_),
      status_(other.status_) {
  other.pid_ = -1;
  other.terminal_ = JobTerminal();
}

void ChildCommand::signal(int sig) const {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> ChildCommand::try_reap() {
  if (status_ || pid_ <= 0) return status_;
  int raw = 0;
  pid_t done = 0;
  // Stops matter when the command has the terminal: we must take it back then.
  const int flags = WNOHANG | (own_group_ ? WUNTRACED : 0);
  do {
    done = ::waitpid(pid_, &raw, flags);
  } while (done < 0 && errno == EINTR);
  if (done == pid_ && WIFSTOPPED(raw)) {
    stopped_ = true;
  } else if (done == pid_) {
    status_ = raw;
  }
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
