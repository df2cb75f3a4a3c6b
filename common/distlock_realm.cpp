#include "distlock_realm.hpp"

namespace tnl::distlock {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not what encode_prefix() writes: one text per prefix
}

}  // namespace

std::string encode_prefix(std::string_view prefix) {
  std::string encoded;
  encoded.reserve(prefix.size() + 8);
  for (const char c : prefix) {
    if (is_alnum(c)) {
      encoded.push_back(c);
    } else if (c == '/') {
      encoded += "__";
    } else {
      const auto byte = static_cast<unsigned char>(c);
      encoded.push_back('_');
      encoded.push_back(hex_digits[byte >> 4]);
      encoded.push_back(hex_digits[byte & 0xf]);
    }
  }
  return encoded;
}

std::optional<std::string> decode_prefix(std::string_view encoded) {
  std::string prefix;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (is_alnum(c)) {
      prefix.push_back(c);
      continue;
    }
    if (c != '_' || i + 1 >= encoded.size()) return std::nullopt;
    if (encoded[i + 1] == '_') {
      prefix.push_back('/');
      ++i;
      continue;
    }
    if (i + 2 >= encoded.size()) return std::nullopt;
    const int high = hex_value(encoded[i + 1]);
    const int low = hex_value(encoded[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    const auto byte = static_cast<char>(high * 16 + low);
    // Bytes that encode_prefix() keeps as they are, or writes as "__", never come as hex.
    if (is_alnum(byte) || byte == '/') return std::nullopt;
    prefix.push_back(byte);
    i += 2;
  }
  return prefix;
}

std::string realm_lock_name(std::string_view prefix, std::string_view name) {
  return encode_prefix(prefix) + "-" + std::string{name};
}

std::optional<std::string> name_in_realm(std::string_view prefix, std::string_view lock_name) {
  const std::string head = encode_prefix(prefix) + "-";
  if (lock_name.size() <= head.size() || lock_name.compare(0, head.size(), head) != 0) return std::nullopt;
  return std::string{lock_name.substr(head.size())};
}

}  // namespace tnl::distlock
