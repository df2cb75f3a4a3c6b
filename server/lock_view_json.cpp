#include "lock_view_json.hpp"

#include <algorithm>
#include <ctime>
#include <iterator>
#include <optional>
#include <vector>
#include <fmt/format.h>

namespace tnl {

namespace {

/// RFC 3339 of a time, or null.
nlohmann::ordered_json optional_time(const std::optional<std::chrono::system_clock::time_point>& time) {
  if (!time) return nullptr;
  return format_rfc3339(*time);
}

/// Seconds from `since` to `as_of`.
double seconds_between(std::chrono::system_clock::time_point since, std::chrono::system_clock::time_point as_of) {
  return std::chrono::duration<double>(as_of - since).count();
}

}  // namespace

const char* kind_name(HoldKind kind) {
  switch (kind) {
    case HoldKind::connection: return "connection";
    case HoldKind::detached: return "detached";
    case HoldKind::delay: return "delay";
  }
  return "connection";
}

namespace {

/// Appends RFC 3339 times, formatting the date and the time of day only when the second
/// changes: holders that took their locks within one second (thousands, when a fleet
/// starts) share them. That took a third off building a `.locks` with 19,000 holders.
class Rfc3339Writer {
 public:
  void append(std::string& out, std::chrono::system_clock::time_point time) {
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    const auto seconds = static_cast<std::time_t>(millis / 1000);
    if (second_text_.empty() || seconds != second_) {
      std::tm utc{};
      gmtime_r(&seconds, &utc);
      second_text_.clear();
      fmt::format_to(std::back_inserter(second_text_), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
      second_ = seconds;
    }
    const auto milli = static_cast<int>(millis % 1000);
    out.append(second_text_);
    out.push_back(static_cast<char>('0' + milli / 100));
    out.push_back(static_cast<char>('0' + milli / 10 % 10));
    out.push_back(static_cast<char>('0' + milli % 10));
    out.push_back('Z');
  }

 private:
  std::time_t second_ = 0;
  std::string second_text_;  ///< "YYYY-MM-DDTHH:MM:SS." of second_
};

}  // namespace

void append_rfc3339(std::string& out, std::chrono::system_clock::time_point time) { Rfc3339Writer().append(out, time); }

std::string format_rfc3339(std::chrono::system_clock::time_point time) {
  std::string text;
  append_rfc3339(text, time);
  return text;
}

std::string dump_json(const nlohmann::ordered_json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

/// Appends `text` as a JSON string: as it is when it is plain printable ASCII without
/// quotes or backslashes (names, ids, addresses: nearly always), else escaped by nlohmann-json.
void append_json_string(std::string& out, std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
    return;
  }
  out += dump_json(nlohmann::ordered_json(std::string(text)));
}

}  // namespace

std::string locks_to_json(const LockView& view, std::string_view prefix, bool show_ids, std::string_view suffix) {
  static const std::vector<NameRecord> no_names;
  const std::vector<NameRecord>& names = view.names ? *view.names : no_names;
  // Room for every holder and the suffix, so that the string never grows by copying itself.
  std::size_t connection_records = 0;
  std::size_t other_records = 0;
  for (const auto& name : names) {
    for (const auto& holder : name.holders) ++(holder.kind == HoldKind::connection ? connection_records : other_records);
    other_records += name.delays.size();
  }
  std::string out;
  out.reserve(prefix.size() + suffix.size() + 64 + connection_records * 320 + other_records * 360);
  out.append(prefix).append(R"({"locks":[)");
  bool first_name = true;
  Rfc3339Writer times;
  const auto append_holder = [&](const HoldRecord& holder) {
    if (show_ids) {
      out.append(R"({"id":")");
      holder.id.append_to(out);
      out.append(R"(",)");
    } else {
      out.push_back('{');
    }
    out.append(R"("kind":")").append(kind_name(holder.kind)).append(R"(","client_id":)");
    append_json_string(out, holder.client_id);
    out.append(R"(,"peer":)");
    append_json_string(out, holder.peer);
    out.append(R"(,"since":")");
    times.append(out, holder.since);
    fmt::format_to(std::back_inserter(out), R"(","held_seconds":{},"token":)", seconds_between(holder.since, view.as_of));
    // A token no durable mark covers yet may be handed out again after a crash: not shown.
    if (holder.token_durable) {
      fmt::format_to(std::back_inserter(out), "{}", holder.token);
    } else {
      out.append("null");
    }
    // Whether the holder can know that token (fencing:1, detached): only then can it fence.
    out.append(holder.fenced ? R"(,"fenced":true,"reason":)" : R"(,"fenced":false,"reason":)");
    append_json_string(out, holder.reason);
    out.append(R"(,"expires":)");
    if (holder.expires) {
      out.push_back('"');
      times.append(out, *holder.expires);
      out.push_back('"');
    } else {
      out.append("null");
    }
    out.push_back('}');
  };
  for (const auto& name : names) {
    if (!first_name) out.push_back(',');
    first_name = false;
    out.append(R"({"name":)");
    append_json_string(out, name.name);
    fmt::format_to(std::back_inserter(out), R"(,"limit":{},"holders":[)", name.limit);
    bool first_holder = true;
    // The holders, then the lock-delays keeping slots: every slot taken, one entry each.
    for (const auto* list : {&name.holders, &name.delays}) {
      for (const auto& holder : *list) {
        if (!first_holder) out.push_back(',');
        first_holder = false;
        append_holder(holder);
      }
    }
    fmt::format_to(std::back_inserter(out), R"(],"waiters":{}}})", name.waiters.size());
  }
  out.append("]}").append(suffix);
  return out;
}

nlohmann::ordered_json lock_record(const NameRecord& name, const HoldRecord& holder,
                                   std::chrono::system_clock::time_point as_of, bool show_id) {
  nlohmann::ordered_json queue = nlohmann::ordered_json::array();
  for (const auto& waiter : name.waiters) {
    queue.push_back({{"who", waiter.client_id},
                     {"peer", waiter.peer},
                     {"reason", waiter.reason},
                     {"kind", kind_name(waiter.kind)},
                     {"waitingSince", format_rfc3339(waiter.since)}});
  }
  nlohmann::ordered_json record = {
      {"id", holder.id.str()},
      {"service", name.name},
      {"who", holder.client_id},
      {"createdAt", format_rfc3339(holder.since)},
      {"kind", kind_name(holder.kind)},
      // A token no durable mark covers yet may be handed out again after a crash: not shown.
      {"token", holder.token_durable ? nlohmann::ordered_json(holder.token) : nlohmann::ordered_json(nullptr)},
      {"fenced", holder.fenced},
      {"reason", holder.reason},
      {"peer", holder.peer},
      {"expiresAt", optional_time(holder.expires)},
      {"heldSeconds", seconds_between(holder.since, as_of)},
      {"limit", name.limit},
      {"waiters", std::move(queue)},
  };
  if (!show_id) record.erase("id");
  return record;
}

}  // namespace tnl
