#include "http_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "connection_manager.hpp"
#include "lock_options.hpp"
#include "lock_table_json.hpp"
#include "metrics_text.hpp"
#include "protocol.hpp"
#include "stats_json.hpp"

namespace tnl {

namespace {

using json = nlohmann::ordered_json;

constexpr std::size_t default_per_page = 100;
constexpr std::size_t max_per_page = 1000;

HttpResponse json_response(int status, const json& body) { return HttpResponse{status, "application/json", dump_json(body), {}}; }

HttpResponse error(int status, std::string_view message) { return json_response(status, json{{"error", message}}); }

/// `response`, marked as the answer to a request that created, renewed or released a lock:
/// its client must learn of it (HttpConnectionManager keeps it from eviction a while).
HttpResponse changed(HttpResponse response) {
  response.changed_locks = true;
  return response;
}

/// Splits "/a/b/c" into {"a", "b", "c"}; empty segments (double or trailing slashes) are dropped.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

/// Compares without returning early, so that timing reveals at most the token's length.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < given.size(); ++i) difference |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return difference == 0;
}

/// A positive integer query parameter no larger than `max`, or `fallback` when absent.
std::optional<std::size_t> positive_param(const HttpRequest& request, std::string_view key, std::size_t fallback,
                                          std::size_t max) {
  const std::string* text = request.query_param(key);
  if (!text) return fallback;
  std::size_t value = 0;
  const auto [end, problem] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (problem != std::errc{} || end != text->data() + text->size() || value < 1 || value > max) return std::nullopt;
  return value;
}

/// A TTL from JSON: a number of seconds in [min_ttl_seconds, max_ttl_seconds].
std::optional<LockTable::Clock::duration> ttl_from_json(const json& value) {
  if (!value.is_number()) return std::nullopt;
  const double seconds = value.get<double>();
  if (!is_valid_ttl_seconds(seconds)) return std::nullopt;
  return LockTable::seconds(seconds);
}

std::string lower(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(), [](unsigned char c) { return std::tolower(c); });
  return result;
}

/// Whether `origin` ("scheme://host[:port]", as browsers send it) is the origin whose
/// authority is `host` (the Host header): the page making the request is ours. A default
/// port is left out of both by browsers, but may be written in Host.
bool same_origin(std::string_view origin, const std::optional<std::string>& host) {
  if (!host) return false;
  const auto separator = origin.find("://");
  if (separator == std::string_view::npos) return false;  // includes "null" (sandboxed, file:)
  const std::string scheme = lower(origin.substr(0, separator));
  const std::string authority = lower(origin.substr(separator + 3));
  const std::string ours = lower(*host);
  if (authority.empty() || authority.find('/') != std::string::npos) return false;
  if (authority == ours) return true;
  return (scheme == "http" && authority + ":80" == ours) || (scheme == "https" && authority + ":443" == ours);
}

/// Whether a browser sent this on behalf of a page that is not ours. Browsers send Origin on
/// every POST and DELETE; a cross-site navigation or image (GET /unlock/{id}) has no Origin
/// but Sec-Fetch-Site says where it came from. Clients that are not browsers send neither.
bool from_another_site(const HttpRequest& request) {
  if (request.origin) return !same_origin(*request.origin, request.host);
  return request.sec_fetch_site && (*request.sec_fetch_site == "cross-site" || *request.sec_fetch_site == "same-site");
}

/// Whether the Content-Type is application/json (any parameters, any case).
bool is_json(const std::optional<std::string>& content_type) {
  if (!content_type) return false;
  std::string_view media = *content_type;
  media = strip(media.substr(0, media.find(';')));
  return lower(media) == "application/json";
}

/// The body as a JSON object, or the 400 to answer.
std::variant<json, HttpResponse> parse_object(const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return error(400, "request body must be a JSON object");
  return parsed;
}

}  // namespace

const std::string* HttpRequest::query_param(std::string_view key) const {
  const auto it = std::find_if(query.rbegin(), query.rend(), [&](const auto& pair) { return pair.first == key; });
  return it == query.rend() ? nullptr : &it->second;
}

