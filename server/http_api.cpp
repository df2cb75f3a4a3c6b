#include "http_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <variant>
#include <nlohmann/json.hpp>

#include "connection_manager.hpp"
#include "lock_options.hpp"
#include "lock_view_json.hpp"
#include "metrics_text.hpp"
#include "protocol.hpp"
#include "stats_json.hpp"
#include "tracker_locks.hpp"
#include "lock_id_log.hpp"

namespace tnl {

namespace {

using json = nlohmann::ordered_json;

constexpr std::size_t default_per_page = tracker_default_per_page;
constexpr std::size_t max_per_page = tracker_max_per_page;

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
std::optional<LockBackend::Clock::duration> ttl_from_json(const json& value) {
  if (!value.is_number()) return std::nullopt;
  const double seconds = value.get<double>();
  if (!is_valid_ttl_seconds(seconds)) return std::nullopt;
  return AcquireRequest::seconds(seconds);
}

/// The answer to a request whose backend completion came after the HttpApi was gone.
HttpResponse server_going() { return error(503, "server is shutting down"); }

/// The answer when the backend cannot serve (etcd out of reach, or it could not read its
/// locks): nothing was done; try again in a moment, or on another replica.
HttpResponse backend_unavailable() {
  HttpResponse response = error(503, "backend unavailable");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

/// `status` with the record of hold `id` as `view` shows it, or nullopt when it is not held.
std::optional<HttpResponse> record_response(int status, const LockView& view, const LockId& id) {
  const auto [name, holder] = find_holder(view, id);
  if (!holder) return std::nullopt;
  return json_response(status, lock_record(*name, *holder, view.as_of, true));
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

HttpApi::HttpApi(LockBackend& backend, const ServerStats& stats, const ConnectionManager& connections,
                 std::string admin_token, std::string status_page)
    : routes_{
          {"POST", {"api", "v1alpha1", "lock"}, &HttpApi::create_lock, Access::changes_locks, true},
          // The caller gave the id: the record may show it.
          {"GET", {"api", "v1alpha1", "lock", ":id"}, &HttpApi::get_lock, Access::open},
          {"DELETE", {"api", "v1alpha1", "lock", ":id"}, &HttpApi::release_lock, Access::changes_locks},
          {"PUT", {"api", "v1alpha1", "lock", ":id"}, &HttpApi::update_lock, Access::changes_locks, true},
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
      backend_(backend),
      stats_(stats),
      connections_(connections),
      admin_token_(std::move(admin_token)),
      status_page_(std::move(status_page)) {}

void HttpApi::handle(const HttpRequest& request, Respond respond) {
  if (request.body.size() > max_body_bytes) return respond(error(413, "request body larger than 8192 bytes"));
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
      return respond(error(403, "cross-site request refused"));
    }
    // With the token, a wrong one is an error even where none is needed: the caller meant to
    // authenticate, and should hear that it did not.
    const bool needs_token = route.access == Access::changes_locks ||
                             (route.access == Access::lists_ids && !request.authorization.empty());
    if (needs_token && !authorized(request)) {
      spdlog::warn("HTTP {} {} from {}: missing or invalid bearer token", request.method, request.path, request.peer);
      HttpResponse denied = error(401, "missing or invalid bearer token");
      denied.headers.emplace_back("WWW-Authenticate", "Bearer");
      return respond(std::move(denied));
    }
    if (route.takes_json && !is_json(request.content_type)) {
      return respond(error(415, "request body must be Content-Type: application/json"));
    }
    return (this->*route.handler)(request, match, std::move(respond));
  }
  if (allowed.empty()) return respond(error(404, "not found"));
  HttpResponse refused = error(405, "method not allowed");
  std::string allow;
  for (const auto method : allowed) allow += (allow.empty() ? "" : ", ") + std::string(method);
  refused.headers.emplace_back("Allow", allow);
  respond(std::move(refused));
}

bool HttpApi::authorized(const HttpRequest& request) const {
  return bearer_token_matches(request.authorization, admin_token_);
}

bool HttpApi::reveals_ids(const HttpRequest& request) const { return admin_token_.empty() || authorized(request); }

void HttpApi::create_lock(const HttpRequest& request, const Match&, Respond respond) {
  auto parsed = parse_object(request.body);
  if (auto* bad = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*bad));
  const json& body = std::get<json>(parsed);

  const auto service = body.find("service");
  if (service == body.end() || !service->is_string() || !is_valid_lock_name(service->get<std::string>())) {
    return respond(error(400, "service must be a lock name matching ^[a-zA-Z0-9_-]+$"));
  }
  const auto who = body.find("who");
  if (who == body.end() || !who->is_string() || !is_valid_reason(who->get<std::string>())) {
    return respond(error(400, "who must be " + reason_rule_text()));
  }
  std::string reason;
  if (const auto it = body.find("reason"); it != body.end() && !it->is_null()) {
    if (!it->is_string() || !is_valid_reason(it->get<std::string>())) {
      return respond(error(400, "reason must be " + reason_rule_text()));
    }
    reason = it->get<std::string>();
  }
  std::optional<LockBackend::Clock::duration> ttl;
  if (const auto it = body.find("ttl"); it != body.end() && !it->is_null()) {
    ttl = ttl_from_json(*it);
    if (!ttl) return respond(error(400, "ttl must be " + ttl_rule_text()));
  }

  AcquireRequest lock_request = tracker_lock_request(service->get<std::string>(), who->get<std::string>(),
                                                     std::move(reason), ttl);
  const std::string name = lock_request.name;
  backend_.acquire(std::move(lock_request),
                   [this, alive = std::weak_ptr<const bool>(alive_), respond = std::move(respond), name,
                    who = who->get<std::string>(), peer = request.peer,
                    with_ids = reveals_ids(request), ttl](const AcquireResult& result) mutable {
                     if (alive.expired()) {
                       if (result.outcome == AcquireOutcome::granted) {
                         spdlog::warn("detached lock '{}' ({}) created for {} over HTTP from {} as the server went away",
                                      name, LogId{result.id}, who, peer);
                       }
                       return respond(server_going());
                     }
                     switch (result.outcome) {
                       case AcquireOutcome::granted:
                         spdlog::info("detached lock '{}' ({}) created for {} over HTTP from {}", name,
                                      LogId{result.id}, who, peer);
                         // The record as the backend keeps it (its times, its queue).
                         return backend_.read(
                             LockQuery{std::nullopt, result.id, true},
                             [&backend = backend_, respond = std::move(respond), name, who, peer, result,
                              ttl](LockView view) mutable {
                               // A client that does not get this answer (its connection ended,
                               // or it was told 503 meanwhile) never learns the id: the lock
                               // would be held for nobody (for ever, without a TTL), and its
                               // retry would meet it. Given back then.
                               const auto give_back = [&backend, id = result.id, peer] {
                                 backend.release(id, ReleaseBy::unlock,
                                                 "nobody: its HTTP client (" + peer + ") never got the answer", {});
                               };
                               if (auto record = record_response(201, view, result.id)) {
                                 record->undelivered = give_back;
                                 return respond(changed(std::move(*record)));
                               }
                               // Already gone again (a short lease, an admin), or the record
                               // could not be read (etcd out of reach just now): it was created
                               // all the same, and its creator must learn its id.
                               const auto now = std::chrono::system_clock::now();
                               if (!view.ok) view.as_of = now;
                               NameRecord gone{name, 1, {}, {}, {}};
                               HoldRecord holder;
                               holder.id = result.id;
                               holder.kind = HoldKind::detached;
                               holder.client_id = who;
                               holder.since = view.as_of;
                               holder.token = result.token;
                               holder.fenced = true;
                               holder.expires = view.as_of;
                               if (!view.ok) {  // as granted: its lease from now
                                 holder.since = now;
                                 holder.expires.reset();
                                 if (ttl) {
                                   holder.expires = now + std::chrono::duration_cast<std::chrono::system_clock::duration>(*ttl);
                                 }
                               }
                               HttpResponse created = json_response(201, lock_record(gone, holder, view.as_of, true));
                               created.undelivered = give_back;
                               respond(changed(std::move(created)));
                             });
                       case AcquireOutcome::failed:
                         return respond(error(503, "cannot persist the lock, try again later"));
                       case AcquireOutcome::unavailable:
                         return respond(unavailable(alive));
                       case AcquireOutcome::not_granted:
                       case AcquireOutcome::timed_out:
                       case AcquireOutcome::limit_mismatch:
                         return refuse_create(result.outcome, name, with_ids, std::move(respond));
                     }
                     respond(error(500, "unexpected lock outcome"));
                   });
}

void HttpApi::refuse_create(AcquireOutcome outcome, const std::string& name, bool with_ids, Respond respond) {
  backend_.read(LockQuery{name, std::nullopt, true, true}, [outcome, with_ids, respond = std::move(respond)](LockView view) {
    // Refused all the same; only who holds it cannot be told (an empty view, so no existingLock).
    const NameRecord* state = only_name(view);
    const HoldRecord* holder = state && !state->holders.empty() ? &state->holders.front() : nullptr;
    if (outcome == AcquireOutcome::not_granted && !holder && view.totals.start_grace_seconds_left > 0) {
      // Not a conflict: at start with --lock-delay nothing is granted for a while.
      const auto wait = static_cast<long long>(std::ceil(view.totals.start_grace_seconds_left));
      HttpResponse response = error(503, "server is starting: nothing is granted during its start grace");
      response.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(1, wait)));
      return respond(std::move(response));
    }
    json conflict{{"error", "lock already exists"}};
    if (holder) {
      conflict["existingLock"] = {
          {"id", holder->id.str()}, {"who", holder->client_id}, {"createdAt", format_rfc3339(holder->since)}};
      // Unreachable today (creating needs the token when there is one); kept in step with list.
      if (!with_ids) conflict["existingLock"].erase("id");
    }
    respond(json_response(409, conflict));
  });
}

