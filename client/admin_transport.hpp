// What tcpnetlock_admin needs from HTTP: a request, and the status and body of the answer.
// HttpClient (admin_http.hpp) does it with libcurl; unit tests use a scripted fake.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace tnl::admin {

enum class HttpMethod { get, post, del };

/// The server's answer to one request, whatever its status.
struct HttpResponse {
  long status = 0;
  std::string body;
};

/// A request that got no HTTP answer at all.
class HttpError : public std::runtime_error {
 public:
  enum class Kind {
    unreachable,  ///< nothing answered: refused, unresolvable, timed out, connection dropped
    bad_url,      ///< the URL cannot be used (syntax, scheme)
    bad_answer,   ///< something answered, but not with HTTP
  };
  HttpError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

/// Sends requests to one server.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  /// Sends `method` to `target` (a path with its query, e.g. "/api/v1alpha1/stats"),
  /// with `body` as JSON when it is not empty. Throws HttpError when no HTTP answer came.
  virtual HttpResponse request(HttpMethod method, const std::string& target, const std::string& body) = 0;
};

}  // namespace tnl::admin