HttpApi::HttpApi(LockService& locks, const ServerStats& stats, const ConnectionManager& connections,
                 std::string admin_token, std::string status_page)
    : routes_{
          {"POST", {"api", "v1alpha1", "lock"}, &HttpApi::create_lock, Access::changes_locks, true},
          // The caller gave the id: the record may show it.
          {"GET", {"api", "v1alpha1", "lock", ":id"}, &HttpApi::get_lock, Access::open},
          {"DELETE", {"api", "v1alpha1", "lock", ":id"}, &HttpApi::release_lock, Access::changes_locks},
          {"GET", {"api", "v1alpha1", "unlock", ":id"}, &HttpApi::release_lock, Access::changes_locks},
          {"POST", {"api", "v1alpha1", "lock", ":id", "renew"}, &HttpApi::renew_lock, Access::changes_locks, true},
          {"GET", {"api", "v1alpha1", "locks", "list"}, &HttpApi::list_locks, Access::lists_ids},
          {"GET", {"api", "v1alpha1", "stats"}, &HttpApi::stats, Access::open},
          {"GET", {"api", "v1alpha1", "server"}, &HttpApi::server_info, Access::open},
          {"GET", {"metrics"}, &HttpApi::metrics, Access::open},
          {"GET", {"healthz"}, &HttpApi::healthz, Access::open},
          {"GET", {"readyz"}, &HttpApi::readyz, Access::open},
          {"GET", {}, &HttpApi::status_page, Access::open},
      },
      locks_(locks),
      stats_(stats),
      connections_(connections),
      admin_token_(std::move(admin_token)),
      status_page_(std::move(status_page)) {}

HttpResponse HttpApi::handle(const HttpRequest& request) {
  if (request.body.size() > max_body_bytes) return error(413, "request body larger than 8192 bytes");
  const auto parts = segments(request.path);
  std::vector<std::string_view> allowed;
  for (const Route& route : routes_) {
    if (route.pattern.size() != parts.size()) continue;
    Match match;
    bool matches = true;
    for (std::size_t i = 0; i < parts.size() && matches; ++i) {
      if (route.pattern[i] == ":id") {
        match.id = std::string(parts[i]);
      } else {
        matches = route.pattern[i] == parts[i];
      }
    }
    if (!matches) continue;
    // HEAD is GET without a body (HttpServer leaves the body out), but only where GET reads:
    // asking for the headers of GET /unlock/{id} must not release the lock.
    const bool head_of_read = route.method == "GET" && request.method == "HEAD" && route.access != Access::changes_locks;
    if (route.method != request.method && !head_of_read) {
      allowed.push_back(route.method);
      continue;
    }
    if (route.access == Access::changes_locks && from_another_site(request)) {
      spdlog::warn("HTTP {} {} from {}: refused, sent by a page of another site (Origin {})", request.method,
                   request.path, request.peer, request.origin.value_or("none"));
      return error(403, "cross-site request refused");
    }
    // With the token, a wrong one is an error even where none is needed: the caller meant to
    // authenticate, and should hear that it did not.
    const bool needs_token = route.access == Access::changes_locks ||
                             (route.access == Access::lists_ids && !request.authorization.empty());
    if (needs_token && !authorized(request)) {
      spdlog::warn("HTTP {} {} from {}: missing or invalid bearer token", request.method, request.path, request.peer);
      HttpResponse denied = error(401, "missing or invalid bearer token");
      denied.headers.emplace_back("WWW-Authenticate", "Bearer");
      return denied;
    }
    if (route.takes_json && !is_json(request.content_type)) {
      return error(415, "request body must be Content-Type: application/json");
    }
    return (this->*route.handler)(request, match);
  }
  if (allowed.empty()) return error(404, "not found");
  HttpResponse refused = error(405, "method not allowed");
  std::string allow;
  for (const auto method : allowed) allow += (allow.empty() ? "" : ", ") + std::string(method);
  refused.headers.emplace_back("Allow", allow);
  return refused;
}

