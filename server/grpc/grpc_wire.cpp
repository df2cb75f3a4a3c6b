#include "grpc_wire.hpp"

#include <limits>
#include <utility>

namespace tnl::grpc_wire {

std::optional<std::chrono::nanoseconds> parse_timeout(std::string_view text) {
  // "TimeoutValue: positive integer as ASCII string of at most 8 digits", then the unit.
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  using namespace std::chrono;
  std::int64_t unit_ns = 0;
  switch (text.back()) {
    case 'H': unit_ns = 3'600'000'000'000; break;
    case 'M': unit_ns = 60'000'000'000; break;
    case 'S': unit_ns = 1'000'000'000; break;
    case 'm': unit_ns = 1'000'000; break;
    case 'u': unit_ns = 1'000; break;
    case 'n': unit_ns = 1; break;
    default: return std::nullopt;
  }
  constexpr auto most = std::numeric_limits<std::int64_t>::max();
  if (value > most / unit_ns) return nanoseconds(most);
  return nanoseconds(value * unit_ns);
}

std::string percent_encode(std::string_view message) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0x0f]);
    }
  }
  return out;
}

std::string frame(std::string_view message) {
  std::string out;
  out.reserve(5 + message.size());
  const auto size = static_cast<std::uint32_t>(message.size());
  out.push_back('\0');
  out.push_back(static_cast<char>(size >> 24));
  out.push_back(static_cast<char>((size >> 16) & 0xff));
  out.push_back(static_cast<char>((size >> 8) & 0xff));
  out.push_back(static_cast<char>(size & 0xff));
  out.append(message);
  return out;
}

MessageReader::Status MessageReader::next(std::string& message) {
  if (buffer_.size() < 5) return Status::incomplete;
  const auto byte = [this](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(buffer_[i])); };
  if (byte(0) != 0) return Status::compressed;
  const std::uint32_t size = (byte(1) << 24) | (byte(2) << 16) | (byte(3) << 8) | byte(4);
  if (size > max_) return Status::too_large;
  if (buffer_.size() < 5 + static_cast<std::size_t>(size)) return Status::incomplete;
  if (buffer_.size() == 5 + static_cast<std::size_t>(size)) {
    // The usual case, one message and nothing after it: its bytes move, not copied.
    message = std::move(buffer_);
    message.erase(0, 5);
    buffer_.clear();
    return Status::message;
  }
  message.assign(buffer_, 5, size);
  buffer_.erase(0, 5 + static_cast<std::size_t>(size));
  return Status::message;
}

}  // namespace tnl::grpc_wire
