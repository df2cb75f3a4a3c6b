// The HTTP admin API (docs/HTTP-API.md) with no I/O: a request in, a response out, now or
// later.
//
// A table from method and path pattern to handler, as RequestHandler has for lines;
// HttpServer does the HTTP itself and hands each request here on the event loop. Every
// lock operation goes to the LockBackend, whose answers may come before handle() returns
// or on a later turn of the loop: a handler continues inside the backend's completion, and
// hands its answer to `respond` there (exactly once per request, either way).
//
// Besides the admin token, it refuses what a browser sends on behalf of another site
// (docs/HTTP-API.md, "Browsers and other sites"): a state-changing request with a foreign
// Origin (or Sec-Fetch-Site cross-site/same-site and no Origin of ours) gets 403, and a body
// that is not `application/json` gets 415, so that no HTML form or no-cors fetch can create,
// renew or release a lock. With an admin token, lock ids (capabilities: whoever knows a
// detached lock's id can renew or release it where no token is asked) are shown only to
// requests that carry the token.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lock_backend.hpp"
#include "server_stats.hpp"

namespace tnl {

class ConnectionManager;

/// One HTTP request, already parsed.
struct HttpRequest {
  std::string method;         ///< "GET", "POST", ...
  std::string path;           ///< without the query, percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded, in order
  std::string authorization;  ///< the Authorization header, or empty
  std::string body;
  std::string peer;           ///< "address:port" of the client, for logs
  std::optional<std::string> host;            ///< the Host header, if sent
  std::optional<std::string> origin;          ///< the Origin header, if sent (browsers send it on writes)
  std::optional<std::string> sec_fetch_site;  ///< the Sec-Fetch-Site header, if sent
  std::optional<std::string> content_type;    ///< the Content-Type header, if sent

  /// The last value of query parameter `key`, if present.
  [[nodiscard]] const std::string* query_param(std::string_view key) const;
};

/// What to answer.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< besides Content-Type
  /// Answers a request that created, renewed or released a lock: its connection is not
  /// evicted while the client takes it (HttpConnection). Errors changed nothing: not set.
  bool changed_locks = false;
  /// Run (on the event loop) when the answer never reaches its client: its connection ended
  /// or gave up on it (told 503 after the answer timeout). Undoes what only this answer
  /// could have told of: a lock created for a client that never learns its id is released.
  /// Empty: nothing to undo.
  std::function<void()> undelivered = nullptr;
};

class HttpApi {
 public:
  /// Largest request body answered; larger ones get 413 (a lock request is a few hundred bytes).
  static constexpr std::size_t max_body_bytes = 8 * 1024;
  /// Takes the answer to one request.
  using Respond = std::function<void(HttpResponse response)>;

  /// `admin_token` empty: nothing needs a token.
  HttpApi(LockBackend& backend, const ServerStats& stats, const ConnectionManager& connections,
          std::string admin_token, std::string status_page);
  ~HttpApi() = default;
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  /// Answers one request: calls `respond` exactly once, before or after returning (once the
  /// backend has answered). `request` is not used after handle() returns. An answer whose
  /// backend completion comes after this HttpApi is gone is a 503 (the server is going).
  void handle(const HttpRequest& request, Respond respond);
  /// From now on /readyz answers 503.
  void shutting_down() { ready_ = false; }

 private:
  /// Path segments matched so far: ":id" patterns capture here.
  struct Match {
    std::string id;
  };
  using Handler = void (HttpApi::*)(const HttpRequest&, const Match&, Respond);
  /// What a route needs from the request.
  enum class Access : std::uint8_t {
    open,           ///< anyone
    lists_ids,      ///< anyone, but ids only with the admin token (when there is one)
    changes_locks,  ///< the admin token (when there is one), and no other site's browser
  };
  struct Route {
    std::string_view method;
    std::vector<std::string_view> pattern;  ///< literal segments, or ":id"
    Handler handler;
    Access access;
    bool takes_json = false;  ///< the body must be `Content-Type: application/json`
  };

  void create_lock(const HttpRequest& request, const Match&, Respond respond);
  /// The answer to a create the backend did not grant (`outcome`), from a read of `name`.
  void refuse_create(AcquireOutcome outcome, const std::string& name, bool with_ids, Respond respond);
  void get_lock(const HttpRequest& request, const Match& match, Respond respond);
  void release_lock(const HttpRequest& request, const Match& match, Respond respond);
  void renew_lock(const HttpRequest& request, const Match& match, Respond respond);
  /// PUT /lock/{id}: a new who and/or event_id (Tracker's UpdateLock).
  void update_lock(const HttpRequest& request, const Match& match, Respond respond);
  void list_locks(const HttpRequest& request, const Match&, Respond respond);
  void stats(const HttpRequest& request, const Match&, Respond respond);
  void server_info(const HttpRequest& request, const Match&, Respond respond);
  void metrics(const HttpRequest& request, const Match&, Respond respond);
  void healthz(const HttpRequest& request, const Match&, Respond respond);
  void readyz(const HttpRequest& request, const Match&, Respond respond);
  void status_page(const HttpRequest& request, const Match&, Respond respond);

  /// The 503 for a backend that answered `unavailable`: "server is shutting down" once it is
  /// going away (or this HttpApi is gone: `alive` expired), "backend unavailable" before.
  [[nodiscard]] HttpResponse unavailable(const std::weak_ptr<const bool>& alive) const;

  /// Whether the request carries the admin token (always true without one).
  [[nodiscard]] bool authorized(const HttpRequest& request) const;
  /// Whether lock ids may be shown: no admin token configured, or the request carries it.
  [[nodiscard]] bool reveals_ids(const HttpRequest& request) const;

  const std::vector<Route> routes_;
  LockBackend& backend_;
  const ServerStats& stats_;
  const ConnectionManager& connections_;
  const std::string admin_token_;
  const std::string status_page_;
  const std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  bool ready_ = true;
  /// Expires with this HttpApi: a backend completion that comes later answers 503 (the
  /// server is going away) and touches nothing of it.
  const std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);
};

}  // namespace tnl
