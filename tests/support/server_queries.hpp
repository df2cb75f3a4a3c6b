// One-shot JSON queries to a running server (`.stats`, `.locks`), for tests.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "line_client.hpp"

namespace tnl::test {

/// Sends `request` on a fresh connection and parses the JSON after `prefix` in the answer.
inline nlohmann::json query_json(std::uint16_t port, const std::string& request, const std::string& prefix) {
  LineClient client(port);
  const auto line = client.request(request);
  REQUIRE(line);
  REQUIRE(line->rfind(prefix, 0) == 0);
  return nlohmann::json::parse(line->substr(prefix.size()));
}

/// The server's `.stats` object.
inline nlohmann::json stats(std::uint16_t port) { return query_json(port, ".stats", "stats,"); }

}  // namespace tnl::test
