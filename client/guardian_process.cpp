// The guardian process. Plain POSIX and one ppoll() loop: it is a fork of tcpnetlock_do,
// whose Asio state it never touches. Only the forking thread exists here; a lock another
// thread of tcpnetlock_do held at the fork (Asio's resolver thread has its own) stays held,
// so Asio and the logger are not used, while malloc (which glibc's fork leaves usable) and
// plain system calls are.
#include "guardian_process.hpp"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "child_command.hpp"
#include "process_tree.hpp"

namespace tnl::guardian {

namespace {

using Clock = std::chrono::steady_clock;

/// The name the guardian goes by (comm and command line).
constexpr const char* guardian_name = "tnl_guardian";

/// Longest line from the server we wait for the end of, once tcpnetlock_do has died.
constexpr std::size_t max_server_line = 1024;

/// Time between rounds of SIGKILL (each round reads /proc again for what forked meanwhile).
constexpr auto kill_round_interval = std::chrono::milliseconds(10);
/// ... and between rounds when /proc cannot be read (only the command's group is reached).
constexpr auto blind_round_interval = std::chrono::milliseconds(200);

/// SIGCHLD's handler: it only has to interrupt ppoll().
void on_child_signal(int) {}

/// A line on stderr ("tnl_guardian[PID]: ..."), for what only the guardian can still say
/// once tcpnetlock_do has died.
void say(const char* format, ...) __attribute__((format(printf, 1, 2)));
void say(const char* format, ...) {
  char line[512];
  const int prefix = std::snprintf(line, sizeof line, "%s[%d]: ", guardian_name, static_cast<int>(::getpid()));
  va_list args;
  va_start(args, format);
  std::vsnprintf(line + prefix, sizeof line - static_cast<std::size_t>(prefix) - 1, format, args);
  va_end(args);
  std::size_t length = std::strlen(line);
  line[length++] = '\n';
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line, length);
}

/// Writes the guardian's name over tcpnetlock_do's command line, so that `ps` shows what it
/// is and `pkill -f tcpnetlock_do` does not take it for tcpnetlock_do.
void rename_process(const CommandLineArea& area) {
  ::prctl(PR_SET_NAME, guardian_name, 0, 0, 0);
  if (area.begin == nullptr || area.size == 0) return;
  std::memset(area.begin, 0, area.size);
  std::strncpy(area.begin, guardian_name, area.size - 1);
}

/// The guardian's state and loop.
class Guard {
 public:
  Guard(const GuardianOptions& options, int control, const sigset_t& command_mask, pid_t home_group)
      : options_(options), control_(control), command_mask_(command_mask), home_group_(home_group) {}

  [[noreturn]] void run() {
    start_command();
    while (true) {
      reap();
      if (command_ended_ && !children_left_) finish();
      if (command_ended_ && phase_ == Phase::running) {
        if (options_.leave_background) finish();  // what is left is the user's business now
        begin_terminating();                      // the command left processes behind
      }
      if (phase_ == Phase::terminating && Clock::now() >= deadline_) phase_ = Phase::killing;
      if (phase_ == Phase::killing) kill_round();
      wait_for_events();
    }
  }

 private:
  enum class Phase {
    running,      ///< the command runs (or has just ended)
    terminating,  ///< SIGTERM sent; waiting up to the grace
    killing,      ///< SIGKILL rounds until no descendant is left
  };

  void tell(Kind kind, int value = 0, int extra = 0) const {
    if (parent_alive_) send_message(control_, Message{kind, value, extra});
  }

  void start_command() {
    ChildOptions child;
    for (int sig : handled_signals) {
      const bool ignored = std::find(options_.inherited_ignored.begin(), options_.inherited_ignored.end(), sig) !=
                           options_.inherited_ignored.end();
      (ignored ? child.ignored_signals : child.caught_signals).push_back(sig);
    }
    child.own_process_group = true;
    child.terminal_fd = options_.terminal_fd;
    child.foreground_group = home_group_;
    child.signal_mask = command_mask_;
    child.die_with_parent = options_.kill_command_with_guardian;
    try {
      const ChildCommand command = ChildCommand::start(options_.argv, child);
      command_ = command.pid();
      tell(Kind::started, command_, command.has_terminal() ? 1 : 0);
    } catch (const std::system_error& e) {
      tell(Kind::exec_failed, e.code().value());
      ::_exit(0);
    } catch (const std::exception&) {
      tell(Kind::exec_failed, EINVAL);
      ::_exit(0);
    }
  }

