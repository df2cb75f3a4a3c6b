#include "detached.hpp"

#include <fmt/format.h>

#include <charconv>

#include "lock_options.hpp"
#include "protocol.hpp"

namespace tnl {

namespace {
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
}  // namespace

bool is_lock_id(std::string_view text) {
  // 8-4-4-4-12 hexadecimal digits.
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? text[i] != '-' : !is_hex(text[i])) return false;
  }
  return true;
}

std::optional<Ttl> parse_ttl(std::string_view text) {
  // The server's own rule (common/lock_options), so that the client refuses exactly what
  // the server would.
  Ttl ttl;
  if (!parse_ttl_seconds(text, ttl.seconds)) return std::nullopt;
  return ttl;
}

std::string format_protocol_seconds(std::optional<double> seconds) {
  if (!seconds) return "inf";
  std::string text = fmt::format("{:.3f}", *seconds);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text;
}

std::optional<DetachedGrant> parse_detached_grant(std::string_view answer) {
  answer = strip(answer);
  if (answer.compare(0, answer::ok_id_prefix.size(), answer::ok_id_prefix) != 0) return std::nullopt;
  const auto parsed = parse_request(answer);
  if (!parsed || parsed->action != answer::ok) return std::nullopt;
  DetachedGrant grant;
  const auto id = parsed->param(param::id);
  if (!id || !is_lock_id(*id)) return std::nullopt;
  grant.id = std::string{*id};
  if (const auto token = parsed->param(param::token)) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(token->data(), token->data() + token->size(), value);
    if (token->empty() || error != std::errc{} || end != token->data() + token->size()) return std::nullopt;
    grant.token = value;
  }
  return grant;
}

}  // namespace tnl
