#include "descriptor_reserve.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace tnl {

namespace {
int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }
}  // namespace

DescriptorReserve::DescriptorReserve() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    const rlim_t soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (soft != limit.rlim_max && ::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = soft;
    spdlog::info("open-file limit: soft {} (was {}), hard {}", limit.rlim_cur, soft, limit.rlim_max);
  }
  reserve_ = open_reserve();
}

DescriptorReserve::~DescriptorReserve() {
  if (reserve_ >= 0) ::close(reserve_);
}

DescriptorReserve::Refusal DescriptorReserve::refuse_one(int listener, std::string_view line) {
  return refuse_one_raw(listener, std::string{line} + "\n");
}

DescriptorReserve::Refusal DescriptorReserve::refuse_one_raw(int listener, std::string_view bytes) {
  if (reserve_ < 0) reserve_ = open_reserve();  // maybe descriptors were freed since
  if (reserve_ < 0) {
    spdlog::debug("no descriptor in reserve: {}", std::strerror(errno));
    return Refusal::failed;
  }
  ::close(reserve_);
  const int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  const int accept_error = errno;
  if (client >= 0) {
    // Best effort: a fresh socket's send buffer always has room for one short answer.
    [[maybe_unused]] const auto sent = ::send(client, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(client);
  }
  reserve_ = open_reserve();
  if (client >= 0) return Refusal::refused;
  return accept_error == EAGAIN || accept_error == EWOULDBLOCK ? Refusal::nothing_pending : Refusal::failed;
}

}  // namespace tnl
