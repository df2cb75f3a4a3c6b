// Helpers shared by the HTTP integration tests (server_http*_test.cpp): showing replies,
// status checks that show the whole reply, the common API calls, /metrics samples and
// listening sockets.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "line_client.hpp"
#include "process.hpp"

namespace tnl::test {

using nlohmann::json;

inline const std::string api = "/api/v1alpha1";
inline constexpr const char* unknown_id = "00000000-0000-4000-8000-000000000000";

/// Everything about a reply, for failure messages.
inline std::string show(const HttpReply& reply) {
  std::ostringstream out;
  out << "HTTP " << reply.status << " " << reply.reason;
  for (const auto& [name, value] : reply.headers) out << "\n  " << name << ": " << value;
  out << "\n  body: " << reply.body;
  if (!reply.error.empty()) out << "\n  error: " << reply.error;
  return out.str();
}

// Each evaluates `reply` once (it may be the request itself) and shows all of it on failure.
#define REQUIRE_STATUS(reply, expected)          \
  do {                                           \
    const HttpReply& reply_once_ = (reply);      \
    INFO(show(reply_once_));                     \
    REQUIRE(reply_once_.status == (expected));   \
  } while (0)

#define CHECK_STATUS(reply, expected)            \
  do {                                           \
    const HttpReply& reply_once_ = (reply);      \
    INFO(show(reply_once_));                     \
    CHECK(reply_once_.status == (expected));     \
  } while (0)

inline bool is_uuid_v4(const json& value) {
  static const std::regex pattern{"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  return value.is_string() && std::regex_match(value.get<std::string>(), pattern);
}

/// A connection hold's id: a version 8 UUID naming its connection (server/lock_id.hpp); with
/// the etcd backend a random (version 4) one, as every id there.
inline bool is_uuid_v8(const json& value) {
  if (tnl::test::etcd_backend()) return is_uuid_v4(value);
  static const std::regex pattern{"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  return value.is_string() && std::regex_match(value.get<std::string>(), pattern);
}

inline bool is_rfc3339(const json& value) {
  static const std::regex pattern{R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)"};
  return value.is_string() && std::regex_match(value.get<std::string>(), pattern);
}

/// Milliseconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ" (which it must be).
inline std::int64_t epoch_ms(const json& value) {
  REQUIRE(value.is_string());
  const std::string text = value.get<std::string>();
  std::tm utc{};
  int millis = 0;
  REQUIRE(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &utc.tm_year, &utc.tm_mon, &utc.tm_mday, &utc.tm_hour,
                      &utc.tm_min, &utc.tm_sec, &millis) == 7);
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&utc)) * 1000 + millis;
}

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

/// POST /lock that must succeed; returns the record.
inline json create(const HttpClient& http, const std::string& service, const std::string& who,
                   json extra = json::object(), const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  json body = std::move(extra);
  body["service"] = service;
  body["who"] = who;
  const HttpReply reply = http.post(api + "/lock", body, headers);
  REQUIRE_STATUS(reply, 201);
  return reply.json();
}

/// GET /locks/list with `query` (e.g. "?per_page=10&page=1"), which must succeed.
inline json list(const HttpClient& http, const std::string& query = "") {
  const HttpReply reply = http.get(api + "/locks/list" + query);
  REQUIRE_STATUS(reply, 200);
  return reply.json();
}

/// The records of `service` in the list (without Catch assertions: usable in wait_until).
/// With an admin token, pass bearer(token) to see their ids.
inline json records_of(const HttpClient& http, const std::string& service,
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  const HttpReply reply = http.get(api + "/locks/list?service=" + service, headers);
  if (reply.status != 200) return json::array();
  return reply.json()["locks"];
}

/// The one waiter count of the first record of `service`, 0 when not held.
inline std::size_t waiters_of(const HttpClient& http, const std::string& service) {
  const json records = records_of(http, service);
  return records.empty() ? 0 : records[0]["waiters"].size();
}

/// Writes `text` to `path`.
inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

/// The local port of a client's socket.
inline std::uint16_t local_port(const LineClient& client) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  REQUIRE(getsockname(client.fd(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
  return ntohs(address.sin_port);
}

/// The value of the sample `name` (with its labels exactly as written, e.g.
/// `tcpnetlock_holds{kind="detached"}`) in Prometheus text; nullopt when absent.
inline std::optional<double> sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

/// GET /metrics, which must succeed; its body.
inline std::string metrics_text(const HttpClient& http) {
  const HttpReply reply = http.get("/metrics");
  REQUIRE_STATUS(reply, 200);
  return reply.body;
}

/// The value of the sample `name` in /metrics, which must be there.
inline double metric(const HttpClient& http, const std::string& name) {
  const auto value = sample(metrics_text(http), name);
  INFO("metric " << name);
  REQUIRE(value);
  return *value;
}

/// TCP ports on which process `pid` listens (from /proc: its socket inodes in LISTEN state).
inline std::set<std::uint16_t> listening_ports(pid_t pid) {
  std::set<std::string> inodes;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code error;
  for (std::filesystem::directory_iterator it(fds, error), end; !error && it != end; it.increment(error)) {
    std::error_code link_error;
    const std::string target = std::filesystem::read_symlink(it->path(), link_error).string();
    if (!link_error && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::set<std::uint16_t> ports;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(read_file(table));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state != "0A" || !inodes.count(inode)) continue;  // 0A: LISTEN
      ports.insert(static_cast<std::uint16_t>(std::stoul(local.substr(local.find(':') + 1), nullptr, 16)));
    }
  }
  return ports;
}

}  // namespace tnl::test
