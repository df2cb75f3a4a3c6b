// Fuzz target: the HTTP API's request handling, HttpApi::handle, against a real
// LockService, LockTable and LockStore (no state dir) on an event loop that only runs
// when the input says POLL.
//
// The input is a sequence of strings as FuzzedDataProvider::ConsumeRandomLengthString
// reads them: each ends at a backslash followed by any other byte (a seed file ends each
// string with "\" and a line break; "\\" is a backslash). First the admin token (empty:
// none), then up to max_steps steps of four strings each:
//
//   METHOD   an HTTP method (GET, POST, DELETE, HEAD, ...), or one of these steps:
//            LINE      TARGET is a line-protocol request acted on as a new connection's
//                      `lock` is (RequestHandler::lock): a connection holds or waits
//            CLOSE     TARGET is a number: that connection ends (its hold or wait goes)
//            POLL      the event loop runs what is ready (expired waits and leases)
//            SHUTDOWN  from now on the server is shutting down (/readyz answers 503)
//   TARGET   path and query, percent-encoded ("/api/v1alpha1/locks/list?page=2")
//   HEADERS  header lines "Name: value" (Authorization, Host, Origin, Sec-Fetch-Site,
//            Content-Type; others are ignored, as HttpServer ignores them); a string with
//            no ':' at all is the Authorization header alone. Host defaults to
//            127.0.0.1:7655 and Content-Type to application/json, as curl -H sends them.
//   BODY     the request body
//
// In TARGET and BODY, "{idN}" (N a digit) stands for the id of the Nth lock granted so far.
// With FUZZ_TRACE=1 in the environment each step and its answer are printed (to read a
// seed or a crash).
//
// After each step the response is checked (a known status, a JSON body that parses, the
// headers its status needs, what the route promises) and so is the lock table: no name
// has more holders than its limit, nobody waits while there is room, every connection
// that believes it holds a lock is a holder, and every holder is believed in.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "connection_manager.hpp"
#include "fuzz_check.hpp"
#include "http_api.hpp"
#include "lock_options.hpp"
#include "lock_service.hpp"
#include "lock_store.hpp"
#include "lock_table.hpp"
#include "protocol.hpp"
#include "server_stats.hpp"

