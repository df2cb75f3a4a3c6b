#include "log_setup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace tnl {

namespace {

void append(spdlog::memory_buf_t& dest, std::string_view text) { dest.append(text.data(), text.data() + text.size()); }

/// `text` as a JSON string literal; invalid UTF-8 replaced by U+FFFD rather than refused.
std::string json_string(std::string_view text) {
  return nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// RFC 3339 in UTC with milliseconds: what log shippers parse without being told a format.
std::string utc_time(spdlog::log_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm parts{};
  gmtime_r(&whole, &parts);
  char text[40];
  const int length = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                                   parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                                   static_cast<int>(millis));
  return std::string(text, static_cast<std::size_t>(length));
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto name = spdlog::level::to_string_view(level);
  return std::string_view(name.data(), name.size());
}

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  return std::nullopt;
}

bool fd_is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  unsigned long long device = 0;
  unsigned long long inode = 0;
  char end = 0;
  if (std::sscanf(journal_stream, "%llu:%llu%c", &device, &inode, &end) != 2) return false;
  struct stat status {};
  if (::fstat(fd, &status) != 0) return false;
  return static_cast<unsigned long long>(status.st_dev) == device &&
         static_cast<unsigned long long>(status.st_ino) == inode;
}

std::string_view syslog_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical: return "<2>";
    case spdlog::level::err: return "<3>";
    case spdlog::level::warn: return "<4>";
    case spdlog::level::info: return "<6>";
    default: return "<7>";
  }
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  if (journal_) append(dest, syslog_prefix(msg.level));
  append(dest, "{\"time\":\"");
  append(dest, utc_time(msg.time));
  append(dest, "\",\"level\":\"");
  append(dest, level_name(msg.level));
  append(dest, "\",\"logger\":");
  append(dest, json_string(std::string_view(msg.logger_name.data(), msg.logger_name.size())));
  append(dest, ",\"pid\":");
  append(dest, std::to_string(::getpid()));
  append(dest, ",\"message\":");
  append(dest, json_string(std::string_view(msg.payload.data(), msg.payload.size())));
  append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(journal_); }

void JournalTextFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  append(dest, syslog_prefix(msg.level));
  append(dest, "[");
  append(dest, level_name(msg.level));
  append(dest, "] ");
  append(dest, std::string_view(msg.payload.data(), msg.payload.size()));
  append(dest, "\n");
}

std::unique_ptr<spdlog::formatter> JournalTextFormatter::clone() const {
  return std::make_unique<JournalTextFormatter>();
}

void setup_logging(const std::string& program, LogFormat format, spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_color_mt(program);
  const bool journal = fd_is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
  if (format == LogFormat::json) {
    logger->set_formatter(std::make_unique<JsonLogFormatter>(journal));
  } else if (journal) {
    logger->set_formatter(std::make_unique<JournalTextFormatter>());
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
}

}  // namespace tnl
