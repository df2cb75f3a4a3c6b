// The server's log lines: JSON that any parser takes whatever a client sent, and the
// journal's form (no timestamp, a <N> priority) only when stderr is the journal.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "log_setup.hpp"
#include "process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

namespace {

/// What `formatter` makes of one message at `level`.
std::string format(spdlog::formatter& formatter, spdlog::level::level_enum level, std::string_view payload) {
  const spdlog::details::log_msg msg(spdlog::source_loc{}, "tcpnetlock_server", level,
                                     spdlog::string_view_t(payload.data(), payload.size()));
  spdlog::memory_buf_t out;
  formatter.format(msg, out);
  return std::string(out.data(), out.size());
}

}  // namespace

TEST_CASE("json logs: one valid UTF-8 JSON object per line, whatever the message holds", "[log]") {
  tnl::JsonLogFormatter formatter;
  // Quotes, backslashes, control characters (a line break a client could use to forge a
  // line), a NUL, and bytes that are not UTF-8, as a name or header from a client may hold.
  const std::string nasty = std::string("lock 'a\"b\\c' from \x01\x1f\t\r\n{\"level\":\"forged\"}") + '\0' +
                            "\xff\xfe bad \xc3( and good \xc3\xa9 \xe2\x82\xac";
  const std::string line = format(formatter, spdlog::level::warn, nasty);
  REQUIRE(!line.empty());
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);  // one line: the message's line breaks are escaped
  for (const char c : line.substr(0, line.size() - 1)) CHECK(static_cast<unsigned char>(c) >= 0x20);
  // nlohmann's parser refuses invalid UTF-8, so this also proves the line is UTF-8.
  const auto object = nlohmann::json::parse(line);
  CHECK(object.at("level") == "warning");
  CHECK(object.at("logger") == "tcpnetlock_server");
  CHECK(object.at("pid") == ::getpid());
  const std::string replacement = "\xef\xbf\xbd";  // U+FFFD
  CHECK(object.at("message") == std::string("lock 'a\"b\\c' from \x01\x1f\t\r\n{\"level\":\"forged\"}") + '\0' +
                                    replacement + replacement + " bad " + replacement +
                                    "( and good \xc3\xa9 \xe2\x82\xac");
  CHECK(std::regex_match(object.at("time").get<std::string>(),
                         std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  CHECK(object.size() == 5);
  // The escapes themselves: what a reader of the raw line sees.
  CHECK(line.find(R"(a\"b\\c)") != std::string::npos);
  CHECK(line.find(R"(\u0001\u001f\t\r\n)") != std::string::npos);
  CHECK(line.find(R"(\u0000)") != std::string::npos);
}

TEST_CASE("json logs: every level has its name, and under the journal its priority first", "[log]") {
  tnl::JsonLogFormatter plain;
  tnl::JsonLogFormatter journal(true);
  struct Case {
    spdlog::level::level_enum level;
    const char* name;
    const char* prefix;
  };
  for (const Case c : {Case{spdlog::level::debug, "debug", "<7>"}, Case{spdlog::level::info, "info", "<6>"},
                       Case{spdlog::level::warn, "warning", "<4>"}, Case{spdlog::level::err, "error", "<3>"},
                       Case{spdlog::level::critical, "critical", "<2>"}}) {
    INFO(c.name);
    CHECK(nlohmann::json::parse(format(plain, c.level, "m")).at("level") == c.name);
    const std::string line = format(journal, c.level, "m");
    REQUIRE(line.rfind(c.prefix, 0) == 0);
    CHECK(nlohmann::json::parse(line.substr(3)).at("level") == c.name);
  }
}

TEST_CASE("journal text logs: a priority prefix and no timestamp", "[log]") {
  tnl::JournalTextFormatter formatter;
  CHECK(format(formatter, spdlog::level::warn, "lock 'a' lost") == "<4>[warning] lock 'a' lost\n");
  CHECK(format(formatter, spdlog::level::critical, "cannot start") == "<2>[critical] cannot start\n");
  CHECK(format(formatter, spdlog::level::info, "x") == "<6>[info] x\n");
  CHECK(format(formatter, spdlog::level::debug, "x") == "<7>[debug] x\n");
}

TEST_CASE("stderr is the journal only when JOURNAL_STREAM names its device and inode", "[log]") {
  tnl::test::TempDir dir;
  const std::string path = (dir.path() / "stream").string();
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  REQUIRE(fd >= 0);
  struct stat status {};
  REQUIRE(::fstat(fd, &status) == 0);
  const std::string device = std::to_string(status.st_dev);
  const std::string inode = std::to_string(status.st_ino);
  CHECK(tnl::fd_is_journal_stream((device + ":" + inode).c_str(), fd));
  CHECK(!tnl::fd_is_journal_stream(nullptr, fd));
  CHECK(!tnl::fd_is_journal_stream("", fd));
  CHECK(!tnl::fd_is_journal_stream((device + ":" + std::to_string(status.st_ino + 1)).c_str(), fd));
  CHECK(!tnl::fd_is_journal_stream((std::to_string(status.st_dev + 1) + ":" + inode).c_str(), fd));
  CHECK(!tnl::fd_is_journal_stream((device + ":" + inode + "x").c_str(), fd));
  CHECK(!tnl::fd_is_journal_stream((device + inode).c_str(), fd));
  CHECK(!tnl::fd_is_journal_stream((device + ":" + inode).c_str(), -1));
  ::close(fd);
}

TEST_CASE("log format: text or json", "[log]") {
  CHECK(tnl::parse_log_format("text") == tnl::LogFormat::text);
  CHECK(tnl::parse_log_format("json") == tnl::LogFormat::json);
  CHECK(!tnl::parse_log_format("JSON"));
  CHECK(!tnl::parse_log_format(""));
}

}  // namespace TNL_UNITY_ID