  /// Reaps what has ended; notes the command's stops and end.
  void reap() {
    children_left_ = reap_children(
        [this](pid_t pid, int raw) {
          if (pid != command_ || command_ended_) return;  // an orphan of the command's tree
          if (WIFSTOPPED(raw)) {
            if (phase_ == Phase::running) tell(Kind::stopped);
            return;
          }
          command_ended_ = true;
          tell(Kind::exited, raw);
        },
        true);
  }

  /// Sends `signals` to every descendant; nullopt when /proc cannot be read.
  std::optional<std::size_t> signal_tree(std::initializer_list<int> signals) {
    // The command's group is signalled only while the command is unreaped: its pid (the
    // group's id) cannot be reused before. A group signal also catches forks in progress.
    const auto found = signal_descendants(::getpid(), command_ended_ ? 0 : command_, signals);
    if (!found) {
      if (command_ended_) {
        for (int sig : signals) ::kill(-command_, sig);  // the best we can do without /proc
      }
      if (!warned_blind_) {
        warned_blind_ = true;
        say("cannot read /proc: only the command's process group can be signalled; the lock is held until "
            "every process the command started has ended");
      }
    }
    return found;
  }

  void begin_terminating() {
    if (phase_ != Phase::running) return;
    phase_ = Phase::terminating;
    deadline_ = Clock::now() + options_.kill_grace;
    const auto found = signal_tree({SIGTERM, SIGCONT});  // a stopped process could not act on SIGTERM
    tell(Kind::terminating, found ? static_cast<int>(*found) : -1, command_ended_ ? 1 : 0);
    if (options_.kill_grace <= Clock::duration::zero()) phase_ = Phase::killing;
  }

  // SIGKILLed processes cannot fork any more, so the rounds end: each finds at most what
  // forked between the previous round's reading of /proc and its kills.
  void kill_round() {
    const auto found = signal_tree({SIGKILL});
    if (!told_killing_) {
      told_killing_ = true;
      tell(Kind::killing, found ? static_cast<int>(*found) : -1);
    }
    blind_ = !found;
  }

  [[noreturn]] void finish() {
    tell(Kind::done);
    ::_exit(0);  // closes our copy of the lock's connection: only now may the lock go
  }

