#include "localhost_name.hpp"

#include <asio/ip/address_v4.hpp>
#include <asio/ip/address_v6.hpp>

#include <cctype>

namespace tnl {

namespace {
/// ASCII case-insensitive equality (DNS names compare without case).
bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}
}  // namespace

bool is_localhost_name(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // the root label
  constexpr std::string_view label = "localhost";
  if (host.size() < label.size()) return false;
  if (!equal_ignoring_case(host.substr(host.size() - label.size()), label)) return false;
  if (host.size() == label.size()) return true;
  // A name under localhost: "x.localhost", not "notlocalhost" nor ".localhost".
  const auto prefix = host.substr(0, host.size() - label.size());
  return prefix.size() > 1 && prefix.back() == '.' && prefix.find("..") == std::string_view::npos &&
         prefix.front() != '.';
}

std::vector<asio::ip::tcp::endpoint> loopback_endpoints(std::uint16_t port) {
  return {asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port),
          asio::ip::tcp::endpoint(asio::ip::address_v6::loopback(), port)};
}

}  // namespace tnl
