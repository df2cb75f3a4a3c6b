#include "http_response_text.hpp"

#include <http_parser.h>

namespace tnl {

std::string_view http_reason_phrase(int status) {
  // http_parser's table has every status the API and the transport use.
  const char* phrase = http_status_str(static_cast<http_status>(status));
  const std::string_view text = phrase ? phrase : "";
  return text.empty() || text == "<unknown>" ? std::string_view("Unknown") : text;
}

std::string http_response_text(const HttpResponse& response, const HttpFraming& framing) {
  std::string text;
  text.reserve(160 + response.body.size());
  text.append("HTTP/1.1 ").append(std::to_string(response.status)).append(" ");
  text.append(http_reason_phrase(response.status)).append("\r\n");
  text.append("Content-Type: ").append(response.content_type).append("\r\n");
  for (const auto& [name, value] : response.headers) text.append(name).append(": ").append(value).append("\r\n");
  text.append("Content-Length: ").append(std::to_string(response.body.size())).append("\r\n");
  if (!framing.keep_alive) {
    text.append("Connection: close\r\n");
  } else if (framing.version_minor == 0) {
    text.append("Connection: keep-alive\r\n");
  }
  text.append("\r\n");
  if (!framing.head) text.append(response.body);
  return text;
}

}  // namespace tnl