bool HttpApi::authorized(const HttpRequest& request) const {
  if (admin_token_.empty()) return true;
  // The scheme name is case-insensitive (RFC 9110, 11.1).
  constexpr std::string_view scheme = "bearer ";
  const std::string_view header = request.authorization;
  if (header.size() <= scheme.size() ||
      !std::equal(scheme.begin(), scheme.end(), header.begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    return false;
  }
  return constant_time_equal(strip(header.substr(scheme.size())), admin_token_);
}

bool HttpApi::reveals_ids(const HttpRequest& request) const { return admin_token_.empty() || authorized(request); }

HttpResponse HttpApi::create_lock(const HttpRequest& request, const Match&) {
  auto parsed = parse_object(request.body);
  if (auto* bad = std::get_if<HttpResponse>(&parsed)) return std::move(*bad);
  const json& body = std::get<json>(parsed);

  const auto service = body.find("service");
  if (service == body.end() || !service->is_string() || !is_valid_lock_name(service->get<std::string>())) {
    return error(400, "service must be a lock name matching ^[a-zA-Z0-9_-]+$");
  }
  const auto who = body.find("who");
  if (who == body.end() || !who->is_string() || !is_valid_reason(who->get<std::string>())) {
    return error(400, "who must be a string of at most 256 printable bytes");
  }
  std::string reason;
  if (const auto it = body.find("reason"); it != body.end() && !it->is_null()) {
    if (!it->is_string() || !is_valid_reason(it->get<std::string>())) {
      return error(400, "reason must be a string of at most 256 printable bytes");
    }
    reason = it->get<std::string>();
  }
  std::optional<LockTable::Clock::duration> ttl;
  if (const auto it = body.find("ttl"); it != body.end() && !it->is_null()) {
    ttl = ttl_from_json(*it);
    if (!ttl) return error(400, "ttl must be a number of seconds >= 0.1 and <= 31536000");
  }

  const std::string name = service->get<std::string>();
  const LockId id = locks_.next_id();
  // The record answered shows the token: it must be durable (LockTable::TokenSource::durable).
  LockTable::Request lock_request{name,     locks_.next_detached_owner(), who->get<std::string>(), "", std::move(reason), 1,
                                  std::nullopt, id, LockTable::Kind::detached, ttl, true};
  std::optional<LockTable::Outcome> outcome;
  // No deadline, so the answer comes before acquire() returns.
  locks_.acquire(std::move(lock_request), [&](LockTable::Outcome result, LockTable::Token) { outcome = result; });
  switch (*outcome) {
    case LockTable::Outcome::granted:
      spdlog::info("detached lock '{}' ({}) created for {} over HTTP from {}", name, id.log_str(), who->get<std::string>(),
                   request.peer);
      return changed(record_response(201, id));
    case LockTable::Outcome::failed:
      return error(503, "cannot persist the lock, try again later");
    case LockTable::Outcome::unavailable:
      return error(503, "server is shutting down");
    case LockTable::Outcome::not_granted:
    case LockTable::Outcome::timed_out:
    case LockTable::Outcome::limit_mismatch:
      break;
  }
  const auto& holders = locks_.table().holders(name);
  if (*outcome == LockTable::Outcome::not_granted && holders.empty()) {
    if (const auto resume = locks_.table().grants_held_until(LockTable::Clock::now())) {
      // Not a conflict: at start with --lock-delay nothing is granted for a while.
      const auto wait = std::chrono::ceil<std::chrono::seconds>(*resume - LockTable::Clock::now());
      HttpResponse response = error(503, "server is starting: nothing is granted during its start grace");
      response.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(1, wait.count())));
      return response;
    }
  }
  json conflict{{"error", "lock already exists"}};
  if (!holders.empty()) {
    const ClockReadings clocks;
    conflict["existingLock"] = {{"id", holders.front().id.str()},
                                {"who", holders.front().client_id},
                                {"createdAt", format_rfc3339(clocks.wall(holders.front().since))}};
    // Unreachable today (creating needs the token when there is one); kept in step with list.
    if (!reveals_ids(request)) conflict["existingLock"].erase("id");
  }
  return json_response(409, conflict);
}

HttpResponse HttpApi::get_lock(const HttpRequest&, const Match& match) {
  const auto id = LockId::parse(match.id);
  if (!id) return error(400, "invalid lock id");
  if (!locks_.table().find(*id)) return error(404, "lock not found");
  return record_response(200, *id);
}

HttpResponse HttpApi::release_lock(const HttpRequest& request, const Match& match) {
  const auto id = LockId::parse(match.id);
  if (!id) return error(400, "invalid lock id");
  switch (locks_.release(*id, "HTTP from " + request.peer, true)) {
    case LockService::Release::released:
    case LockService::Release::forced:
      return changed(json_response(200, json{{"success", true}, {"message", "Lock released successfully"}}));
    case LockService::Release::not_saved:
      return error(503, "cannot persist the lock, try again later");
    case LockService::Release::unknown:
    case LockService::Release::held_by_connection:
      break;
  }
  return error(404, "lock not found");
}

