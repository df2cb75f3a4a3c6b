#include "http_request_gate.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "http_url.hpp"

namespace tnl {

namespace {

HttpResponse error(int status, std::string_view message) {
  return HttpResponse{status, "application/json", nlohmann::json{{"error", message}}.dump(), {}};
}

/// The header's value, if sent.
std::optional<std::string> take_header(HttpMessage& message, std::string_view name) {
  for (auto& [key, value] : message.headers) {
    if (key == name) return std::move(value);
  }
  return std::nullopt;
}

}  // namespace

HttpRequestGate::HttpRequestGate(HttpApi& api, HttpAllowedHosts hosts) : api_(api), hosts_(std::move(hosts)) {}

void HttpRequestGate::handle(HttpMessage message, const std::string& peer, HttpApi::Respond respond) {
  HttpRequest request;
  request.host = take_header(message, "host");
  // RFC 9112, 3.2: an HTTP/1.1 request without Host is answered 400.
  if (!request.host && message.version_minor >= 1) return respond(error(400, "missing Host header"));
  if (request.host && !hosts_.allows(*request.host)) {
    spdlog::warn("HTTP {} from {}: refused, Host '{}' is not a name of this server (see --http-allowed-host)",
                 message.method, peer, *request.host);
    return respond(error(421, "misdirected request: Host is not a name of this server"));
  }
  auto target = parse_target(message.target);
  if (!target) return respond(error(400, "malformed URL"));
  request.method = std::move(message.method);
  request.path = std::move(target->path);
  request.query = std::move(target->query);
  request.authorization = take_header(message, "authorization").value_or("");
  request.body = std::move(message.body);
  request.peer = peer;
  request.origin = take_header(message, "origin");
  request.sec_fetch_site = take_header(message, "sec-fetch-site");
  request.content_type = take_header(message, "content-type");
  api_.handle(request, std::move(respond));
}

}  // namespace tnl
