// Fuzz target: the line protocol's request parser and the lock options (common/ only).
//
// The input is one request line, as the server hands it to parse_request (the bytes
// before a '\n'; the '\n' itself may appear too, as white space). Each function's answer
// is checked against what docs/PROTOCOL.md and the headers promise, mostly by an
// independent reading of the same rules, and accepted values against their ranges.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "lock_name.hpp"
#include "lock_options.hpp"
#include "protocol.hpp"

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr double one_year = 365.0 * 24 * 3600;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_stripped(std::string_view text) { return text.empty() || (!is_space(text.front()) && !is_space(text.back())); }

std::string_view reference_strip(std::string_view text) {
  const auto first = std::find_if_not(text.begin(), text.end(), is_space);
  const auto last = std::find_if_not(text.rbegin(), text.rend(), is_space).base();
  return first < last
             ? text.substr(static_cast<std::size_t>(first - text.begin()), static_cast<std::size_t>(last - first))
             : std::string_view{};
}

/// The parse that PROTOCOL.md describes, written independently of common/protocol.cpp:
/// split on every ',', the first piece is the action, each further piece splits at its
/// first ':'; strip everything; an empty action or key is a bad request.
std::optional<std::pair<std::string, Params>> reference_parse(std::string_view line) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ',') {
      pieces.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  const std::string_view action = reference_strip(pieces.front());
  if (action.empty()) return std::nullopt;
  Params params;
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    const std::size_t colon = pieces[i].find(':');
    const std::string_view key = reference_strip(pieces[i].substr(0, colon));
    if (key.empty()) return std::nullopt;
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : reference_strip(pieces[i].substr(colon + 1));
    params.emplace_back(key, value);
  }
  return std::pair{std::string{action}, std::move(params)};
}

bool reference_lock_name(std::string_view name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
}

bool reference_client_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(),
                                    [](char c) { return is_alnum(c) || c == '.' || c == '@' || c == '_' || c == '-'; });
}

bool reference_reason(std::string_view text) {
  return text.size() <= tnl::max_reason_length && std::none_of(text.begin(), text.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
         });
}

/// Digits with at most one '.', and at least one digit: the decimal numbers a wait or a TTL may be.
bool is_decimal(std::string_view text) {
  return std::any_of(text.begin(), text.end(), is_digit) && std::count(text.begin(), text.end(), '.') <= 1 &&
         std::all_of(text.begin(), text.end(), [](char c) { return is_digit(c) || c == '.'; });
}

/// parse_wait_seconds: `inf`, or a decimal number of at most a year; the value is the number's.
void check_wait(std::string_view text) {
  std::optional<double> seconds = 123.0;
  const bool accepted = tnl::parse_wait_seconds(text, seconds);
  if (accepted) {
    if (text == "inf") {
      FUZZ_CHECK(!seconds);
      return;
    }
    FUZZ_CHECK(is_decimal(text));
    FUZZ_CHECK(seconds && std::isfinite(*seconds) && *seconds >= 0 && *seconds <= one_year);
    FUZZ_CHECK(*seconds == std::strtod(std::string{text}.c_str(), nullptr));
  } else if (is_decimal(text) && text.size() <= 32) {
    // Rejected only for being too long a wait.
    FUZZ_CHECK(std::strtod(std::string{text}.c_str(), nullptr) > one_year);
  } else {
    FUZZ_CHECK(text != "inf");
  }
}

/// parse_ttl_seconds: `inf`, or a decimal number > 0 and <= max_ttl_seconds.
void check_ttl(std::string_view text) {
  std::optional<double> seconds = 123.0;
  const bool accepted = tnl::parse_ttl_seconds(text, seconds);
  if (!accepted) {
    FUZZ_CHECK(text != "inf");
    return;
  }
  if (text == "inf") {
    FUZZ_CHECK(!seconds);
    return;
  }
  FUZZ_CHECK(is_decimal(text));
  FUZZ_CHECK(seconds && std::isfinite(*seconds) && *seconds > 0 && *seconds <= tnl::max_ttl_seconds);
}

