#include "lock_id.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace tnl {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

/// Value of one hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Positions of the dashes in the canonical form.
bool is_dash_position(std::size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

constexpr std::size_t canonical_length = 36;

}  // namespace

std::string LockId::str() const {
  std::string text;
  text.reserve(canonical_length);
  append_to(text);
  return text;
}

void LockId::append_to(std::string& text) const {
  int bit = 124;
  for (std::size_t i = 0; i < canonical_length; ++i) {
    if (is_dash_position(i)) {
      text.push_back('-');
      continue;
    }
    const std::uint64_t half = bit >= 64 ? high : low;
    text.push_back(hex_digits[(half >> (bit % 64)) & 0xf]);
    bit -= 4;
  }
}

std::optional<LockId> LockId::parse(std::string_view text) {
  if (text.size() != canonical_length) return std::nullopt;
  LockId id;
  for (std::size_t i = 0; i < canonical_length; ++i) {
    if (is_dash_position(i)) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    const int value = hex_value(text[i]);
    if (value < 0) return std::nullopt;
    id.high = (id.high << 4) | (id.low >> 60);
    id.low = (id.low << 4) | static_cast<std::uint64_t>(value);
  }
  return id;
}

bool is_lock_id(std::string_view text) { return LockId::parse(text).has_value(); }

void fill_random(void* out, std::size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    // Blocks only until the kernel's pool is first initialised, early at boot.
    const ssize_t got = ::getrandom(bytes, size, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    bytes += got;
    size -= static_cast<std::size_t>(got);
  }
}

std::uint64_t LockIdGenerator::random64() {
  if (used_ == batch_.size()) {
    fill_random(batch_.data(), sizeof batch_);
    used_ = 0;
  }
  const std::uint64_t value = batch_[used_];
  batch_[used_++] = 0;  // handed out once: not kept where a later bug could show it again
  return value;
}

LockId LockIdGenerator::next() {
  LockId id{random64(), random64()};
  id.high = (id.high & ~0xf000ULL) | 0x4000ULL;          // version 4
  id.low = (id.low & ~(0x3ULL << 62)) | (0x2ULL << 62);  // variant 10
  return id;
}

LockId LockIdGenerator::for_owner(std::uint64_t owner) {
  LockId id{random64(), owner & LockId::owner_mask};
  id.high = (id.high & ~0xf000ULL) | 0x8000ULL;  // version 8
  id.low |= 0x2ULL << 62;                        // variant 10
  return id;
}

}  // namespace tnl
