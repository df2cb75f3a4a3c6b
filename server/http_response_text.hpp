// An HttpResponse as the bytes sent on the wire: status line, headers, body. No I/O.
#pragma once

#include <string>
#include <string_view>

#include "http_api.hpp"

namespace tnl {

/// How the response goes out, beyond what HttpApi decided.
struct HttpFraming {
  bool head = false;        ///< answering HEAD: the headers of the GET (its Content-Length too), no body
  bool keep_alive = true;   ///< the connection stays open for another request
  unsigned version_minor = 1;  ///< the request's HTTP/1.x: an HTTP/1.0 client is told keep-alive explicitly
};

/// The reason phrase of `status` ("OK", "Not Found", ...).
[[nodiscard]] std::string_view http_reason_phrase(int status);

/// The whole response: "HTTP/1.1 STATUS REASON", Content-Type, the response's own headers,
/// Content-Length, Connection, then the body unless `framing.head`.
[[nodiscard]] std::string http_response_text(const HttpResponse& response, const HttpFraming& framing);

}  // namespace tnl