void check_lock_options(const tnl::Request& request) {
  namespace answer = tnl::answer;
  namespace param = tnl::param;
  const auto parsed = tnl::parse_lock_options(request);
  const auto name = request.param(param::name);
  const auto client_id = request.param(param::client_id);
  const auto wait = request.param(param::wait);
  const auto fencing = request.param(param::fencing);
  const auto limit = request.param(param::limit);
  const auto reason = request.param(param::reason);
  const auto ttl = request.param(param::ttl);
  std::optional<double> scratch;

  if (const auto* error = std::get_if<std::string_view>(&parsed)) {
    // Refused: with one of the documented errors, and for a reason.
    if (*error == answer::invalid_lock_name) {
      FUZZ_CHECK(!name || !reference_lock_name(*name));
    } else if (*error == answer::invalid_client_id) {
      FUZZ_CHECK(client_id && !reference_client_id(*client_id));
    } else if (*error == answer::invalid_wait) {
      FUZZ_CHECK(wait && !tnl::parse_wait_seconds(*wait, scratch));
    } else if (*error == answer::invalid_fencing) {
      FUZZ_CHECK(fencing && *fencing != "1" && *fencing != "true" && *fencing != "yes" && *fencing != "0" &&
                 *fencing != "false" && *fencing != "no");
    } else if (*error == answer::invalid_limit) {
      FUZZ_CHECK(limit.has_value());
    } else if (*error == answer::invalid_reason) {
      FUZZ_CHECK(reason && !reference_reason(*reason));
    } else if (*error == answer::invalid_ttl) {
      FUZZ_CHECK(ttl && !tnl::parse_ttl_seconds(*ttl, scratch));
    } else {
      FUZZ_CHECK(!"parse_lock_options returned an undocumented error");
    }
    return;
  }

  // Accepted: every value is within its documented range.
  const auto& options = std::get<tnl::LockOptions>(parsed);
  FUZZ_CHECK(name && options.name == *name && reference_lock_name(options.name));
  FUZZ_CHECK(client_id ? options.client_id == *client_id && reference_client_id(options.client_id)
                       : options.client_id.empty());
  if (!wait) {
    FUZZ_CHECK(options.wait_seconds && *options.wait_seconds == 0.0);
  } else if (*wait == "inf") {
    FUZZ_CHECK(!options.wait_seconds);
  } else {
    FUZZ_CHECK(options.wait_seconds && std::isfinite(*options.wait_seconds) && *options.wait_seconds >= 0 &&
               *options.wait_seconds <= one_year);
  }
  FUZZ_CHECK(options.fencing == (fencing && (*fencing == "1" || *fencing == "true" || *fencing == "yes")));
  FUZZ_CHECK(options.limit >= 1 && options.limit <= tnl::max_lock_limit);
  if (limit) {
    // A plain decimal number: no sign, no space, no leading '+'.
    FUZZ_CHECK(!limit->empty() && std::all_of(limit->begin(), limit->end(), is_digit));
    FUZZ_CHECK(options.limit == std::strtoull(std::string(*limit).c_str(), nullptr, 10));
  } else {
    FUZZ_CHECK(options.limit == 1);
  }
  FUZZ_CHECK(reason ? options.reason == *reason : options.reason.empty());
  FUZZ_CHECK(reference_reason(options.reason));
  FUZZ_CHECK(options.detached == ttl.has_value());
  if (ttl && *ttl != "inf") {
    FUZZ_CHECK(options.ttl_seconds && std::isfinite(*options.ttl_seconds) && *options.ttl_seconds > 0 &&
               *options.ttl_seconds <= tnl::max_ttl_seconds);
  } else {
    FUZZ_CHECK(!options.ttl_seconds);
  }
}

