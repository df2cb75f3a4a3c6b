#include "token_generator.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string>

namespace tnl {

namespace {

using Token = TokenGenerator::Token;

/// Mixes every bit of `mark` into the check value (splitmix64's finaliser): a slot torn
/// between an old and a new mark does not check out.
Token check_of(Token mark) {
  Token z = mark + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::runtime_error system_failure(const std::string& what, const std::filesystem::path& path) {
  return std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

void fsync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw system_failure("cannot open to sync", path);
  const int result = ::fsync(fd);
  ::close(fd);
  if (result != 0) throw system_failure("cannot sync", path);
}

/// Writes all of `text` at `offset`; false on failure (errno says why).
bool write_at(int fd, std::string_view text, off_t offset) {
  while (!text.empty()) {
    const ssize_t written = ::pwrite(fd, text.data(), text.size(), offset);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(written));
    offset += written;
  }
  return true;
}

/// A plain decimal number with optional white space around it: the old one-mark format.
std::optional<Token> parse_plain_number(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return std::nullopt;
  text = text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  Token mark = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), mark);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return mark;
}

}  // namespace

TokenGenerator::Token TokenGenerator::wall_clock_microseconds() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<Token>(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

std::string TokenGenerator::format_slot(Token mark) { return fmt::format("{:020} {:016x}\n", mark, check_of(mark)); }

std::optional<TokenGenerator::Token> TokenGenerator::parse_slot(std::string_view slot) {
  if (slot.size() != slot_size || slot[20] != ' ' || slot[37] != '\n') return std::nullopt;
  Token mark = 0;
  Token check = 0;
  const auto digits = slot.substr(0, 20);
  const auto hex = slot.substr(21, 16);
  const auto [mark_end, mark_error] = std::from_chars(digits.data(), digits.data() + digits.size(), mark);
  const auto [check_end, check_error] = std::from_chars(hex.data(), hex.data() + hex.size(), check, 16);
  if (mark_error != std::errc{} || mark_end != digits.data() + digits.size() || check_error != std::errc{} ||
      check_end != hex.data() + hex.size() || check != check_of(mark)) {
    return std::nullopt;
  }
  return mark;
}

TokenGenerator::TokenGenerator(std::filesystem::path state_file, Clock clock)
    : state_file_(std::move(state_file)), clock_(std::move(clock)) {
  if (state_file_.empty()) return;
  // The temporary exists only while a new file is being written: one left behind by a
  // crash or a full disk is never the mark, so it goes.
  std::error_code ignored;
  std::filesystem::remove(std::filesystem::path(state_file_).concat(".tmp"), ignored);
  read_state();
  // Reserve a block now, so that the first grants write nothing. If that fails (a full
  // disk), the server still starts: connection locks need no disk. See next().
  try_persist(std::max(persisted_, clock_()) + reservation_block);
}

TokenGenerator::~TokenGenerator() {
  if (fd_ >= 0) ::close(fd_);
}

void TokenGenerator::read_state() {
  std::ifstream in(state_file_, std::ios::binary);
  if (!in) {
    if (std::filesystem::exists(state_file_)) throw std::runtime_error("cannot read " + state_file_.string());
    return;  // a fresh state directory
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (text.size() == 2 * slot_size) {
    const auto first = parse_slot(std::string_view(text).substr(0, slot_size));
    const auto second = parse_slot(std::string_view(text).substr(slot_size));
    if (!first && !second) throw std::runtime_error("unreadable fencing token state in " + state_file_.string());
    // One torn slot: the other holds the mark from before the interrupted write.
    slots_ = {first.value_or(0), second.value_or(0)};
    last_ = persisted_ = std::max(slots_[0], slots_[1]);
    check_mark();
    fd_ = ::open(state_file_.c_str(), O_RDWR | O_CLOEXEC);  // -1: the next write replaces the file
    return;
  }
  const auto mark = parse_plain_number(text);
  if (!mark) throw std::runtime_error("unreadable fencing token state in " + state_file_.string());
  last_ = persisted_ = *mark;  // the old format: replaced by two slots at the first write
  check_mark();
}

void TokenGenerator::check_mark() const {
  if (persisted_ > max_mark) {
    throw std::runtime_error("fencing token state in " + state_file_.string() + " holds " + std::to_string(persisted_) +
                             ", beyond any mark this server writes (" + std::to_string(max_mark) + ")");
  }
}

TokenGenerator::Token TokenGenerator::next() {
  last_ = std::max(last_ + 1, clock_());
  // Why tokens never go backwards, even when this write fails:
  // - the persisted mark only ever rises, and is on disk before any token above it is
  //   handed out whenever the write succeeds; a failed write leaves the previous mark in
  //   place (the other slot, or the old file, since a new file replaces it only by a
  //   rename once it is complete and synced), and that mark is still above every token
  //   any earlier server handed out, so a restarted server still starts above them;
  // - while the write keeps failing (a full disk on a filesystem that cannot overwrite in
  //   place, or the first write of a new or old-format file), tokens above the mark are
  //   still above the wall clock of the moment, so a server started after a crash (above
  //   the old mark and its own clock) stays above them unless the clock is stepped back:
  //   the guarantee of a server without --state-dir, for as long as the disk is full. The
  //   write is retried once per retry_interval, and the full guarantee is back when it
  //   succeeds.
  if (!state_file_.empty() && last_ > persisted_) try_persist(last_ + reservation_block);
  return last_;
}

void TokenGenerator::raise_above(Token token) {
  if (token <= last_) return;
  last_ = token;
  if (!state_file_.empty() && last_ > persisted_) try_persist(last_ + reservation_block);
}

bool TokenGenerator::try_persist(Token mark) {
  if (retry_at_ != 0 && clock_() < retry_at_) return false;
  try {
    persist(mark);
    retry_at_ = 0;
    return true;
  } catch (const std::exception& e) {
    spdlog::error("cannot persist the fencing token mark: {}; tokens rise with the clock until it can be written",
                  e.what());
    retry_at_ = std::max<Token>(clock_() + retry_interval, 1);
    return false;
  }
}

void TokenGenerator::persist(Token mark) {
  if (fd_ < 0) return replace_file(mark);
  // Overwrite the slot with the lower mark: the other keeps the higher one meanwhile.
  const std::size_t slot = slots_[0] <= slots_[1] ? 0 : 1;
  slots_[slot] = 0;  // unknown until the write is synced
  const std::string text = format_slot(mark);
  if (!write_at(fd_, text, static_cast<off_t>(slot * slot_size))) throw system_failure("cannot write", state_file_);
  if (::fdatasync(fd_) != 0) throw system_failure("cannot sync", state_file_);
  slots_[slot] = mark;
  persisted_ = mark;
}

void TokenGenerator::replace_file(Token mark) {
  const auto temporary = std::filesystem::path(state_file_).concat(".tmp");
  const std::string text = format_slot(mark) + format_slot(mark);
  // Never leaves the temporary behind: a partial one would only confuse whoever looks.
  const auto fail = [&temporary](const char* what) {
    const auto error = system_failure(what, temporary);
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return error;
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw fail("cannot create");
  const bool written = write_at(fd, text, 0) && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  errno = saved_errno;
  if (!written) throw fail("cannot write");
  if (::rename(temporary.c_str(), state_file_.c_str()) != 0) throw fail("cannot rename");
  // The rename is durable only once the directory is synced.
  fsync_path(state_file_.parent_path().empty() ? "." : state_file_.parent_path(), O_RDONLY | O_DIRECTORY);
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(state_file_.c_str(), O_RDWR | O_CLOEXEC);  // -1: the next write replaces the file again
  slots_ = {mark, mark};
  persisted_ = mark;
}

}  // namespace tnl