HttpResponse HttpApi::renew_lock(const HttpRequest& request, const Match& match) {
  const auto id = LockId::parse(match.id);
  if (!id) return error(400, "invalid lock id");
  auto parsed = parse_object(request.body);
  if (auto* bad = std::get_if<HttpResponse>(&parsed)) return std::move(*bad);
  const json& body = std::get<json>(parsed);
  const auto ttl_field = body.find("ttl");
  if (ttl_field == body.end()) return error(400, "ttl must be a number of seconds >= 0.1 and <= 31536000");
  const auto ttl = ttl_from_json(*ttl_field);
  if (!ttl) return error(400, "ttl must be a number of seconds >= 0.1 and <= 31536000");
  switch (locks_.renew(*id, ttl)) {
    case LockService::Renew::renewed: return changed(record_response(200, *id));
    case LockService::Renew::unknown: return error(404, "lock not found");
    case LockService::Renew::held_by_connection: return error(409, "lock is held by a connection");
    case LockService::Renew::not_saved: return error(503, "cannot persist the lock, try again later");
  }
  return error(500, "unexpected renewal outcome");
}

HttpResponse HttpApi::list_locks(const HttpRequest& request, const Match&) {
  const auto page = positive_param(request, "page", 1, std::numeric_limits<std::size_t>::max() / max_per_page);
  if (!page) return error(400, "page must be a positive integer");
  const auto per_page = positive_param(request, "per_page", default_per_page, max_per_page);
  if (!per_page) return error(400, "per_page must be an integer from 1 to 1000");
  std::optional<std::string> only;
  if (const std::string* service = request.query_param("service")) {
    if (!is_valid_lock_name(*service)) return error(400, "service must be a lock name matching ^[a-zA-Z0-9_-]+$");
    only = *service;
  }

  // Sorted by name, then in grant order (the order holders are kept in), each name's
  // lock-delays after its holders (records of kind "delay"); shared by every request while
  // the table does not change.
  const bool with_ids = reveals_ids(request);
  const ClockReadings clocks;
  const auto listing = listings_.listing(locks_.table(), only, clocks.steady_now);
  const auto& names = *listing;
  std::size_t total = 0;
  for (const auto& state : names) total += state.holders.size() + state.delays.size();
  const std::size_t first = (*page - 1) * *per_page;
  json page_locks = json::array();
  std::size_t index = 0;
  for (const auto& state : names) {
    const std::size_t records = state.holders.size() + state.delays.size();
    if (index + records <= first) {
      index += records;
      continue;
    }
    for (const auto* list : {&state.holders, &state.delays}) {
      for (const auto& holder : *list) {
        if (index >= first && page_locks.size() < *per_page) {
          page_locks.push_back(lock_record(state.name, state.limit, holder, state.waiters, clocks, with_ids,
                                           locks_.table().token_durable(holder.token)));
        }
        ++index;
      }
    }
    if (page_locks.size() >= *per_page) break;
  }
  return json_response(200, json{{"locks", std::move(page_locks)}, {"total", total}, {"page", *page},
                                 {"perPage", *per_page}});
}

HttpResponse HttpApi::stats(const HttpRequest&, const Match&) {
  return HttpResponse{200, "application/json", stats_to_json(locks_.table(), stats_, connections_.size()).dump(), {}};
}

HttpResponse HttpApi::server_info(const HttpRequest&, const Match&) {
  return json_response(200, json{{"version", TNL_VERSION},
                                 {"authRequired", !admin_token_.empty()},
                                 {"startedAt", format_rfc3339(started_)}});
}

HttpResponse HttpApi::metrics(const HttpRequest&, const Match&) {
  return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                      render_metrics(locks_.table(), stats_, connections_.size(), started_), {}};
}

HttpResponse HttpApi::healthz(const HttpRequest&, const Match&) { return json_response(200, json{{"status", "ok"}}); }

HttpResponse HttpApi::readyz(const HttpRequest&, const Match&) {
  if (!ready_) return json_response(503, json{{"status", "shutting down"}});
  return json_response(200, json{{"status", "ready"}});
}

HttpResponse HttpApi::status_page(const HttpRequest&, const Match&) {
  HttpResponse page{200, "text/html; charset=utf-8", status_page_, {}};
  // Everything is inline: forbid anything else, so a lock name can never load or run foreign code.
  page.headers.emplace_back("Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'");
  page.headers.emplace_back("X-Content-Type-Options", "nosniff");
  page.headers.emplace_back("Cache-Control", "no-store");
  return page;
}

HttpResponse HttpApi::record_response(int status, const LockId& id) const {
  const auto held = locks_.table().find(id);
  const auto names = locks_.table().snapshot(held->name);
  const ClockReadings clocks;
  return json_response(status, lock_record(held->name, names.front().limit, held->holder, names.front().waiters, clocks,
                                           true, locks_.table().token_durable(held->holder.token)));
}

}  // namespace tnl
