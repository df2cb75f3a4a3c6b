#include "token_generator.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string>

namespace tnl {

namespace {

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string() + " to sync it");
  const int result = ::fsync(fd);
  ::close(fd);
  if (result != 0) throw std::runtime_error("cannot sync " + path.string());
}

}  // namespace

TokenGenerator::Token TokenGenerator::wall_clock_microseconds() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<Token>(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

TokenGenerator::TokenGenerator(std::filesystem::path state_file, Clock clock)
    : state_file_(std::move(state_file)), clock_(std::move(clock)) {
  if (state_file_.empty()) return;
  if (std::filesystem::exists(state_file_)) {
    std::ifstream in(state_file_);
    Token mark = 0;
    if (!(in >> mark)) throw std::runtime_error("unreadable fencing token state in " + state_file_.string());
    last_ = persisted_ = mark;
  }
  // Fail at start, not at the first grant, when the state cannot be written.
  persist(std::max(persisted_, clock_()) + reservation_block);
}

TokenGenerator::Token TokenGenerator::next() {
  last_ = std::max(last_ + 1, clock_());
  if (!state_file_.empty() && last_ > persisted_) {
    try {
      persist(last_ + reservation_block);
    } catch (const std::exception& e) {
      // Keep granting: the clock floor still holds; only the crash-proof margin is missing.
      spdlog::error("cannot persist the fencing token mark: {}", e.what());
    }
  }
  return last_;
}

void TokenGenerator::persist(Token mark) {
  const auto temporary = std::filesystem::path(state_file_).concat(".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << mark << '\n';
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + temporary.string());
  }
  fsync_path(temporary, O_RDONLY);
  std::filesystem::rename(temporary, state_file_);
  // The rename is durable only once the directory is synced.
  fsync_path(state_file_.parent_path().empty() ? "." : state_file_.parent_path(), O_RDONLY | O_DIRECTORY);
  persisted_ = mark;
}

}  // namespace tnl
