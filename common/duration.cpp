#include "duration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "protocol.hpp"

namespace tnl {

namespace {

/// Longest text taken: far more than any real duration needs, and short enough that no
/// number in it can overflow a double.
constexpr std::size_t max_duration_length = 64;

struct Unit {
  std::string_view name;
  double seconds;
};
/// Largest first: pieces must come in this order.
constexpr Unit units[] = {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}, {"ms", 0.001}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Reads digits with at most one '.' (and at least one digit) at `pos`; nullopt if none.
std::optional<double> read_number(std::string_view text, std::size_t& pos) {
  const std::size_t start = pos;
  bool dot = false;
  bool digit = false;
  for (; pos < text.size(); ++pos) {
    if (is_digit(text[pos])) {
      digit = true;
    } else if (text[pos] == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digit) return std::nullopt;
  return std::strtod(std::string(text.substr(start, pos - start)).c_str(), nullptr);
}

}  // namespace

std::optional<double> parse_duration(std::string_view text, bool allow_infinite) {
  text = strip(text);
  if (text.empty() || text.size() > max_duration_length) return std::nullopt;
  if (text == "inf") {
    if (!allow_infinite) return std::nullopt;
    return std::numeric_limits<double>::infinity();
  }
  std::size_t pos = 0;
  const auto first = read_number(text, pos);
  if (!first) return std::nullopt;
  if (pos == text.size()) return first;  // plain seconds

  double total = 0;
  std::size_t next_unit = 0;  // index in units of the largest unit still allowed
  std::optional<double> number = first;
  while (true) {
    const std::size_t unit_start = pos;
    while (pos < text.size() && text[pos] >= 'a' && text[pos] <= 'z') ++pos;
    const std::string_view name = text.substr(unit_start, pos - unit_start);
    std::size_t index = next_unit;
    while (index < std::size(units) && units[index].name != name) ++index;
    if (index == std::size(units)) return std::nullopt;  // unknown, repeated or out of order
    total += *number * units[index].seconds;
    next_unit = index + 1;
    if (pos == text.size()) break;
    number = read_number(text, pos);
    if (!number || pos == text.size()) return std::nullopt;  // "1h-5m", or "1m30" without a unit
  }
  if (!std::isfinite(total)) return std::nullopt;
  return total;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "inf";
  const auto millis = static_cast<std::int64_t>(std::llround(std::min(seconds, 1e15) * 1000));
  if (millis == 0) return "0s";
  if (millis % 1000 != 0) {
    if (millis < 1000) return std::to_string(millis) + "ms";
    std::string text = std::to_string(millis / 1000) + "." + std::to_string(1000 + millis % 1000).substr(1);
    text.erase(text.find_last_not_of('0') + 1);
    return text + "s";
  }
  std::int64_t rest = millis / 1000;
  std::string text;
  for (const Unit& unit : units) {
    const auto size = static_cast<std::int64_t>(unit.seconds);
    if (size < 1) break;
    if (rest >= size) {
      text += std::to_string(rest / size) + std::string(unit.name);
      rest %= size;
    }
  }
  return text;
}

}  // namespace tnl