  void wait_for_events() {
    pollfd fds[2];
    nfds_t count = 0;
    if (parent_alive_) fds[count++] = pollfd{control_, POLLIN, 0};
    // While tcpnetlock_do lives, it reads the connection: only its end is watched here.
    const bool watch_lock = options_.lock_fd >= 0 && !lock_gone_ && (!parent_alive_ || options_.end_on_lost);
    if (watch_lock) {
      fds[count++] = pollfd{options_.lock_fd, static_cast<short>(parent_alive_ ? POLLRDHUP : POLLIN | POLLRDHUP), 0};
    }

    timespec timeout{};
    timespec* limit = nullptr;  // none: until a message or a child's end
    if (phase_ != Phase::running) {
      auto left = phase_ == Phase::killing ? Clock::duration(blind_ ? blind_round_interval : kill_round_interval)
                                           : deadline_ - Clock::now();
      left = std::max(left, Clock::duration::zero());
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
      timeout.tv_sec = secs.count();
      timeout.tv_nsec = static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs).count());
      limit = &timeout;
    }
    sigset_t during;  // SIGCHLD (blocked otherwise) may interrupt the wait
    sigemptyset(&during);
    if (::ppoll(fds, count, limit, &during) <= 0) return;  // timeout, or a child's end
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == control_) {
        read_control();
      } else if (parent_alive_) {
        lock_closed();
      } else {
        read_lock();
      }
    }
  }

  void read_control() {
    Message message;
    while (true) {
      const Received received = receive_message(control_, message);
      if (received == Received::nothing) return;
      if (received == Received::closed) {
        parent_died();
        return;
      }
      switch (message.kind) {
        case Kind::forward:
          if (!command_ended_) {
            ::kill(command_, message.value);
          } else if (phase_ == Phase::terminating) {
            phase_ = Phase::killing;  // interrupted while waiting for leftovers: stop waiting
          }
          break;
        case Kind::terminate:
          begin_terminating();
          break;
        case Kind::resume:
          if (!command_ended_) ::kill(-command_, SIGCONT);
          break;
        default:
          break;
      }
    }
  }

  void parent_died() {
    parent_alive_ = false;
    ::close(control_);
    control_ = -1;
    if (lock_gone_) {
      phase_ = Phase::killing;  // the lock is gone already: no more grace
      return;
    }
    if (phase_ == Phase::running) {
      const double grace = std::chrono::duration<double>(options_.kill_grace).count();
      say("tcpnetlock_do has died; terminating the command%s (SIGKILL after %g s) before the lock is let go",
          command_ended_ ? "'s leftovers" : "", grace);
      begin_terminating();
    }
  }

  /// tcpnetlock_do has died: we are the only reader of the lock's connection. The answer
  /// to a keepalive it sent may still come; anything else (`lost,...`, `shutting-down`,
  /// the end of the connection) means the lock is gone already: SIGKILL, no grace.
  void read_lock() {
    char chunk[512];
    while (!lock_gone_) {
      const ssize_t got = ::recv(options_.lock_fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (got <= 0) {
        lock_gone("the server closed the connection");
        return;
      }
      lock_buffer_.append(chunk, static_cast<std::size_t>(got));
      for (auto end = lock_buffer_.find('\n'); end != std::string::npos; end = lock_buffer_.find('\n')) {
        std::string_view line(lock_buffer_.data(), end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line != "alive") {
          lock_gone(std::string(line.substr(0, 100)).c_str());
          return;
        }
        lock_buffer_.erase(0, end + 1);
      }
      if (lock_buffer_.size() > max_server_line) {
        lock_gone("a line from the server is too long");
        return;
      }
    }
  }

  /// The server closed the lock's connection while tcpnetlock_do lives (which reads its
  /// `lost,...` or `shutting-down`): the lock is gone. tcpnetlock_do asks us to terminate
  /// the tree, unless it is stopped; we do not wait for it to. It says why.
  void lock_closed() {
    lock_gone_ = true;
    begin_terminating();
  }

  void lock_gone(const char* why) {
    lock_gone_ = true;
    say("the lock is gone (%s); killing what is left of the command now", why);
    begin_terminating();
    phase_ = Phase::killing;
  }

  const GuardianOptions& options_;
  int control_;
  const sigset_t command_mask_;
  const pid_t home_group_;
  pid_t command_ = -1;
  bool command_ended_ = false;
  bool children_left_ = true;
  bool parent_alive_ = true;
  bool lock_gone_ = false;
  bool told_killing_ = false;
  bool warned_blind_ = false;
  bool blind_ = false;  ///< the last kill round could not read /proc
  Phase phase_ = Phase::running;
  Clock::time_point deadline_{};
  std::string lock_buffer_;
};

}  // namespace

void run_guardian(const GuardianOptions& options, int control, const sigset_t& command_mask, pid_t home_group) {
  try {
    ::setpgid(0, 0);
    rename_process(options.command_line);
    // Every signal is blocked (since before the fork). Our own dispositions first: ignore
    // what a terminal, a job-control shell or a broken pipe may send, wake up on SIGCHLD.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    struct sigaction wake {};
    wake.sa_handler = on_child_signal;
    sigemptyset(&wake.sa_mask);
    for (int sig : handled_signals) ::sigaction(sig, sig == SIGCHLD ? &wake : &ignore, nullptr);
    sigset_t only_child;
    sigemptyset(&only_child);
    sigaddset(&only_child, SIGCHLD);
    ::pthread_sigmask(SIG_SETMASK, &only_child, nullptr);
    if (!become_subreaper()) {
      say("cannot become a child subreaper (PR_SET_CHILD_SUBREAPER): processes the command orphans may outlive "
          "the lock");
    }
    Guard(options, control, command_mask, home_group).run();
  } catch (...) {
    // Out of memory, say. Exiting closes our copy of the lock's connection; tcpnetlock_do
    // sees us gone without `done` and ends the command's tree itself.
  }
  ::_exit(125);
}

}  // namespace tnl::guardian