/// The validators of single values, each against its pattern.
void check_value(std::string_view text) {
  FUZZ_CHECK(tnl::is_valid_lock_name(text) == reference_lock_name(text));
  FUZZ_CHECK(tnl::is_valid_client_id(text) == reference_client_id(text));
  FUZZ_CHECK(tnl::is_valid_reason(text) == reference_reason(text));
  FUZZ_CHECK(tnl::strip(text) == reference_strip(text));
  check_wait(text);
  check_ttl(text);
}

/// lock_name_from_command, against the steps its header lists.
void check_lock_name_from_command(std::string_view line) {
  std::vector<std::string> words;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == '\0') {
      words.emplace_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  const std::string name = tnl::lock_name_from_command(words);
  std::string expected;
  for (std::size_t i = 0; i < words.size(); ++i) expected += (i ? " " : "") + words[i];
  for (char& c : expected) {
    if (c == ' ' || c == '.' || c == '/') c = '_';
  }
  const auto first = expected.find_first_not_of('_');
  expected = first == std::string::npos ? "" : expected.substr(first, expected.find_last_not_of('_') - first + 1);
  expected.erase(
      std::remove_if(expected.begin(), expected.end(), [](char c) { return !(is_alnum(c) || c == '_' || c == '-'); }),
      expected.end());
  FUZZ_CHECK(name == expected);
  FUZZ_CHECK(name.empty() || reference_lock_name(name));
}

bool same(const tnl::Request& a, const tnl::Request& b) { return a.action == b.action && a.params == b.params; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);

  const auto request = tnl::parse_request(line);
  const auto expected = reference_parse(line);
  FUZZ_CHECK(request.has_value() == expected.has_value());
  check_value(line);
  check_lock_name_from_command(line);
  if (!request) return 0;

  // The parse PROTOCOL.md describes, and the shape parse_request's header promises.
  FUZZ_CHECK(request->action == expected->first && request->params == expected->second);
  FUZZ_CHECK(!request->action.empty() && is_stripped(request->action));
  FUZZ_CHECK(request->action.find(',') == std::string::npos);
  FUZZ_CHECK(request->params.size() == static_cast<std::size_t>(std::count(line.begin(), line.end(), ',')));
  // The last value sent under each key (a map, so that a line of many keys stays linear).
  std::map<std::string_view, std::string_view> last;
  for (const auto& [key, value] : request->params) {
    FUZZ_CHECK(!key.empty() && is_stripped(key) && key.find_first_of(",:") == std::string::npos);
    FUZZ_CHECK(is_stripped(value) && value.find(',') == std::string::npos);
    last[key] = value;
    check_value(value);
  }
  // param(): the last value sent under the key (for a few keys: each call is a scan).
  std::size_t checked = 0;
  for (auto it = last.begin(); it != last.end() && checked < 8; ++it, ++checked) {
    FUZZ_CHECK(request->param(it->first) == std::optional<std::string_view>(it->second));
  }
  FUZZ_CHECK(!request->param("no,key"));  // a key never holds a comma

  // A parsed request formatted again reads back the same, with or without its line end.
  std::vector<std::pair<std::string_view, std::string_view>> views(request->params.begin(), request->params.end());
  const std::string formatted = tnl::format_request(request->action, views);
  FUZZ_CHECK(!formatted.empty() && formatted.back() == '\n');
  const std::string_view without_end(formatted.data(), formatted.size() - 1);
  for (const std::string& again : {formatted, std::string(without_end), std::string(without_end) + "\r\n"}) {
    const auto reparsed = tnl::parse_request(again);
    FUZZ_CHECK(reparsed && same(*reparsed, *request));
  }
  // Formatting is canonical: a reformatted request formats to the same line.
  const auto reparsed = tnl::parse_request(without_end);
  std::vector<std::pair<std::string_view, std::string_view>> reviews(reparsed->params.begin(), reparsed->params.end());
  FUZZ_CHECK(tnl::format_request(reparsed->action, reviews) == formatted);

  check_lock_options(*request);
  return 0;
}
