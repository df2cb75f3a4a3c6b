#include "protocol_answers.hpp"

#include <charconv>
#include <system_error>

// No fmt here (see protocol_requests.cpp): std::to_chars for the numbers.
namespace tnl {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

void append_token(std::string& out, FencingToken token) {
  char digits[24];
  const auto [end, error] = std::to_chars(digits, digits + sizeof digits, token);
  (void)error;  // 20 digits at most: always fits
  out.append(digits, end);
}

/// A whole unsigned decimal number, nothing else (no sign, no white space, not empty).
std::optional<FencingToken> parse_token(std::string_view digits) {
  FencingToken token = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), token);
  if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return token;
}

/// What follows `prefix` in `line` (stripped), or nullopt when the line does not start with it.
std::optional<std::string_view> after_prefix(std::string_view line, std::string_view prefix) {
  line = strip(line);
  if (!starts_with(line, prefix)) return std::nullopt;
  return line.substr(prefix.size());
}

}  // namespace

std::string format_lock_grant(std::optional<FencingToken> token) {
  if (!token) return std::string{answer::ok};
  std::string line{answer::ok_token_prefix};
  append_token(line, *token);
  return line;
}

std::optional<LockResult> parse_lock_grant(std::string_view answer) {
  answer = strip(answer);
  if (answer == answer::ok) return LockResult{true, std::nullopt};
  const auto digits = after_prefix(answer, answer::ok_token_prefix);
  if (!digits) return std::nullopt;
  const auto token = parse_token(*digits);
  if (!token) return std::nullopt;
  return LockResult{true, token};
}

std::string format_detached_grant(const LockId& id, std::optional<FencingToken> token) {
  std::string line{answer::ok_id_prefix};
  id.append_to(line);
  if (token) {
    line.append(",").append(param::token).append(":");
    append_token(line, *token);
  }
  return line;
}

std::optional<DetachedGrant> parse_detached_grant(std::string_view answer) {
  answer = strip(answer);
  if (!starts_with(answer, answer::ok_id_prefix)) return std::nullopt;
  const auto parsed = parse_request(answer);
  if (!parsed || parsed->action != answer::ok) return std::nullopt;
  DetachedGrant grant;
  const auto id = parsed->param(param::id);
  if (!id || !is_lock_id(*id)) return std::nullopt;
  grant.id = std::string{*id};
  if (const auto token_text = parsed->param(param::token)) {
    const auto token = parse_token(*token_text);
    if (!token) return std::nullopt;
    grant.token = token;
  }
  return grant;
}

std::string format_lost(std::string_view reason) {
  std::string line{answer::lost_prefix};
  line.append(reason);
  return line;
}

std::optional<std::string_view> parse_lost(std::string_view line) { return after_prefix(line, answer::lost_prefix); }

std::string format_stats_answer(std::string_view json) {
  std::string line{answer::stats_prefix};
  line.append(json);
  return line;
}

std::optional<std::string_view> parse_stats_answer(std::string_view line) {
  return after_prefix(line, answer::stats_prefix);
}

std::string format_locks_answer(std::string_view json) {
  std::string line{answer::locks_prefix};
  line.append(json);
  return line;
}

std::optional<std::string_view> parse_locks_answer(std::string_view line) {
  return after_prefix(line, answer::locks_prefix);
}

bool is_error_answer(std::string_view line) { return starts_with(line, answer::error_prefix); }

}  // namespace tnl