void HttpApi::get_lock(const HttpRequest&, const Match& match, Respond respond) {
  const auto id = LockId::parse(match.id);
  if (!id) return respond(error(400, "invalid lock id"));
  backend_.read(LockQuery{std::nullopt, *id, true}, [id = *id, respond = std::move(respond)](LockView view) {
    if (!view.ok) return respond(backend_unavailable());  // not a 404: it may well be held
    auto record = record_response(200, view, id);
    respond(record ? std::move(*record) : error(404, "lock not found"));
  });
}

void HttpApi::release_lock(const HttpRequest& request, const Match& match, Respond respond) {
  const auto id = LockId::parse(match.id);
  if (!id) return respond(error(400, "invalid lock id"));
  backend_.release(*id, ReleaseBy::admin, "HTTP from " + request.peer,
                   [this, alive = std::weak_ptr<const bool>(alive_), respond = std::move(respond)](ReleaseOutcome outcome) {
                     switch (outcome) {
                       case ReleaseOutcome::released:
                       case ReleaseOutcome::forced:
                         return respond(changed(
                             json_response(200, json{{"success", true}, {"message", "Lock released successfully"}})));
                       case ReleaseOutcome::not_saved:
                         return respond(error(503, "cannot persist the lock, try again later"));
                       case ReleaseOutcome::unavailable:
                         return respond(unavailable(alive));
                       case ReleaseOutcome::unknown:
                       case ReleaseOutcome::held_by_connection:
                         break;
                     }
                     respond(error(404, "lock not found"));
                   });
}

