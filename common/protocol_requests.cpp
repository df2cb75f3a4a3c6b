#include "protocol_requests.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "lock_options.hpp"

// No fmt here: tnl_common is linked into the static clients, which only have fmt's
// header-only mode, and into the server, which has the shared one.
namespace tnl {

namespace {

/// Shortest text that reads back as `value`, for messages.
std::string shortest(double value) {
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof text, value);
  return error == std::errc{} ? std::string(text, end) : std::string{"?"};
}

/// The value of a `ttl:` parameter; throws std::invalid_argument for one the server
/// would refuse.
std::string ttl_param(const Ttl& ttl) {
  if (ttl.seconds && !is_valid_ttl_seconds(*ttl.seconds)) {
    throw std::invalid_argument("invalid ttl " + shortest(*ttl.seconds) + " (" + format_protocol_seconds(min_ttl_seconds) +
                                " to " + format_protocol_seconds(max_ttl_seconds) + " seconds, or inf)");
  }
  return format_protocol_seconds(ttl.seconds);
}

void require_lock_id(std::string_view id) {
  if (!is_lock_id(id)) throw std::invalid_argument("invalid lock id '" + std::string{id} + "'");
}

}  // namespace

std::optional<Ttl> parse_ttl(std::string_view text) {
  // The server's own rule (lock_options), so that the client refuses exactly what the
  // server would.
  Ttl ttl;
  if (!parse_ttl_seconds(text, ttl.seconds)) return std::nullopt;
  return ttl;
}

std::string format_protocol_seconds(std::optional<double> seconds) {
  if (!seconds) return "inf";
  // Fixed notation whatever the size: 1e300 has 301 digits before the point.
  char buffer[400];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, *seconds, std::chars_format::fixed, 3);
  if (error != std::errc{}) return shortest(*seconds);  // not reached for a double
  std::string text(buffer, end);
  if (text.find('.') != std::string::npos) {
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
  }
  return text;
}

std::optional<std::string> check_reason(std::string_view reason) {
  if (reason.size() > max_reason_length) {
    return "reason is too long (" + std::to_string(reason.size()) + " bytes, at most " +
           std::to_string(max_reason_length) + ")";
  }
  for (const char c : reason) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return std::string("reason must not contain control characters");
    if (c == ',') return std::string("reason must not contain ',' (the protocol splits on it)");
  }
  return std::nullopt;
}

std::string format_lock_request(const LockRequest& request, std::optional<Ttl> ttl) {
  if (!is_valid_lock_name(request.name)) throw std::invalid_argument("invalid lock name '" + request.name + "'");
  if (!request.client_id.empty() && !is_valid_client_id(request.client_id)) {
    throw std::invalid_argument("invalid client id '" + request.client_id + "'");
  }
  if (const auto problem = check_reason(request.reason)) throw std::invalid_argument(*problem);
  if (request.limit < 1 || request.limit > max_lock_limit) {
    throw std::invalid_argument("invalid limit " + std::to_string(request.limit) + " (1 to " +
                                std::to_string(max_lock_limit) + ")");
  }
  if (request.wait_seconds && !(*request.wait_seconds >= 0)) {
    throw std::invalid_argument("invalid wait (a negative number of seconds)");
  }

  // Only what differs from tcpnetlock's plain request is sent, so a default request is
  // byte-identical to `lock,name:X[,client-id:ID]`.
  std::vector<std::pair<std::string_view, std::string_view>> params{{param::name, request.name}};
  const std::string ttl_text = ttl ? ttl_param(*ttl) : std::string{};
  if (ttl) params.emplace_back(param::ttl, ttl_text);
  if (!request.client_id.empty()) params.emplace_back(param::client_id, request.client_id);
  // Plain decimal (the server accepts no exponent), to the millisecond.
  const std::string wait_text = format_protocol_seconds(request.wait_seconds);
  if (!request.wait_seconds || *request.wait_seconds > 0) params.emplace_back(param::wait, wait_text);
  if (request.fencing) params.emplace_back(param::fencing, "1");
  const std::string limit_text = std::to_string(request.limit);
  if (request.limit != 1) params.emplace_back(param::limit, limit_text);
  if (!request.reason.empty()) params.emplace_back(param::reason, request.reason);
  return format_request(action::lock, params);
}

std::string format_unlock_request(std::string_view id) {
  require_lock_id(id);
  return format_request(action::unlock, {{param::id, id}});
}

std::string format_unlock_name_request(std::string_view name, std::string_view admin_token) {
  if (!is_valid_lock_name(name)) throw std::invalid_argument("invalid lock name '" + std::string{name} + "'");
  if (admin_token.empty()) return format_request(action::unlock_name, {{param::name, name}});
  const bool sendable = strip(admin_token) == admin_token &&
                        std::all_of(admin_token.begin(), admin_token.end(), [](char c) {
                          return c != ',' && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
                        });
  if (!sendable) throw std::invalid_argument("the admin token cannot be sent in a request line");
  return format_request(action::unlock_name, {{param::name, name}, {param::admin_token, admin_token}});
}

std::variant<UnlockNameRequest, std::string_view> parse_unlock_name_request(const Request& request) {
  const auto name = request.param(param::name);
  if (!name || !is_valid_lock_name(*name)) return answer::invalid_lock_name;
  UnlockNameRequest unlock{std::string{*name}, std::nullopt};
  if (const auto token = request.param(param::admin_token)) unlock.admin_token = std::string{*token};
  return unlock;
}

std::string format_renew_request(std::string_view id, Ttl ttl) {
  require_lock_id(id);
  const std::string ttl_text = ttl_param(ttl);
  return format_request(action::renew, {{param::id, id}, {param::ttl, ttl_text}});
}

std::string format_locks_request(std::optional<std::string_view> name) {
  if (!name) return format_request(action::locks);
  if (!is_valid_lock_name(*name)) throw std::invalid_argument("invalid lock name '" + std::string{*name} + "'");
  return format_request(action::locks, {{param::name, *name}});
}

std::variant<LocksRequest, std::string_view> parse_locks_request(const Request& request) {
  LocksRequest locks;
  if (const auto name = request.param(param::name)) {
    if (!is_valid_lock_name(*name)) return answer::invalid_lock_name;
    locks.name = std::string{*name};
  }
  return locks;
}

std::variant<LockId, std::string_view> parse_lock_id_param(const Request& request) {
  const auto text = request.param(param::id);
  if (!text) return answer::bad_action;
  const auto id = LockId::parse(*text);
  if (!id) return answer::invalid_lock_id;
  return *id;
}

std::variant<RenewRequest, std::string_view> parse_renew_request(const Request& request) {
  const auto id = parse_lock_id_param(request);
  if (const auto* error = std::get_if<std::string_view>(&id)) return *error;
  RenewRequest renew{std::get<LockId>(id), std::nullopt};
  const auto ttl_text = request.param(param::ttl);
  if (!ttl_text || !parse_ttl_seconds(*ttl_text, renew.ttl_seconds)) return answer::invalid_ttl;
  return renew;
}

}  // namespace tnl
