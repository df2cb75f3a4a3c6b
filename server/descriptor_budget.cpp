#include "descriptor_budget.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace tnl {

std::size_t open_descriptor_count() {
  struct stat info {};
  if (::stat("/proc/self/fd", &info) == 0 && info.st_size > 0) return static_cast<std::size_t>(info.st_size);
  static std::size_t counted = 0;
  static std::chrono::steady_clock::time_point counted_at{};
  const auto now = std::chrono::steady_clock::now();
  if (counted != 0 && now - counted_at < std::chrono::seconds(1)) return counted;
  std::error_code error;
  std::size_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end; it.increment(error)) {
    ++count;
  }
  counted = count;
  counted_at = now;
  return count;
}

std::size_t open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t lock_connection_limit(std::size_t limit, std::size_t open_now, std::size_t http_connections) {
  const std::size_t http_share = std::min(http_connections, limit / 4);
  const std::size_t kept = open_now + http_share + spare_descriptors;
  return limit > kept ? limit - kept : 1;
}

}  // namespace tnl