void HttpApi::renew_lock(const HttpRequest& request, const Match& match, Respond respond) {
  const auto id = LockId::parse(match.id);
  if (!id) return respond(error(400, "invalid lock id"));
  auto parsed = parse_object(request.body);
  if (auto* bad = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*bad));
  const json& body = std::get<json>(parsed);
  const auto ttl_field = body.find("ttl");
  if (ttl_field == body.end()) return respond(error(400, "ttl must be " + ttl_rule_text()));
  const auto ttl = ttl_from_json(*ttl_field);
  if (!ttl) return respond(error(400, "ttl must be " + ttl_rule_text()));
  backend_.renew(*id, ttl,
                 [this, alive = std::weak_ptr<const bool>(alive_), id = *id,
                  respond = std::move(respond)](RenewOutcome outcome) mutable {
                   switch (outcome) {
                     case RenewOutcome::renewed:
                       if (alive.expired()) return respond(server_going());
                       return backend_.read(LockQuery{std::nullopt, id, true},
                                            [id, respond = std::move(respond)](LockView view) {
                                              // Renewed, but its record cannot be shown: a retry
                                              // renews again, which is harmless.
                                              if (!view.ok) return respond(backend_unavailable());
                                              auto record = record_response(200, view, id);
                                              // Renewed, but gone since (released meanwhile).
                                              respond(record ? changed(std::move(*record))
                                                             : error(404, "lock not found"));
                                            });
                     case RenewOutcome::unknown: return respond(error(404, "lock not found"));
                     case RenewOutcome::held_by_connection: return respond(error(409, "lock is held by a connection"));
                     case RenewOutcome::not_saved:
                       return respond(error(503, "cannot persist the lock, try again later"));
                     case RenewOutcome::unavailable: return respond(unavailable(alive));
                   }
                   respond(error(500, "unexpected renewal outcome"));
                 });
}

