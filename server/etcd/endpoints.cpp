#include "endpoints.hpp"

#include <algorithm>
#include <stdexcept>

namespace tnl::etcd {

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.substr(0, prefix.size()) == prefix;
}

std::invalid_argument bad(std::string_view item, const std::string& why) {
  return std::invalid_argument("bad etcd endpoint '" + std::string(item) + "': " + why);
}

/// "host:port" from one item, or throws.
std::string parse_one(std::string_view item) {
  std::string_view rest = item;
  if (starts_with(rest, "https://")) {
    throw bad(item, "https is not supported yet (no TLS to etcd); use http:// on a trusted network");
  }
  if (starts_with(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    throw bad(item, "only http://host:port or host:port");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@ \t") != std::string_view::npos) throw bad(item, "expected host:port, nothing more");
  std::string_view host;
  std::string_view port;
  if (starts_with(rest, "[")) {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      throw bad(item, "expected [address]:port");
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) throw bad(item, "no port (host:port, e.g. 127.0.0.1:2379)");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) throw bad(item, "an IPv6 address goes in brackets: [address]:port");
  }
  if (host.empty()) throw bad(item, "no host");
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw bad(item, "the port must be a number from 1 to 65535");
  }
  const int number = std::stoi(std::string(port));
  if (number < 1 || number > 65535) throw bad(item, "the port must be a number from 1 to 65535");
  return std::string(rest.substr(0, rest.size() - port.size())) + std::to_string(number);
}

}  // namespace

std::vector<std::string> parse_endpoints(std::string_view list) {
  std::vector<std::string> endpoints;
  if (trim(list).empty()) throw std::invalid_argument("no etcd endpoint given (expected http://host:port[,...])");
  std::size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    const auto item = trim(list.substr(start, end - start));
    if (item.empty()) throw std::invalid_argument("empty item in the etcd endpoint list '" + std::string(list) + "'");
    auto endpoint = parse_one(item);
    if (std::find(endpoints.begin(), endpoints.end(), endpoint) == endpoints.end()) endpoints.push_back(std::move(endpoint));
    start = end + 1;
  }
  return endpoints;
}

}  // namespace tnl::etcd
