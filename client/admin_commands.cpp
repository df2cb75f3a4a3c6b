#include "admin_commands.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <ostream>

#include "admin_format.hpp"
#include "cli_format.hpp"
#include "cli_support.hpp"
#include "duration.hpp"
#include "lock_id.hpp"
#include "lock_options.hpp"
#include "protocol.hpp"
#include "version.hpp"

namespace tnl::admin {

namespace {

using nlohmann::json;

constexpr const char* api = "/api/v1alpha1";

/// The answer of a successful call as JSON; any other answer throws AdminFailure.
/// `what` names the call in messages; `not_found` is the whole message for a 404
/// (empty: the generic one).
json expect_success(const HttpResponse& response, const std::string& what, const std::string& not_found = {}) {
  if (response.status >= 200 && response.status < 300) {
    try {
      return json::parse(response.body);
    } catch (const json::exception& e) {
      throw AdminFailure(admin_exit::unexpected,
                         fmt::format("{}: the server's answer is not JSON (HTTP {}): {}", what, response.status,
                                     e.what()));
    }
  }
  const std::string text = error_text(response.body);
  const std::string detail = text.empty() ? fmt::format("HTTP {}", response.status)
                                          : fmt::format("{} (HTTP {})", text, response.status);
  if (response.status == 401) {
    throw AdminFailure(admin_exit::unauthorized,
                       fmt::format("{}: {}; give the admin token with --token-file FILE or ${}", what, detail,
                                   env_token));
  }
  if (response.status == 404 && !not_found.empty()) throw AdminFailure(admin_exit::refused, not_found);
  if (response.status >= 400 && response.status < 500) {
    throw AdminFailure(admin_exit::refused, fmt::format("{}: {}", what, detail));
  }
  throw AdminFailure(admin_exit::unexpected, fmt::format("{}: unexpected answer from the server: {}", what, detail));
}

/// Checks that `value` is a JSON object (with an array `key`, when given).
void expect_shape(const json& value, const std::string& what, const char* array_key = nullptr) {
  if (!value.is_object() || (array_key && (!value.contains(array_key) || !value[array_key].is_array()))) {
    throw AdminFailure(admin_exit::unexpected,
                       fmt::format("{}: unexpected answer from the server: {}", what, value.dump().substr(0, 200)));
  }
}

/// Every lock record (of `service`, when not empty), over as many pages as it takes, up
/// to list_max_pages: {"locks": [...], "total": T}.
json fetch_all(HttpTransport& http, const std::string& service, const std::string& what, std::ostream& err) {
  json locks = json::array();
  std::int64_t total = 0;
  bool complete = false;
  for (int page = 1; page <= list_max_pages && !complete; ++page) {
    std::string target = fmt::format("{}/locks/list?page={}&per_page={}", api, page, list_page_size);
    if (!service.empty()) target += "&service=" + service;  // a lock name needs no escaping
    const json answer = expect_success(http.request(HttpMethod::get, target, {}), what);
    expect_shape(answer, what, "locks");
    const json& page_locks = answer["locks"];
    for (const auto& record : page_locks) locks.push_back(record);
    total = answer.contains("total") && answer["total"].is_number_integer() ? answer["total"].get<std::int64_t>()
                                                                             : static_cast<std::int64_t>(locks.size());
    complete = page_locks.empty() || static_cast<std::int64_t>(locks.size()) >= total;
  }
  if (!complete) {
    err << fmt::format("WARNING: {}: only the first {} of {} locks were fetched\n", what, locks.size(), total);
  }
  return json{{"locks", std::move(locks)}, {"total", total}};
}

void print_json_body(std::ostream& out, const std::string& body) {
  out << body;
  if (body.empty() || body.back() != '\n') out << '\n';
}

int list(const AdminOptions& options, HttpTransport& http, std::ostream& out, std::ostream& err) {
  const json all = fetch_all(http, options.name, "list", err);
  if (options.json) {
    out << all.dump() << '\n';
  } else if (all["locks"].empty()) {
    out << (options.name.empty() ? std::string{"no locks held"} : fmt::format("no lock {} is held", options.name))
        << '\n';
  } else {
    out << format_lock_table(all["locks"]);
  }
  return admin_exit::ok;
}

int show(const AdminOptions& options, HttpTransport& http, std::ostream& out, std::ostream& err) {
  const std::string& target = options.target;
  if (is_lock_id(target)) {
    const std::string what = "show " + target;
    const HttpResponse response = http.request(HttpMethod::get, fmt::format("{}/lock/{}", api, target), {});
    const json record = expect_success(response, what, fmt::format("no lock with id {}", target));
    expect_shape(record, what);
    if (options.json) {
      print_json_body(out, response.body);
    } else {
      out << format_record(record);
    }
    return admin_exit::ok;
  }
  const json all = fetch_all(http, target, "show " + target, err);
  if (all["locks"].empty()) throw AdminFailure(admin_exit::refused, fmt::format("no lock {} is held", target));
  if (options.json) {
    out << all.dump() << '\n';
    return admin_exit::ok;
  }
  bool first = true;
  for (const auto& record : all["locks"]) {
    if (!first) out << '\n';
    first = false;
    out << format_record(record);
  }
  return admin_exit::ok;
}

int release(const AdminOptions& options, HttpTransport& http, std::ostream& out) {
  const std::string& id = options.target;
  const HttpResponse response = http.request(HttpMethod::del, fmt::format("{}/lock/{}", api, id), {});
  expect_success(response, "release " + id, fmt::format("no lock with id {}", id));
  if (options.json) {
    print_json_body(out, response.body);
  } else {
    out << "released " << id << '\n';
  }
  return admin_exit::ok;
}

/// renew --ttl in seconds: a duration (90s, 1h30m, 0.5) a lease may be; nullopt otherwise.
std::optional<double> renew_ttl_seconds(const std::string& text) {
  const auto seconds = parse_duration(text);
  if (!seconds || !is_valid_ttl_seconds(*seconds)) return std::nullopt;
  return seconds;
}

int renew(const AdminOptions& options, HttpTransport& http, std::ostream& out) {
  const std::string& id = options.target;
  const std::string what = "renew " + id;
  const auto ttl = renew_ttl_seconds(options.ttl);
  // check_admin_options() made sure it is a valid duration.
  const json body{{"ttl", ttl ? *ttl : 0.0}};
  const HttpResponse response =
      http.request(HttpMethod::post, fmt::format("{}/lock/{}/renew", api, id), body.dump());
  const json record = expect_success(response, what, fmt::format("no lock with id {}", id));
  if (options.json) {
    print_json_body(out, response.body);
    return admin_exit::ok;
  }
  expect_shape(record, what);
  const std::string expires = record.contains("expiresAt") && record["expiresAt"].is_string()
                                  ? record["expiresAt"].get<std::string>()
                                  : std::string{"?"};
  out << fmt::format("renewed {}, expires {} ({})\n", id, expires_text(record), expires);
  return admin_exit::ok;
}

int stats(const AdminOptions& options, HttpTransport& http, std::ostream& out) {
  const HttpResponse response = http.request(HttpMethod::get, fmt::format("{}/stats", api), {});
  const json answer = expect_success(response, "stats");
  expect_shape(answer, "stats");
  if (options.json) {
    print_json_body(out, response.body);
  } else {
    out << format_key_values(answer);
  }
  return admin_exit::ok;
}

/// Printable ASCII without white space: what a bearer token may hold in a header.
bool is_header_safe(const std::string& token) {
  for (const char c : token) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return !token.empty();
}

}  // namespace

void add_admin_options(CLI::App& app, AdminOptions& options) {
  tnl::cli::use_help_format(app);  // before the subcommands, which inherit it
  app.description("Looks at and manages the locks of a tcpnetlock server through its HTTP API.");
  app.footer(
      "Exit codes: 0 done; 1 the server said no (no such lock: 404, a conflict: 409, another 4xx);\n"
      "2 invalid options or arguments; 3 cannot reach the server (refused, timed out, unknown host);\n"
      "4 unexpected answer (not JSON, a 5xx); 5 unauthorized (401: give the admin token).\n"
      "Environment: TCPNETLOCK_ADMIN_URL (--url), TCPNETLOCK_ADMIN_TOKEN_FILE (--token-file), or\n"
      "TCPNETLOCK_ADMIN_TOKEN holding the token itself.\n");
  // An option given twice takes its last value, as with argparse; subcommands inherit this.
  tnl::cli::take_last_values(app);
  app.set_version_flag("-V,--version", tnl::version_line("tcpnetlock_admin"), "Print the version and exit");
  app.add_option("--url", options.url, "Base URL of the server's HTTP API")
      ->envname(env_url)
      ->capture_default_str()
      ->type_name("URL");
  app.add_option("--token-file", options.token_file,
                 "File whose first line is the admin token (sent as 'Authorization: Bearer')")
      ->envname(env_token_file)
      ->type_name("FILE");
  app.add_flag("--json", options.json, "Print the server's JSON instead of text (for scripts)");
  tnl::cli::add_duration_option(app, "--timeout", options.timeout,
                                "How long to wait for each answer (1ms to 1h; 10, 0.5, 500ms, 2m...)", 0.001, 3600);
  app.require_subcommand(1);
  // The options above may come after the subcommand too: `tcpnetlock_admin list --json`.
  app.fallthrough();

  const auto chosen = [&options](const char* name) { return [&options, name] { options.command = name; }; };
  auto* list = app.add_subcommand("list", "List every lock held, as a table");
  list->add_option("--name", options.name, "Only the holders of this lock");
  list->final_callback(chosen("list"));

  auto* show = app.add_subcommand("show", "Every field of a lock, by its name (all its holders) or its id");
  show->add_option("lock", options.target, "Lock name or lock id")->required();
  show->final_callback(chosen("show"));

  auto* release =
      app.add_subcommand("release", "Release a lock by id (a lock a connection holds is taken from it)");
  release->add_option("id", options.target, "Lock id")->required();
  release->final_callback(chosen("release"));

  auto* renew = app.add_subcommand("renew", "Make a detached lock expire --ttl DURATION from now");
  renew->add_option("id", options.target, "Lock id")->required();
  renew->add_option("--ttl", options.ttl, "How long from now: a duration (90s, 10m, 1h30m, 0.5), up to 365d")
      ->required()
      ->type_name("DURATION");
  renew->final_callback(chosen("renew"));

  auto* stats = app.add_subcommand("stats", "The server's counters");
  stats->final_callback(chosen("stats"));
}

std::optional<std::string> check_admin_options(const AdminOptions& options) {
  const std::string url = options.url;
  const auto starts_with = [&url](const char* prefix) { return url.rfind(prefix, 0) == 0; };
  if (!starts_with("http://") && !starts_with("https://")) {
    return fmt::format("invalid --url '{}' (http://HOST:PORT or https://...)", url);
  }
  if (!options.name.empty() && !is_valid_lock_name(options.name)) {
    return fmt::format("invalid lock name '{}' (allowed: letters, digits, '_' and '-')", options.name);
  }
  if (options.command == "show" && !is_lock_id(options.target) && !is_valid_lock_name(options.target)) {
    return fmt::format("'{}' is neither a lock name nor a lock id", options.target);
  }
  if ((options.command == "release" || options.command == "renew") && !is_lock_id(options.target)) {
    return fmt::format("invalid lock id '{}' (a UUID, as 'list' shows it)", options.target);
  }
  if (options.command == "renew") {
    if (!renew_ttl_seconds(options.ttl)) {
      return fmt::format("invalid --ttl '{}': give a duration from {} to {}; a duration is {}", options.ttl,
                         format_duration(min_ttl_seconds), format_duration(max_ttl_seconds), duration_forms);
    }
  }
  return std::nullopt;
}

std::optional<std::string> load_token(const AdminOptions& options) {
  std::string token;
  if (!options.token_file.empty()) {
    std::ifstream file(options.token_file);
    if (!file) {
      throw AdminFailure(admin_exit::usage, fmt::format("cannot read the token file '{}'", options.token_file));
    }
    std::getline(file, token);
    token = std::string{strip(token)};
    if (token.empty()) {
      throw AdminFailure(admin_exit::usage, fmt::format("the token file '{}' has no token", options.token_file));
    }
  } else if (const char* value = std::getenv(env_token); value != nullptr) {
    token = std::string{strip(value)};
    if (token.empty()) throw AdminFailure(admin_exit::usage, fmt::format("${} is empty", env_token));
  } else {
    return std::nullopt;
  }
  if (!is_header_safe(token)) {
    throw AdminFailure(admin_exit::usage, "the admin token must be printable ASCII without spaces");
  }
  return token;
}

std::string error_text(const std::string& body) {
  try {
    const json answer = json::parse(body);
    if (answer.is_object() && answer.contains("error") && answer["error"].is_string()) {
      return answer["error"].get<std::string>();
    }
  } catch (const json::exception&) {
    // not JSON: the text itself
  }
  std::string line = body.substr(0, body.find('\n'));
  line = std::string{strip(line)};
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return line;
}

int run_admin(const AdminOptions& options, HttpTransport& http, std::ostream& out, std::ostream& err) {
  try {
    if (options.command == "list") return list(options, http, out, err);
    if (options.command == "show") return show(options, http, out, err);
    if (options.command == "release") return release(options, http, out);
    if (options.command == "renew") return renew(options, http, out);
    if (options.command == "stats") return stats(options, http, out);
    throw AdminFailure(admin_exit::usage, fmt::format("unknown command '{}'", options.command));
  } catch (const AdminFailure& e) {
    err << "ERROR: " << e.what() << '\n';
    return e.exit_code();
  } catch (const HttpError& e) {
    switch (e.kind()) {
      case HttpError::Kind::unreachable:
        err << "ERROR: cannot reach the server: " << e.what() << '\n';
        return admin_exit::unreachable;
      case HttpError::Kind::bad_url:
        err << "ERROR: invalid --url: " << e.what() << '\n';
        return admin_exit::usage;
      case HttpError::Kind::bad_answer:
        break;
    }
    err << "ERROR: the server's answer is not HTTP (is --url the HTTP API's address, not the lock port?): "
        << e.what() << '\n';
    return admin_exit::unexpected;
  }
}

}  // namespace tnl::admin
