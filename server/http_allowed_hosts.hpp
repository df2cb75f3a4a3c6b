// Which names the HTTP API answers to: the defence against DNS rebinding.
//
// A page on evil.example whose name the attacker re-points at 127.0.0.1 talks to us as its
// own origin: the browser then lets it read our answers and send any request. What still
// names the attacker is the Host header, so a request whose Host is not one of ours is
// refused (421, as etcd does). IP literals are always ours (rebinding needs a name), and so
// is `localhost` (browsers resolve it to loopback themselves); other names must be listed.
// No I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tnl {

class HttpAllowedHosts {
 public:
  /// `names`: host names (without port) accepted besides IP literals and `localhost`;
  /// "*" accepts any Host. Compared case-insensitively, a trailing dot ignored.
  explicit HttpAllowedHosts(std::vector<std::string> names = {});

  /// Whether a request with this Host header value ("name", "name:port", "1.2.3.4:80",
  /// "[::1]:7655") is for us.
  [[nodiscard]] bool allows(std::string_view host_header) const;
  /// Whether any Host is accepted.
  [[nodiscard]] bool any() const { return any_; }

  /// The host part of a Host header value (brackets kept for IPv6), or empty when malformed
  /// (bad port, stray characters).
  [[nodiscard]] static std::string host_part(std::string_view host_header);

 private:
  std::vector<std::string> names_;  ///< lower-case, no trailing dot
  bool any_ = false;
};

}  // namespace tnl
