// Fuzz target: the HTTP API's request handling, HttpApi::handle, against a real
// LocalLockBackend (its LockTable, a LockStore with no state dir) on an event loop that only
// runs when the input says POLL.
//
// The input is a sequence of strings as FuzzedDataProvider::ConsumeRandomLengthString
// reads them: each ends at a backslash followed by any other byte (a seed file ends each
// string with "\" and a line break; "\\" is a backslash). First the admin token (empty:
// none), then up to max_steps steps of four strings each:
//
//   METHOD   an HTTP method (GET, POST, DELETE, HEAD, ...), or one of these steps:
//            LINE      TARGET is a line-protocol request acted on as a new connection's
//                      `lock` is (LockSession): a connection holds or waits
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
// After each step the response is checked (respond() called exactly once, and before
// handle() returned: the local backend answers at once; a known status, a JSON body that
// parses, the headers its status needs, what the route promises) and so is the lock table:
// no name has more holders than its limit, nobody waits while there is room, every
// connection that believes it holds a lock is a holder, and every holder is believed in.
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
#include "local_lock_backend.hpp"
#include "lock_options.hpp"
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
      : api_(backend_, stats_, connections_, admin_token, std::string(status_page)),
        token_required_(!admin_token.empty()) {}

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
    const auto& table = backend_.table();
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
        if (holder.kind == tnl::HoldKind::connection) {
          const auto it = connections_held_.find(holder.id);
          FUZZ_CHECK(it != connections_held_.end() && it->second.state == State::holding &&
                     it->second.name == state.name);
        } else {
          FUZZ_CHECK(!holder.expires || table.next_deadline());
        }
      }
      for (const auto& waiter : state.waiters) {
        const auto it = connections_held_.find(waiter.id);
        FUZZ_CHECK(it != connections_held_.end() && it->second.state == State::waiting &&
                   it->second.name == state.name);
      }
    }
    FUZZ_CHECK(held_names == table.held_count());
    FUZZ_CHECK(holders[0] == table.holder_count(tnl::HoldKind::connection));
    FUZZ_CHECK(holders[1] == table.holder_count(tnl::HoldKind::detached));
    FUZZ_CHECK(waiting == table.waiting_count());
    // Every connection that believes it holds a name is one of its holders.
    for (const auto& [id, connection] : connections_held_) {
      if (connection.state != State::holding) continue;
      const auto& names_holders = table.holders(connection.name);
      FUZZ_CHECK(std::any_of(names_holders.begin(), names_holders.end(),
                             [id = id](const LockTable::Holder& holder) { return holder.id == id; }));
    }
  }

 private:
  enum class State { waiting, holding, done };
  /// A line-protocol connection's lock, as its LockSession keeps it.
  struct ConnectionModel {
    std::string name;
    State state = State::waiting;
    int completions = 0;
    bool lost = false;  ///< taken away (an admin's forced release): its watcher was told
  };
  /// Told when the backend takes a connection's hold away, as LockSession is.
  class Watcher : public tnl::HoldWatcher {
   public:
    explicit Watcher(World& world) : world_(world) {}
    void lost(const LockId& id, std::string_view) override {
      const auto it = world_.connections_held_.find(id);
      FUZZ_CHECK(it != world_.connections_held_.end() && it->second.state == State::holding && !it->second.lost);
      // The hold is gone: the connection is told and closed, and does not release it again.
      it->second.lost = true;
      it->second.state = State::done;
    }

   private:
    World& world_;
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

  /// A new connection's `lock` line, as LockSession acts on it.
  void line_lock(std::string_view line) {
    const auto request = tnl::parse_request(line);
    if (!request || request->action != tnl::action::lock) return;
    const auto parsed = tnl::parse_lock_options(*request);
    if (!std::holds_alternative<tnl::LockOptions>(parsed)) return;
    const auto& options = std::get<tnl::LockOptions>(parsed);
    tnl::AcquireRequest acquire;
    acquire.name = options.name;
    acquire.limit = options.limit;
    acquire.client_id = options.client_id;
    acquire.peer = "127.0.0.1:40000";
    acquire.reason = options.reason;
    acquire.deadline = tnl::AcquireRequest::wait_deadline(options.wait_seconds, tnl::AcquireRequest::Clock::now());
    acquire.kind = options.detached ? tnl::HoldKind::detached : tnl::HoldKind::connection;
    if (options.ttl_seconds) acquire.ttl = tnl::AcquireRequest::seconds(*options.ttl_seconds);
    const bool detached = options.detached;
    // Set before asking: the completion may run before acquire() returns.
    auto model = std::make_shared<std::optional<LockId>>();
    auto done = [this, model, detached](const tnl::AcquireResult& result) {
      FUZZ_CHECK(*model && **model == result.id);
      ConnectionModel& connection = connections_held_.at(result.id);
      FUZZ_CHECK(++connection.completions == 1);  // exactly once
      FUZZ_CHECK(connection.state == State::waiting);
      if (result.outcome == tnl::AcquireOutcome::granted) {
        granted_ids_.push_back(result.id);
        // A detached lock leaves its connection at once; a connection's lock stays with it.
        connection.state = detached ? State::done : State::holding;
      } else {
        connection.state = State::done;
      }
    };
    // The id is the backend's: known once acquire() returns, but the completion may come
    // first; the model is made under a provisional id and moved.
    const LockId provisional{0, next_provisional_++};
    connections_held_[provisional] = ConnectionModel{options.name};
    *model = provisional;
    const LockId id = backend_.acquire(
        std::move(acquire),
        [this, done, model, provisional](const tnl::AcquireResult& result) {
          // Ran before acquire() returned: move the model to the real id now.
          if (**model == provisional) adopt(provisional, result.id, *model);
          done(result);
        },
        detached ? std::weak_ptr<tnl::HoldWatcher>{} : std::weak_ptr<tnl::HoldWatcher>(watcher_));
    if (**model == provisional) adopt(provisional, id, *model);
    FUZZ_CHECK(**model == id);
  }

  /// Moves the model made under `provisional` to the backend's `id`.
  void adopt(const LockId& provisional, const LockId& id, std::optional<LockId>& model) {
    auto node = connections_held_.extract(provisional);
    FUZZ_CHECK(!node.empty() && connections_held_.count(id) == 0);
    node.key() = id;
    connections_held_.insert(std::move(node));
    model = id;
  }

  /// A connection ends: its hold is freed, its wait withdrawn.
  void close(std::string_view which) {
    if (connections_held_.empty()) return;
    std::size_t n = 0;
    for (const char c : which.substr(0, 6)) n = n * 10 + static_cast<unsigned char>(c) % 10;
    auto it = std::next(connections_held_.begin(), static_cast<std::ptrdiff_t>(n % connections_held_.size()));
    const LockId id = it->first;
    ConnectionModel& connection = it->second;
    if (connection.state == State::holding) {
      connection.state = State::done;
      int answered = 0;
      backend_.release(id, tnl::ReleaseBy::holder, "released by fuzz", [&answered](tnl::ReleaseOutcome outcome) {
        ++answered;
        FUZZ_CHECK(outcome == tnl::ReleaseOutcome::released);
      });
      FUZZ_CHECK(answered == 1);
    } else if (connection.state == State::waiting) {
      connection.state = State::done;
      FUZZ_CHECK(backend_.table().waiters(connection.name) > 0);
      FUZZ_CHECK(backend_.cancel(id));  // still waiting: the cancel wins, no completion follows
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
        name_was_in_use = !backend_.table().snapshot(*create_name).empty();
      }
    }

    std::optional<tnl::HttpResponse> answer;
    int calls = 0;
    api_.handle(request, [&](tnl::HttpResponse response) {
      ++calls;
      answer = std::move(response);
    });
    // The local backend answers before its calls return: so does the API, exactly once.
    FUZZ_CHECK(calls == 1 && answer);
    const tnl::HttpResponse& response = *answer;
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
      const auto held = backend_.table().find(*id);
      FUZZ_CHECK(held && held->name == *create_name && held->holder.kind == tnl::HoldKind::detached);
      granted_ids_.push_back(*id);
    }
    if (create && name_was_in_use) FUZZ_CHECK(response.status != 201);
    if (response.status == 200 && parts.size() == 4 && parts[0] == "api" && parts[1] == "v1alpha1" &&
        ((method == "DELETE" && parts[2] == "lock") || (is_get && parts[2] == "unlock"))) {
      // Released: the hold is gone.
      const auto id = LockId::parse(parts[3]);
      FUZZ_CHECK(id && !backend_.table().find(*id));
    }
    if (response.status == 200 && is_get && parts == std::vector<std::string>{"api", "v1alpha1", "locks", "list"}) {
      const auto list = nlohmann::json::parse(response.body);
      FUZZ_CHECK(list.at("locks").is_array() && list.at("locks").size() <= list.at("perPage").get<std::size_t>());
      std::size_t total = 0;
      for (const auto& state : backend_.table().snapshot()) {
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
  tnl::LockStore store_{std::filesystem::path{}};
  tnl::ServerStats stats_;
  tnl::ConnectionManager connections_{io_};
  tnl::LocalLockBackend backend_{io_, store_, stats_};
  tnl::HttpApi api_;
  const bool token_required_;
  /// Orders ids (for std::map).
  struct IdLess {
    bool operator()(const LockId& a, const LockId& b) const {
      return a.high != b.high ? a.high < b.high : a.low < b.low;
    }
  };
  /// The line-protocol connections by their request's id (std::map: CLOSE picks by index).
  std::map<LockId, ConnectionModel, IdLess> connections_held_;
  const std::shared_ptr<Watcher> watcher_ = std::make_shared<Watcher>(*this);
  std::vector<LockId> granted_ids_;
  std::uint64_t next_provisional_ = 1;
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
