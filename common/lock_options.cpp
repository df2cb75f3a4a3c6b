#include "lock_options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "protocol_requests.hpp"

namespace tnl {

namespace {

/// Longest wait accepted as a number (a year); longer ones should say `inf`.
constexpr double max_wait_seconds = 365.0 * 24 * 3600;

bool parse_flag(std::string_view text, bool& flag) {
  if (text == "1" || text == "true" || text == "yes") return flag = true, true;
  if (text == "0" || text == "false" || text == "no") return flag = false, true;
  return false;
}

}  // namespace

bool is_valid_reason(std::string_view text) {
  // No control bytes, so that it cannot break a log line or the protocol.
  return text.size() <= max_reason_length && std::none_of(text.begin(), text.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7f;
         });
}

bool parse_ttl_seconds(std::string_view text, std::optional<double>& seconds) {
  std::optional<double> value;
  if (!parse_wait_seconds(text, value)) return false;
  if (value && !is_valid_ttl_seconds(*value)) return false;
  seconds = value;
  return true;
}

std::string ttl_rule_text() {
  return "a number of seconds >= " + format_protocol_seconds(min_ttl_seconds) + " and <= " +
         format_protocol_seconds(max_ttl_seconds);
}

std::string reason_rule_text() {
  return "a string of at most " + std::to_string(max_reason_length) + " printable bytes";
}

bool is_valid_ttl_seconds(double seconds) { return seconds >= min_ttl_seconds && seconds <= max_ttl_seconds; }

bool parse_wait_seconds(std::string_view text, std::optional<double>& seconds) {
  if (text == "inf") {
    seconds.reset();
    return true;
  }
  // Digits and at most one '.', nothing else: no signs, exponents, "nan" or hex.
  if (text.empty() || text.size() > 32 || std::count(text.begin(), text.end(), '.') > 1 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }) ||
      text == ".") {
    return false;
  }
  const double value = std::strtod(std::string{text}.c_str(), nullptr);
  if (!std::isfinite(value) || value > max_wait_seconds) return false;
  seconds = value;
  return true;
}

std::variant<LockOptions, std::string_view> parse_lock_options(const Request& request) {
  LockOptions options;
  const auto name = request.param(param::name);
  if (!name || !is_valid_lock_name(*name)) return answer::invalid_lock_name;
  options.name = *name;

  if (const auto client_id = request.param(param::client_id)) {
    if (!is_valid_client_id(*client_id)) return answer::invalid_client_id;
    options.client_id = *client_id;
  }
  if (const auto wait = request.param(param::wait)) {
    if (!parse_wait_seconds(*wait, options.wait_seconds)) return answer::invalid_wait;
  }
  if (const auto fencing = request.param(param::fencing)) {
    if (!parse_flag(*fencing, options.fencing)) return answer::invalid_fencing;
  }
  if (const auto limit = request.param(param::limit)) {
    std::size_t value = 0;
    const auto [end, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc{} || end != limit->data() + limit->size() || value < 1 || value > max_lock_limit) {
      return answer::invalid_limit;
    }
    options.limit = value;
  }
  if (const auto reason = request.param(param::reason)) {
    if (!is_valid_reason(*reason)) return answer::invalid_reason;
    options.reason = *reason;
  }
  if (const auto ttl = request.param(param::ttl)) {
    if (!parse_ttl_seconds(*ttl, options.ttl_seconds)) return answer::invalid_ttl;
    options.detached = true;
  }
  return options;
}

}  // namespace tnl