namespace {

using tnl::LockId;
using tnl::LockTable;

constexpr std::size_t max_steps = 48;
constexpr std::size_t max_string = 16 * 1024;  // above HttpApi::max_body_bytes, for the 413
constexpr std::string_view status_page = "<!doctype html><title>tcpnetlock</title>";
constexpr std::string_view metrics_type = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view html_type = "text/html; charset=utf-8";

bool trace = false;  ///< FUZZ_TRACE set

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decodes as the HTTP layer does before handle(); a malformed escape stays as it is.
std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

/// The path's non-empty segments, as HttpApi routes them.
std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (i > start) parts.emplace_back(path.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

/// Everything one input acts on: a server's lock state without sockets.
class World {
 public:
  explicit World(const std::string& admin_token)
      : api_(service_, stats_, connections_, admin_token, std::string(status_page)),
        token_required_(!admin_token.empty()) {
    // An admin's forced release of a connection's hold, as Server wires it: the
    // connection is told and closed, which frees the lock.
    service_.on_revoke([this](LockTable::OwnerId owner, std::string_view) {
      const auto it = connections_held_.find(owner);
      if (it == connections_held_.end() || it->second.state != State::holding) return false;
      it->second.state = State::done;
      service_.release_connection_hold(it->second.name, owner);
      return true;
    });
    // A connection hold's (version 8) id names its owner; the connection knows the name it
    // holds, as Server wires it from its ConnectionManager.
    table_.on_owner_name([this](LockTable::OwnerId owner) -> const std::string* {
      const auto it = connections_held_.find(owner);
      return it != connections_held_.end() && it->second.state == State::holding ? &it->second.name : nullptr;
    });
  }

  void step(const std::string& method, std::string target, const std::string& authorization, std::string body) {
    substitute_ids(target);
    substitute_ids(body);
    if (trace && (method == "LINE" || method == "CLOSE" || method == "POLL" || method == "SHUTDOWN")) {
      std::fprintf(stderr, "%s %s\n", method.c_str(), target.c_str());
    }
    if (method == "LINE") return line_lock(target);
    if (method == "CLOSE") return close(target);
    if (method == "POLL") {
      io_.poll();
      io_.restart();
      return;
    }
    if (method == "SHUTDOWN") {
      shutting_down_ = true;
      api_.shutting_down();
      return;
    }
    http(method, target, authorization, body);
  }

  /// The table's invariants, and agreement between the table and the connections.
  void check_table() const {
    const auto& table = service_.table();
    std::set<std::pair<std::uint64_t, std::uint64_t>> ids;
    std::size_t held_names = 0;
    std::size_t holders[2] = {0, 0};
    std::size_t waiting = 0;
    for (const auto& state : table.snapshot()) {
      FUZZ_CHECK(tnl::is_valid_lock_name(state.name));
      FUZZ_CHECK(state.limit >= 1 && state.limit <= tnl::max_lock_limit);
      FUZZ_CHECK(!state.holders.empty() || !state.waiters.empty());
      FUZZ_CHECK(state.holders.size() <= state.limit);
      // Nobody queues while there is room: the head of the queue would have been granted.
      FUZZ_CHECK(state.holders.size() == state.limit || state.waiters.empty());
      if (!state.holders.empty()) ++held_names;
      waiting += state.waiters.size();
      for (const auto& holder : state.holders) {
        FUZZ_CHECK(ids.insert({holder.id.high, holder.id.low}).second);
        ++holders[static_cast<int>(holder.kind)];
        const auto found = table.find(holder.id);
        FUZZ_CHECK(found && found->name == state.name && found->holder.owner == holder.owner);
        if (holder.kind == LockTable::Kind::connection) {
          const auto it = connections_held_.find(holder.owner);
          FUZZ_CHECK(it != connections_held_.end() && it->second.state == State::holding &&
                     it->second.name == state.name);
        } else {
          FUZZ_CHECK(!holder.expires || table.next_deadline());
        }
      }
      for (const auto& waiter : state.waiters) {
        const auto it = connections_held_.find(waiter.owner);
        FUZZ_CHECK(it != connections_held_.end() && it->second.state == State::waiting &&
                   it->second.name == state.name);
      }
    }
    FUZZ_CHECK(held_names == table.held_count());
    FUZZ_CHECK(holders[0] == table.holder_count(LockTable::Kind::connection));
    FUZZ_CHECK(holders[1] == table.holder_count(LockTable::Kind::detached));
    FUZZ_CHECK(waiting == table.waiting_count());
    // Every connection that believes it holds a name is one of its holders.
    for (const auto& [owner, connection] : connections_held_) {
      if (connection.state != State::holding) continue;
      const auto& names_holders = table.holders(connection.name);
      FUZZ_CHECK(std::any_of(names_holders.begin(), names_holders.end(),
                             [owner = owner](const LockTable::Holder& holder) { return holder.owner == owner; }));
    }
  }

 private:
  enum class State { waiting, holding, done };
  struct ConnectionModel {
    std::string name;
    State state = State::waiting;
    int completions = 0;
  };

  /// Replaces "{idN}" by the Nth id granted so far (modulo their number).
  void substitute_ids(std::string& text) const {
    if (granted_ids_.empty()) return;
    for (std::size_t at = text.find("{id"); at != std::string::npos; at = text.find("{id", at + 1)) {
      if (at + 4 < text.size() && text[at + 3] >= '0' && text[at + 3] <= '9' && text[at + 4] == '}') {
        text.replace(at, 5, granted_ids_[static_cast<std::size_t>(text[at + 3] - '0') % granted_ids_.size()].str());
      }
    }
  }

  /// A new connection's `lock` line, as RequestHandler::lock acts on it.
  void line_lock(std::string_view line) {
    const auto request = tnl::parse_request(line);
    if (!request || request->action != tnl::action::lock) return;
    const auto parsed = tnl::parse_lock_options(*request);
    if (!std::holds_alternative<tnl::LockOptions>(parsed)) return;
    const auto& options = std::get<tnl::LockOptions>(parsed);
    const auto now = LockTable::Clock::now();
    const auto deadline = LockTable::wait_deadline(options.wait_seconds, now);
    std::optional<LockTable::Clock::duration> ttl;
    if (options.ttl_seconds) ttl = LockTable::seconds(*options.ttl_seconds);
    const LockTable::OwnerId owner = next_owner_++;
    const LockId id = service_.next_id();
    connections_held_[owner] = ConnectionModel{options.name};
    const bool detached = options.detached;
    auto done = [this, owner, id, detached](LockTable::Outcome outcome, LockTable::Token) {
      ConnectionModel& connection = connections_held_.at(owner);
      FUZZ_CHECK(++connection.completions == 1);  // exactly once
      FUZZ_CHECK(connection.state == State::waiting);
      if (outcome == LockTable::Outcome::granted) {
        granted_ids_.push_back(id);
        // A detached lock leaves its connection at once; a connection's lock stays with it.
        connection.state = detached ? State::done : State::holding;
      } else {
        connection.state = State::done;
      }
    };
    service_.acquire(
        LockTable::Request{options.name, owner, options.client_id, "127.0.0.1:40000", options.reason, options.limit,
                           deadline, id, detached ? LockTable::Kind::detached : LockTable::Kind::connection, ttl},
        std::move(done));
  }

  /// A connection ends: its hold is freed, its wait withdrawn.
  void close(std::string_view which) {
    if (connections_held_.empty()) return;
    std::size_t n = 0;
    for (const char c : which.substr(0, 6)) n = n * 10 + static_cast<unsigned char>(c) % 10;
    auto it = std::next(connections_held_.begin(), static_cast<std::ptrdiff_t>(n % connections_held_.size()));
    const LockTable::OwnerId owner = it->first;
    ConnectionModel& connection = it->second;
    if (connection.state == State::holding) {
      connection.state = State::done;
      service_.release_connection_hold(connection.name, owner);
    } else if (connection.state == State::waiting) {
      connection.state = State::done;
      FUZZ_CHECK(service_.table().waiters(connection.name) > 0);
      service_.cancel_wait(connection.name, owner);
    }
  }

  void http(const std::string& method, std::string_view target, const std::string& authorization, std::string body) {
    tnl::HttpRequest request;
    request.method = method;
    const auto question = target.find('?');
    request.path = percent_decode(target.substr(0, question));
    if (question != std::string_view::npos) {
      std::string_view query = target.substr(question + 1);
      while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto equals = pair.find('=');
        request.query.emplace_back(percent_decode(pair.substr(0, equals)),
                                   equals == std::string_view::npos ? "" : percent_decode(pair.substr(equals + 1)));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    apply_headers(authorization, request);
    request.body = std::move(body);
    request.peer = "127.0.0.1:50000";

    const auto parts = segments(request.path);
    const bool is_get = method == "GET" || method == "HEAD";
    const bool create = method == "POST" && parts == std::vector<std::string>{"api", "v1alpha1", "lock"};
    std::optional<std::string> create_name;
    bool name_was_in_use = false;
    if (create) {
      const auto body_json = nlohmann::json::parse(request.body, nullptr, false);
      if (body_json.is_object() && body_json.contains("service") && body_json["service"].is_string()) {
        create_name = body_json["service"].get<std::string>();
        name_was_in_use = !service_.table().snapshot(*create_name).empty();
      }
    }

    const tnl::HttpResponse response = api_.handle(request);
    if (trace) {
      std::fprintf(stderr, "%s %s (%zu query, %zu body bytes) -> %d %s\n", method.c_str(), request.path.c_str(),
                   request.query.size(), request.body.size(), response.status, response.body.substr(0, 200).c_str());
    }
    check_response(parts, response);
    // Another site's page never changes a lock: a write that succeeded came from no browser,
    // or from our own origin.
    if (response.changed_locks && response.status < 300 && request.origin) {
      FUZZ_CHECK(request.host && names_host(*request.origin, *request.host));
    }

    // What the routes promise.
    if (request.body.size() > tnl::HttpApi::max_body_bytes) FUZZ_CHECK(response.status == 413);
    if (create && response.status == 201) {
      // Granted only when the name was neither held nor awaited: never a second holder.
      FUZZ_CHECK(create_name && !name_was_in_use);
      const auto record = nlohmann::json::parse(response.body);
      const auto id = LockId::parse(record.at("id").get<std::string>());
      FUZZ_CHECK(id && record.at("service") == *create_name && record.at("kind") == "detached");
      const auto held = service_.table().find(*id);
      FUZZ_CHECK(held && held->name == *create_name && held->holder.kind == LockTable::Kind::detached);
      granted_ids_.push_back(*id);
    }
    if (create && name_was_in_use) FUZZ_CHECK(response.status != 201);
    if (response.status == 200 && parts.size() == 4 && parts[0] == "api" && parts[1] == "v1alpha1" &&
        ((method == "DELETE" && parts[2] == "lock") || (is_get && parts[2] == "unlock"))) {
      // Released: the hold is gone.
      const auto id = LockId::parse(parts[3]);
      FUZZ_CHECK(id && !service_.table().find(*id));
    }
    if (response.status == 200 && is_get && parts == std::vector<std::string>{"api", "v1alpha1", "locks", "list"}) {
      const auto list = nlohmann::json::parse(response.body);
      FUZZ_CHECK(list.at("locks").is_array() && list.at("locks").size() <= list.at("perPage").get<std::size_t>());
      std::size_t total = 0;
      for (const auto& state : service_.table().snapshot()) {
        if (!request.query_param("service") || *request.query_param("service") == state.name) {
          total += state.holders.size();
        }
      }
      FUZZ_CHECK(list.at("total").get<std::size_t>() == total);
    }
  }

  /// Whether `origin` ("scheme://authority") names `host` (the Host header), a default port
  /// (80, 443) written in Host or not, case aside.
  static bool names_host(std::string_view origin, std::string_view host) {
    const auto separator = origin.find("://");
    if (separator == std::string_view::npos) return false;
    const auto lower = [](std::string_view text) {
      std::string result(text);
      std::transform(result.begin(), result.end(), result.begin(), [](unsigned char c) { return std::tolower(c); });
      return result;
    };
    const std::string authority = lower(origin.substr(separator + 3));
    const std::string ours = lower(host);
    return authority == ours || authority + ":80" == ours || authority + ":443" == ours;
  }

  /// Fills the request's headers from a HEADERS string (see the file comment).
  static void apply_headers(std::string_view headers, tnl::HttpRequest& request) {
    request.host = "127.0.0.1:7655";
    request.content_type = "application/json";
    if (headers.find(':') == std::string_view::npos) {
      request.authorization = std::string(headers);
      return;
    }
    while (!headers.empty()) {
      const auto end = headers.find('\n');
      const std::string_view line = headers.substr(0, end);
      const auto colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(tnl::strip(line.substr(0, colon)));
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        const std::string value(tnl::strip(line.substr(colon + 1)));
        if (name == "authorization") request.authorization = value;
        if (name == "host") request.host = value;
        if (name == "origin") request.origin = value;
        if (name == "sec-fetch-site") request.sec_fetch_site = value;
        if (name == "content-type") request.content_type = value;
      }
      if (end == std::string_view::npos) break;
      headers.remove_prefix(end + 1);
    }
  }

  void check_response(const std::vector<std::string>& parts, const tnl::HttpResponse& response) const {
    static const std::set<int> known{200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 503};
    FUZZ_CHECK(known.count(response.status) == 1);
    // Without a state dir nothing fails to persist: 503 only from /readyz once shutting down.
    if (response.status == 503) FUZZ_CHECK(shutting_down_ && parts == std::vector<std::string>{"readyz"});
    if (response.status == 401) {
      FUZZ_CHECK(token_required_);
      FUZZ_CHECK(std::count(response.headers.begin(), response.headers.end(),
                            std::pair<std::string, std::string>{"WWW-Authenticate", "Bearer"}) == 1);
    }
    if (response.status == 405) {
      const auto allow = std::find_if(response.headers.begin(), response.headers.end(),
                                      [](const auto& header) { return header.first == "Allow"; });
      FUZZ_CHECK(allow != response.headers.end() && !allow->second.empty());
    }
    for (const auto& [name, value] : response.headers) {
      // No header can be split or smuggled: no line breaks, no NUL.
      FUZZ_CHECK(name.find_first_of(std::string_view("\r\n\0:", 4)) == std::string::npos);
      FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    }
    if (response.content_type == "application/json") {
      const auto body = nlohmann::json::parse(response.body, nullptr, false);
      FUZZ_CHECK(!body.is_discarded() && body.is_object());
      if (response.status >= 400 && response.status != 503) {
        FUZZ_CHECK(body.contains("error") && body["error"].is_string());
      }
    } else if (response.content_type == metrics_type) {
      FUZZ_CHECK(response.status == 200 && !response.body.empty() && response.body.back() == '\n');
    } else if (response.content_type == html_type) {
      FUZZ_CHECK(response.status == 200 && response.body == status_page && parts.empty());
    } else {
      FUZZ_CHECK(!"unknown content type");
    }
  }

  // Declared in the order they are built; the event loop outlives everything on it.
  asio::io_context io_;
  LockTable table_;
  tnl::LockStore store_{std::filesystem::path{}};
  tnl::ServerStats stats_;
  tnl::ConnectionManager connections_{io_};
  tnl::LockService service_{io_, table_, store_, stats_};
  tnl::HttpApi api_;
  const bool token_required_;
  std::map<LockTable::OwnerId, ConnectionModel> connections_held_;
  std::vector<LockId> granted_ids_;
  LockTable::OwnerId next_owner_ = 1;
  bool shutting_down_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  trace = std::getenv("FUZZ_TRACE") != nullptr;
  // The API logs every refusal, and fuzzing makes millions.
  spdlog::set_level(trace ? spdlog::level::debug : spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  World world(input.ConsumeRandomLengthString(64));
  for (std::size_t i = 0; i < max_steps && input.remaining_bytes() > 0; ++i) {
    std::string method = input.ConsumeRandomLengthString(16);
    std::string target = input.ConsumeRandomLengthString(max_string);
    std::string authorization = input.ConsumeRandomLengthString(max_string);
    std::string body = input.ConsumeRandomLengthString(max_string);
    world.step(method, std::move(target), authorization, std::move(body));
    world.check_table();
  }
  return 0;
}
