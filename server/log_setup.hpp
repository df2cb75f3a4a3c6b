// How tcpnetlock_server logs: text (spdlog's usual lines) or JSON lines, on stderr; under
// systemd (stderr is the journal) without a timestamp and with a <N> priority prefix.
#pragma once

#include <memory>
#include <optional>
#include <spdlog/formatter.h>
#include <string>
#include <string_view>

namespace tnl {

/// --log-format.
enum class LogFormat { text, json };

/// "text" or "json"; nullopt otherwise.
[[nodiscard]] std::optional<LogFormat> parse_log_format(std::string_view text);

/// True when `journal_stream` (the JOURNAL_STREAM variable systemd sets, "DEVICE:INODE")
/// names the file `fd` is open on: then that fd goes to the journal (see sd_journal_stream_fd(3)
/// and systemd.exec(5)). False for a null or malformed value.
[[nodiscard]] bool fd_is_journal_stream(const char* journal_stream, int fd);

/// The sd-daemon(3) prefix journald reads a line's priority from: "<3>" for errors, "<4>"
/// for warnings, "<6>" for info, "<7>" for debug.
[[nodiscard]] std::string_view syslog_prefix(spdlog::level::level_enum level);

/// One JSON object per line: {"time":"2024-05-01T12:00:00.123Z","level":"warning",
/// "logger":"tcpnetlock_server","pid":42,"message":"..."}. The message is escaped as JSON
/// requires; bytes that are not UTF-8 (a name sent by a client) become U+FFFD, so every
/// line is valid UTF-8 JSON. With `journal` each line starts with its syslog_prefix.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  explicit JsonLogFormatter(bool journal = false) : journal_(journal) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  bool journal_;  ///< prefix each line with its priority
};

/// Plain lines for the journal: "<4>[warning] message", no timestamp (journald keeps its own).
class JournalTextFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override;
};

/// Makes the default logger `program` on stderr, formatted as `format` says and for the
/// journal when stderr is one (JOURNAL_STREAM), logging from `level` up.
void setup_logging(const std::string& program, LogFormat format, spdlog::level::level_enum level);

}  // namespace tnl
