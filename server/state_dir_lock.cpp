#include "state_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string>

namespace tnl {

StateDirLock::StateDirLock(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  const auto file = dir / "lock";
  // Empty, and never written: it needs no space on a full disk once it exists.
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  int result = 0;
  do {
    result = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result == 0) {
    fd_ = fd;
    return;
  }
  const int error = errno;
  ::close(fd);
  if (error == EWOULDBLOCK) {
    throw std::runtime_error("state directory " + dir.string() + " is in use by another tcpnetlock_server (" +
                             file.string() + " is locked); two servers on one state directory would both grant its "
                             "detached locks");
  }
  spdlog::warn("cannot lock {}: {}; nothing keeps a second server off this state directory", file.string(),
               std::strerror(error));
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);  // lets go of the flock
}

}  // namespace tnl
