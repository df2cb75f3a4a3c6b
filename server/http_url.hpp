// The request target of an HTTP request: its path and query, percent-decoded. No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tnl {

/// A request target in origin form ("/path?query"), decoded.
struct HttpTarget {
  std::string path;  ///< percent-decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded, in order
};

/// `text` with every %XX replaced by its byte, and '+' by a space when `plus_is_space`
/// (query strings, as browsers encode forms); nullopt when a '%' is not followed by two
/// hex digits.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false);

/// Splits "a=1&b=2" (';' separates too, as RESTinio's JavaScript-compatible parser allowed)
/// into decoded pairs; a parameter without '=' has an empty value, empty parameters are
/// skipped. nullopt when any part has a broken escape.
[[nodiscard]] std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view text);

/// Decodes "/path?query#fragment"; nullopt when it is not in origin form (no leading '/'),
/// has a broken escape, or an encoded '/' in its path.
[[nodiscard]] std::optional<HttpTarget> parse_target(std::string_view target);

}  // namespace tnl
