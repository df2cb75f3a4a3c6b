#include "protocol.hpp"

#include <algorithm>

namespace tnl {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

template <typename Pred>
bool all_of_nonempty(std::string_view text, Pred pred) {
  return !text.empty() && std::all_of(text.begin(), text.end(), pred);
}

}  // namespace

std::optional<std::string_view> Request::param(std::string_view key) const {
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (it->first == key) return std::string_view{it->second};
  }
  return std::nullopt;
}

std::string_view strip(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::optional<LineEnd> find_line_end(std::string_view input) {
  for (std::size_t at = input.find_first_of("\r\n"); at != std::string_view::npos;
       at = input.find_first_of("\r\n", at + 1)) {
    if (input[at] == '\n') return LineEnd{at, 1, false};
    if (at + 1 == input.size()) return LineEnd{at, 1, true};
    if (ends_open_cr(input[at + 1])) return LineEnd{at, 2, false};
    // A CR with more of the line after it stays in the line, as in tcpnetlock.
  }
  return std::nullopt;
}

std::optional<Request> parse_request(std::string_view line) {
  Request request;
  std::size_t field_end = line.find(',');
  request.action = std::string{strip(line.substr(0, field_end))};
  if (request.action.empty()) return std::nullopt;

  while (field_end != std::string_view::npos) {
    line.remove_prefix(field_end + 1);
    field_end = line.find(',');
    const std::string_view field = line.substr(0, field_end);
    const std::size_t colon = field.find(':');
    const std::string_view key = strip(field.substr(0, colon));
    if (key.empty()) return std::nullopt;
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view{} : strip(field.substr(colon + 1));
    request.params.emplace_back(key, value);
  }
  return request;
}

std::string format_request(std::string_view action,
                           const std::vector<std::pair<std::string_view, std::string_view>>& params) {
  std::string line{action};
  for (const auto& [key, value] : params) {
    line.append(",").append(key).append(":").append(value);
  }
  line.push_back('\n');
  return line;
}

bool is_valid_lock_name(std::string_view name) {
  return all_of_nonempty(name, [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
}

bool is_valid_client_id(std::string_view id) {
  return all_of_nonempty(id, [](char c) { return is_alnum(c) || c == '.' || c == '@' || c == '_' || c == '-'; });
}

}  // namespace tnl