void HttpApi::update_lock(const HttpRequest& request, const Match& match, Respond respond) {
  const auto id = LockId::parse(match.id);
  if (!id) return respond(error(400, "invalid lock id"));
  auto parsed = parse_object(request.body);
  if (auto* bad = std::get_if<HttpResponse>(&parsed)) return respond(std::move(*bad));
  const json& body = std::get<json>(parsed);
  // Each field a string, or null / absent / "" (unchanged). `reason` is our records' name
  // for Tracker's `event_id`; given both, they must agree.
  TrackerUpdate update;
  const std::pair<const char*, std::string*> fields[] = {{"service", &update.service},
                                                         {"environment", &update.environment},
                                                         {"resource", &update.resource},
                                                         {"who", &update.who},
                                                         {"event_id", &update.event_id}};
  for (const auto& [key, out] : fields) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) continue;
    if (!it->is_string()) return respond(error(400, std::string(key) + " must be a string"));
    *out = it->get<std::string>();
  }
  if (const auto it = body.find("reason"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return respond(error(400, "reason must be a string"));
    const std::string reason = it->get<std::string>();
    if (!update.event_id.empty() && !reason.empty() && reason != update.event_id) {
      return respond(error(400, "reason and event_id differ: give one"));
    }
    if (update.event_id.empty()) update.event_id = reason;
  }
  if (std::string problem = tracker_update_problem(update); !problem.empty()) return respond(error(400, problem));

  backend_.read(LockQuery{std::nullopt, *id, true}, [this, alive = std::weak_ptr<const bool>(alive_), id = *id,
                                                     update = std::move(update), peer = request.peer,
                                                     respond = std::move(respond)](LockView view) mutable {
    if (alive.expired()) return respond(server_going());
    if (!view.ok) return respond(backend_unavailable());  // not a 404: it may well be held
    const auto [state, holder] = find_holder(view, id);
    if (!holder) return respond(error(404, "lock not found"));
    // A hold keeps its name for its life: 409, as for any request the lock's state refuses.
    if (tracker_update_moves(state->name, update)) {
      return respond(error(409, "a lock cannot move to another service, environment or resource: "
                                "release it and create another"));
    }
    HoldUpdate changes = tracker_hold_update(update, *holder);
    if (!changes.client_id && !changes.reason) return respond(*record_response(200, view, id));
    if (holder->kind != HoldKind::detached) return respond(error(409, "lock is held by a connection"));
    backend_.update(id, std::move(changes), [this, alive, id, peer, respond = std::move(respond)](UpdateOutcome outcome) {
      switch (outcome) {
        case UpdateOutcome::updated:
          if (alive.expired()) return respond(server_going());
          spdlog::info("detached lock ({}) updated over HTTP from {}", LogId{id}, peer);
          return backend_.read(LockQuery{std::nullopt, id, true}, [id, respond = std::move(respond)](LockView view) {
            // Updated, but its record cannot be shown: a retry updates again, which is harmless.
            if (!view.ok) return respond(backend_unavailable());
            auto record = record_response(200, view, id);
            // Updated, but gone since (released meanwhile).
            respond(record ? changed(std::move(*record)) : error(404, "lock not found"));
          });
        case UpdateOutcome::unknown: return respond(error(404, "lock not found"));
        case UpdateOutcome::held_by_connection: return respond(error(409, "lock is held by a connection"));
        case UpdateOutcome::not_saved: return respond(error(503, "cannot persist the lock, try again later"));
        case UpdateOutcome::unavailable: return respond(unavailable(alive));
      }
      respond(error(500, "unexpected update outcome"));
    });
  });
}

