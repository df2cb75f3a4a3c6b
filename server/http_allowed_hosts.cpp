#include "http_allowed_hosts.hpp"

#include <asio/ip/address.hpp>

#include <algorithm>
#include <cctype>

namespace tnl {

namespace {

std::string normalized(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower;
}

bool all_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

/// A registered name or IPv4 address as RFC 3986 allows it in a Host (unreserved and
/// sub-delims, no percent-encoding: no browser sends that).
bool plain_host_char(unsigned char c) { return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

}  // namespace

HttpAllowedHosts::HttpAllowedHosts(std::vector<std::string> names) {
  for (const auto& name : names) {
    if (name == "*") {
      any_ = true;
    } else {
      names_.push_back(normalized(name));
    }
  }
}

std::string HttpAllowedHosts::host_part(std::string_view host_header) {
  std::string_view host = host_header;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return {};
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') return {};
  } else {
    const auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon);
      host = host.substr(0, colon);
    }
    if (!std::all_of(host.begin(), host.end(), plain_host_char)) return {};
  }
  if (!port.empty()) {
    port.remove_prefix(1);  // ':'
    if (port.size() > 5 || !all_digits(port)) return {};
  }
  return std::string(host);
}

bool HttpAllowedHosts::allows(std::string_view host_header) const {
  const std::string host = host_part(host_header);
  if (host.empty()) return false;
  if (any_) return true;
  std::error_code error;
  if (host.front() == '[') {
    asio::ip::make_address_v6(host.substr(1, host.size() - 2), error);
    return !error;
  }
  asio::ip::make_address_v4(host, error);
  if (!error) return true;
  const std::string name = normalized(host);
  return name == "localhost" || std::find(names_.begin(), names_.end(), name) != names_.end();
}

}  // namespace tnl
