#include "guardian.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "guardian_process.hpp"
#include "process_tree.hpp"

namespace tnl {

CommandLineArea command_line_area(int argc, char** argv) {
  if (argc < 1 || argv == nullptr || argv[0] == nullptr) return {};
  char* end = argv[0] + std::strlen(argv[0]) + 1;
  for (int i = 1; i < argc; ++i) {
    if (argv[i] != end) return {};  // not one block: leave it alone
    end = argv[i] + std::strlen(argv[i]) + 1;
  }
  return {argv[0], static_cast<std::size_t>(end - argv[0])};
}

Guardian Guardian::start(const GuardianOptions& options) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair");
  }
  // Should the guardian be killed, its orphans come to us, and we end them (see
  // end_descendants). Without this they would go to init, out of our reach.
  become_subreaper();

  // No handler of ours may run in the guardian (Asio's would report the signal to our
  // event loop through a pipe both processes share): signals stay blocked across the
  // fork until the guardian has its own dispositions. Those arriving meanwhile are
  // delivered to us once we unblock them.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t home_group = ::getpgrp();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pair[0]);
    guardian::run_guardian(options, pair[1], previous, home_group);
  }
  const int fork_error = errno;
  // Here as in the guardian, so that no order of scheduling leaves it in our job's group.
  if (pid > 0) ::setpgid(pid, pid);
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(pair[1]);
  if (pid < 0) {
    ::close(pair[0]);
    throw std::system_error(fork_error, std::generic_category(), "fork");
  }
  return Guardian(pid, pair[0]);
}

Guardian::Guardian(Guardian&& other) noexcept : pid_(other.pid_), fd_(other.fd_), reaped_(other.reaped_) {
  other.pid_ = -1;
  other.fd_ = -1;
}

Guardian::~Guardian() {
  if (fd_ >= 0) ::close(fd_);
}

int Guardian::wait() {
  if (pid_ <= 0 || reaped_) return -1;
  int raw = 0;
  while (::waitpid(pid_, &raw, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  reaped_ = true;
  return raw;
}

int end_descendants(pid_t group, std::chrono::steady_clock::duration grace) {
  const pid_t self = ::getpid();
  const auto signal_all = [&](std::initializer_list<int> signals) {
    const auto found = signal_descendants(self, 0, signals);
    if (!found && group > 0) {
      for (int sig : signals) ::kill(-group, sig);  // without /proc, the group is what we can reach
    }
    return found;
  };
  const auto found = signal_all({SIGTERM, SIGCONT});  // a stopped process could not act on SIGTERM
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Every orphan of the tree becomes our child (we are a subreaper): none left, none at all.
  // SIGKILLed processes cannot fork any more, so the rounds after the grace end; each finds
  // at most what forked between the previous round's reading of /proc and its kills.
  while (reap_children([](pid_t, int) {})) {
    if (std::chrono::steady_clock::now() >= deadline) signal_all({SIGKILL});
    const timespec pause{0, 10'000'000};  // 10 ms: this only runs when the guardian died
    ::nanosleep(&pause, nullptr);
  }
  return found ? static_cast<int>(*found) : -1;
}

}  // namespace tnl