void HttpApi::list_locks(const HttpRequest& request, const Match&, Respond respond) {
  const auto page = positive_param(request, "page", 1, std::numeric_limits<std::size_t>::max() / max_per_page);
  if (!page) return respond(error(400, "page must be a positive integer"));
  const auto per_page = positive_param(request, "per_page", default_per_page, max_per_page);
  if (!per_page) return respond(error(400, "per_page must be an integer from 1 to 1000"));
  std::optional<std::string> only;
  if (const std::string* service = request.query_param("service")) {
    if (!is_valid_lock_name(*service)) {
      return respond(error(400, "service must be a lock name matching ^[a-zA-Z0-9_-]+$"));
    }
    only = *service;
  }

  // Sorted by name, then in grant order (the order holders are kept in), each name's
  // lock-delays after its holders (records of kind "delay"); the backend shares one listing
  // with every request while the locks do not change.
  const bool with_ids = reveals_ids(request);
  backend_.read(LockQuery{std::move(only), std::nullopt, true}, [page = *page, per_page = *per_page, with_ids,
                                                                 respond = std::move(respond)](LockView view) {
    if (!view.ok) return respond(backend_unavailable());  // an empty list would say nobody holds anything
    json page_locks = json::array();
    const std::size_t total = visit_page(view, page, per_page, [&](const NameRecord& state, const HoldRecord& holder) {
      page_locks.push_back(lock_record(state, holder, view.as_of, with_ids));
    });
    respond(json_response(
        200, json{{"locks", std::move(page_locks)}, {"total", total}, {"page", page}, {"perPage", per_page}}));
  });
}

void HttpApi::stats(const HttpRequest&, const Match&, Respond respond) {
  backend_.read(LockQuery{std::nullopt, std::nullopt, false},
                [this, alive = std::weak_ptr<const bool>(alive_), respond = std::move(respond)](LockView view) {
                  if (alive.expired()) return respond(server_going());
                  if (!view.ok) return respond(backend_unavailable());  // not made-up zeros
                  respond(HttpResponse{200, "application/json",
                                       stats_to_json(view.totals, stats_, connections_.size()).dump(), {}});
                });
}

void HttpApi::server_info(const HttpRequest&, const Match&, Respond respond) {
  respond(json_response(200, json{{"version", TNL_VERSION},
                                  {"authRequired", !admin_token_.empty()},
                                  {"startedAt", format_rfc3339(started_)}}));
}

void HttpApi::metrics(const HttpRequest&, const Match&, Respond respond) {
  backend_.read(LockQuery{std::nullopt, std::nullopt, false},
                [this, alive = std::weak_ptr<const bool>(alive_), respond = std::move(respond)](LockView view) {
                  if (alive.expired()) return respond(server_going());
                  // Answered even when the backend could not read its locks (the lock gauges
                  // are left out then): a failed scrape would hide the backend's own metrics,
                  // which say why.
                  std::string text = render_metrics(view, stats_, connections_.size(), started_);
                  backend_.render_metrics(text);
                  respond(HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), {}});
                });
}

HttpResponse HttpApi::unavailable(const std::weak_ptr<const bool>& alive) const {
  return alive.expired() || !ready_ ? server_going() : backend_unavailable();
}

void HttpApi::healthz(const HttpRequest&, const Match&, Respond respond) {
  respond(json_response(200, json{{"status", "ok"}}));
}

void HttpApi::readyz(const HttpRequest&, const Match&, Respond respond) {
  if (!ready_) return respond(json_response(503, json{{"status", "shutting down"}}));
  // A backend that cannot vouch for its holds (etcd out of reach) serves no lock request.
  if (!backend_.available()) return respond(json_response(503, json{{"status", "backend unavailable"}}));
  respond(json_response(200, json{{"status", "ready"}}));
}

void HttpApi::status_page(const HttpRequest&, const Match&, Respond respond) {
  HttpResponse page{200, "text/html; charset=utf-8", status_page_, {}};
  // Everything is inline: forbid anything else, so a lock name can never load or run foreign code.
  page.headers.emplace_back("Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'");
  page.headers.emplace_back("X-Content-Type-Options", "nosniff");
  page.headers.emplace_back("Cache-Control", "no-store");
  respond(std::move(page));
}

}  // namespace tnl
