#include "server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "measure.hpp"

namespace bench {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Polls `done` every millisecond for at most `limit`; true once it held.
template <typename Predicate>
bool poll_for(std::chrono::milliseconds limit, Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> argv, int cpu) {
  char pattern[] = "/tmp/tnl-bench-XXXXXX";
  if (mkdtemp(pattern) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  directory_ = pattern;
  const std::string port_file = directory_ + "/port";
  const std::string log_file = directory_ + "/server.log";
  argv.insert(argv.end(), {"--listen", "127.0.0.1", "--port", "0", "--port-file", port_file});

  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (log >= 0) dup2(log, STDERR_FILENO);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
    }
    if (cpu >= 0) pin_to_cpu(cpu);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  bool exited = false;
  const bool listening = poll_for(std::chrono::seconds(10), [&] {
    if (waitpid(pid_, &status, WNOHANG) == pid_) exited = true;
    return exited || !read_file(port_file).empty();
  });
  if (exited || !listening) {
    const std::string why = exited ? "exited at start" : "did not listen within 10 s";
    const std::string tail = log_tail();
    if (exited) pid_ = -1;
    stop();
    throw std::runtime_error("server " + argv[0] + " " + why + ": " + tail);
  }
  port_ = static_cast<std::uint16_t>(std::stoi(read_file(port_file)));
}

ServerProcess::~ServerProcess() {
  try {
    stop();
  } catch (...) {  // nothing more to do from a destructor
  }
}

void ServerProcess::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    if (!poll_for(std::chrono::seconds(10), [&] { return waitpid(pid_, &status, WNOHANG) == pid_; })) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  if (!directory_.empty()) {
    for (const char* name : {"/port", "/port.tmp", "/server.log"}) ::unlink((directory_ + name).c_str());
    ::rmdir(directory_.c_str());
    directory_.clear();
  }
}

std::string ServerProcess::log_tail() const {
  const std::string log = read_file(directory_ + "/server.log");
  return log.size() > 2000 ? log.substr(log.size() - 2000) : log;
}

}  // namespace bench
