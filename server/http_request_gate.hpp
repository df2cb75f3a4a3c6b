// What every HTTP request passes before HttpApi: a Host that names this server (the DNS
// rebinding defence, see HttpAllowedHosts) and a target that decodes. Turns the message off
// the wire into HttpApi's request. No I/O.
#pragma once

#include <string>

#include "http_allowed_hosts.hpp"
#include "http_api.hpp"
#include "http_request_parser.hpp"

namespace tnl {

class HttpRequestGate {
 public:
  HttpRequestGate(HttpApi& api, HttpAllowedHosts hosts);

  /// Answers `message` from `peer` ("address:port") through `respond`, exactly once: 400
  /// without a Host (HTTP/1.1) or with a target that is not a decodable path, 421 with a
  /// Host that is not ours (these at once), otherwise HttpApi's (at once or later).
  void handle(HttpMessage message, const std::string& peer, HttpApi::Respond respond);

 private:
  HttpApi& api_;
  const HttpAllowedHosts hosts_;
};

}  // namespace tnl
