#include "admin_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "human_duration.hpp"

namespace tnl::admin {

namespace {

using nlohmann::json;

/// Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar
/// (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/// Reads exactly `count` digits at `pos` into `value`.
bool digits(std::string_view text, std::size_t& pos, std::size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += count;
  return true;
}

bool expect(std::string_view text, std::size_t& pos, std::string_view any_of) {
  if (pos >= text.size() || any_of.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

/// A JSON value as cell text: strings as they are, null as "", others as JSON.
std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

/// `record[key]` as text, "" when absent.
std::string field(const json& record, const char* key) {
  if (!record.is_object()) return "";
  const auto it = record.find(key);
  return it == record.end() ? std::string{} : text_of(*it);
}

std::optional<double> number(const json& record, const char* key) {
  if (!record.is_object()) return std::nullopt;
  const auto it = record.find(key);
  if (it == record.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

/// Control characters replaced, so a value cannot break a line or the terminal.
std::string printable(std::string_view text) {
  std::string result{text};
  for (char& c : result) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = '?';
  }
  return result;
}

/// The server's clock reading of `record`, in seconds since the epoch: createdAt + heldSeconds.
std::optional<double> server_now(const json& record) {
  const auto created = parse_rfc3339(field(record, "createdAt"));
  const auto held = number(record, "heldSeconds");
  if (!created || !held) return std::nullopt;
  return *created + *held;
}

/// The documented fields of a lock record, in the documentation's order.
constexpr std::array<const char*, 12> record_fields{"id",         "service",   "who",       "kind",
                                                    "token",      "reason",    "peer",      "createdAt",
                                                    "heldSeconds", "expiresAt", "limit",     "waiters"};

/// A JSON value as the value of a `key: value` line: strings as they are (`""` when
/// empty, rather than end the line after the colon), others as JSON.
std::string line_text(const json& value) {
  if (!value.is_string()) return value.dump();
  const std::string text = value.get<std::string>();
  return text.empty() ? "\"\"" : text;
}

void add_line(std::string& out, std::string_view key, std::string_view value) {
  out.append(key).append(": ").append(printable(value)).append("\n");
}

}  // namespace

std::optional<double> parse_rfc3339(std::string_view text) {
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(text, pos, 4, year) || !expect(text, pos, "-") || !digits(text, pos, 2, month) ||
      !expect(text, pos, "-") || !digits(text, pos, 2, day) || !expect(text, pos, "Tt ") ||
      !digits(text, pos, 2, hour) || !expect(text, pos, ":") || !digits(text, pos, 2, minute) ||
      !expect(text, pos, ":") || !digits(text, pos, 2, second)) {
    return std::nullopt;
  }
  static constexpr std::array<int, 12> month_days{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > month_days[static_cast<std::size_t>(month - 1)] ||
      (month == 2 && day == 29 && !is_leap(year)) || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  double fraction = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    double scale = 0.1;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int offset = 0;  // seconds east of UTC
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '+' ? 1 : -1;
    ++pos;
    int offset_hours = 0, offset_minutes = 0;
    if (!digits(text, pos, 2, offset_hours) || !expect(text, pos, ":") || !digits(text, pos, 2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return static_cast<double>(days * 86400 + hour * 3600 + minute * 60 + second - offset) + fraction;
}

std::string expires_text(const json& record) {
  if (field(record, "kind") == "connection") return "-";
  if (!record.is_object() || !record.contains("expiresAt") || record["expiresAt"].is_null()) {
    return field(record, "kind") == "detached" ? "never" : "-";
  }
  const std::string raw = field(record, "expiresAt");
  const auto expires = parse_rfc3339(raw);
  const auto now = server_now(record);
  if (!expires || !now) return raw.empty() ? "-" : raw;
  const double remaining = *expires - *now;
  if (remaining <= 0) return "expired";
  return "in " + human_duration(remaining);
}

std::size_t display_width(std::string_view text) {
  // Every byte except UTF-8 continuation bytes starts a code point.
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string cell(std::string_view text, std::size_t max_width) {
  std::string result = printable(text);
  if (result.empty()) return "-";
  if (max_width == 0 || display_width(result) <= max_width) return result;
  // Keep max_width - 3 code points, then "...".
  const std::size_t keep = max_width > 3 ? max_width - 3 : 0;
  std::size_t points = 0;
  std::size_t end = 0;
  for (; end < result.size(); ++end) {
    if ((static_cast<unsigned char>(result[end]) & 0xC0) != 0x80) {
      if (points == keep) break;
      ++points;
    }
  }
  return result.substr(0, end) + "...";
}

std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = display_width(header[i]);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  std::string out;
  const auto add_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string& text = i < row.size() ? row[i] : std::string{};
      if (i > 0) line.append("  ");
      line.append(text);
      if (i + 1 < widths.size()) line.append(widths[i] - display_width(text), ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out.append(line).append("\n");
  };
  add_row(header);
  for (const auto& row : rows) add_row(row);
  return out;
}

std::string format_lock_table(const json& records) {
  std::vector<std::vector<std::string>> rows;
  if (records.is_array()) {
    for (const auto& record : records) {
      std::string holder = field(record, "who");
      if (holder.empty()) holder = field(record, "peer");
      const auto held = number(record, "heldSeconds");
      std::string waiters;
      if (record.is_object() && record.contains("waiters")) {
        const json& value = record["waiters"];
        waiters = value.is_array() ? std::to_string(value.size()) : text_of(value);
      }
      rows.push_back({cell(field(record, "service")), cell(field(record, "kind")), cell(holder),
                      cell(field(record, "token")), held ? human_duration(*held) : "-", cell(expires_text(record)),
                      cell(waiters), cell(field(record, "reason"), 40), cell(field(record, "id"))});
    }
  }
  return format_table({"NAME", "KIND", "HOLDER", "TOKEN", "HELD", "EXPIRES", "WAITERS", "REASON", "ID"}, rows);
}

std::string format_record(const json& record) {
  std::string out;
  if (!record.is_object()) {
    add_line(out, "record", record.dump());
    return out;
  }
  const auto add_field = [&](const std::string& key, const json& value) {
    if (key == "waiters" && value.is_array()) {
      add_line(out, key, std::to_string(value.size()));
      std::size_t n = 0;
      for (const auto& waiter : value) {
        ++n;
        if (!waiter.is_object()) {
          add_line(out, fmt::format("waiters[{}]", n), line_text(waiter));
          continue;
        }
        for (const auto& [waiter_key, waiter_value] : waiter.items()) {
          add_line(out, fmt::format("waiters[{}].{}", n, waiter_key), line_text(waiter_value));
        }
      }
      return;
    }
    std::string text = line_text(value);
    if (key == "expiresAt") {
      if (value.is_null()) {
        text = "never";
      } else if (const std::string hint = expires_text(record); hint != text) {
        text += " (" + hint + ")";
      }
    } else if (key == "heldSeconds" && value.is_number()) {
      text += " (" + human_duration(value.get<double>()) + ")";
    }
    add_line(out, key, text);
  };
  for (const char* key : record_fields) {
    if (const auto it = record.find(key); it != record.end()) add_field(key, *it);
  }
  for (const auto& [key, value] : record.items()) {
    if (std::find_if(record_fields.begin(), record_fields.end(), [&](const char* k) { return key == k; }) ==
        record_fields.end()) {
      add_field(key, value);
    }
  }
  return out;
}

std::string format_key_values(const json& object) {
  std::string out;
  if (!object.is_object()) return object.dump() + "\n";
  for (const auto& [key, value] : object.items()) add_line(out, key, line_text(value));
  return out;
}

}  // namespace tnl::admin
