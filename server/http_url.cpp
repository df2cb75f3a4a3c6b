#include "http_url.hpp"

#include <algorithm>

namespace tnl {

namespace {

/// The value of hex digit `c`, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      decoded.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      decoded.push_back(' ');
    } else {
      decoded.push_back(c);
    }
  }
  return decoded;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!text.empty()) {
    const auto end = text.find_first_of("&;");
    const std::string_view part = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (part.empty()) continue;
    const auto equals = part.find('=');
    auto key = percent_decode(part.substr(0, equals), true);
    auto value = percent_decode(equals == std::string_view::npos ? std::string_view{} : part.substr(equals + 1), true);
    if (!key || !value) return std::nullopt;
    pairs.emplace_back(std::move(*key), std::move(*value));
  }
  return pairs;
}

std::optional<HttpTarget> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  target = target.substr(0, target.find('#'));  // never sent by browsers; ignored if it is
  const auto question = target.find('?');
  auto path = percent_decode(target.substr(0, question));
  // An encoded '/' decoded here would split a segment that a proxy in front saw whole.
  if (!path || std::count(path->begin(), path->end(), '/') !=
                   std::count(target.begin(), target.begin() + std::min(question, target.size()), '/')) {
    return std::nullopt;
  }
  HttpTarget decoded{std::move(*path), {}};
  if (question != std::string_view::npos) {
    auto query = parse_query(target.substr(question + 1));
    if (!query) return std::nullopt;
    decoded.query = std::move(*query);
  }
  return decoded;
}

}  // namespace tnl
