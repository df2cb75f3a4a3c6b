#include "job_terminal.hpp"

#include <signal.h>
#include <unistd.h>

namespace tnl {

bool set_foreground(int fd, pid_t group) {
  sigset_t ttou;
  sigset_t previous;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  ::pthread_sigmask(SIG_BLOCK, &ttou, &previous);
  const bool done = ::tcsetpgrp(fd, group) == 0;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return done;
}

void JobTerminal::reclaim() {
  if (fd_ < 0 || !handed_) return;
  set_foreground(fd_, home_);
  handed_ = false;
}

void JobTerminal::hand() {
  if (fd_ < 0 || handed_ || ended_) return;
  // Only a foreground process may hand the terminal on (not after `bg`).
  if (::tcgetpgrp(fd_) != home_) return;
  handed_ = set_foreground(fd_, job_);
}

}  // namespace tnl
