// tcpnetlock_admin's commands against scripted HTTP answers: requests sent, output, exit codes.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "admin_commands.hpp"
#include "cli_support.hpp"
#include "process.hpp"
#include "scoped_env.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::admin;
using nlohmann::json;

namespace {

/// Answers requests from a script, and records them.
class FakeTransport : public HttpTransport {
 public:
  struct Sent {
    HttpMethod method;
    std::string target;
    std::string body;
  };

  void answer(long status, std::string body) { answers_.push_back(HttpResponse{status, std::move(body)}); }
  void fail(HttpError::Kind kind) { failure_ = kind; }

  HttpResponse request(HttpMethod method, const std::string& target, const std::string& body) override {
    sent.push_back({method, target, body});
    if (failure_) throw HttpError(*failure_, "scripted failure");
    if (answers_.empty()) throw HttpError(HttpError::Kind::unreachable, "no answer scripted");
    HttpResponse response = answers_.front();
    answers_.pop_front();
    return response;
  }

  std::vector<Sent> sent;

 private:
  std::deque<HttpResponse> answers_;
  std::optional<HttpError::Kind> failure_;
};

using tnl::test::Env;

using tnl::test::ScopedEnv;

const Env no_env{
    {env_url, std::nullopt}, {env_token_file, std::nullopt}, {env_token, std::nullopt}};

constexpr const char* id = "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21";

json record(const std::string& service, const std::string& kind = "connection") {
  return {{"id", id},
          {"service", service},
          {"who", "ci-7"},
          {"createdAt", "2026-11-23T10:15:02.123Z"},
          {"kind", kind},
          {"token", 42},
          {"reason", ""},
          {"peer", "127.0.0.1:5000"},
          {"expiresAt", nullptr},
          {"heldSeconds", 3.5},
          {"limit", 1},
          {"waiters", json::array()}};
}

json page(const json& locks, int total, int page = 1) {
  return {{"locks", locks}, {"total", total}, {"page", page}, {"perPage", list_page_size}};
}

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

Run run(const AdminOptions& options, FakeTransport& http) {
  std::ostringstream out;
  std::ostringstream err;
  Run result;
  result.code = run_admin(options, http, out, err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

AdminOptions command(const std::string& name, const std::string& target = {}) {
  AdminOptions options;
  options.command = name;
  options.target = target;
  return options;
}

/// Parses a tcpnetlock_admin command line; the exit code when parsing says to exit.
std::optional<int> parse_admin(AdminOptions& options, const std::vector<std::string>& args) {
  CLI::App app{"", "tcpnetlock_admin"};
  add_admin_options(app, options);
  std::ostringstream quiet;
  return tnl::cli::parse(app, args, quiet, quiet);
}

}  // namespace

TEST_CASE("admin: options", "[admin][options]") {
  ScopedEnv env(no_env);
  SECTION("defaults") {
    AdminOptions options;
    REQUIRE_FALSE(parse_admin(options, {"list"}));
    CHECK(options.command == "list");
    CHECK(options.url == "http://127.0.0.1:7655");
    CHECK(options.timeout == 10);
    CHECK_FALSE(options.json);
    CHECK(options.token_file.empty());
    CHECK_FALSE(check_admin_options(options));
  }
  SECTION("global options before or after the subcommand") {
    AdminOptions options;
    REQUIRE_FALSE(parse_admin(options, {"--url", "http://h:1", "show", "x", "--json", "--timeout", "2.5"}));
    CHECK(options.command == "show");
    CHECK(options.target == "x");
    CHECK(options.url == "http://h:1");
    CHECK(options.json);
    CHECK(options.timeout == 2.5);
  }
  SECTION("every subcommand") {
    AdminOptions list;
    REQUIRE_FALSE(parse_admin(list, {"list", "--name", "deploy"}));
    CHECK(list.name == "deploy");
    AdminOptions release;
    REQUIRE_FALSE(parse_admin(release, {"release", id}));
    CHECK((release.command == "release" && release.target == id));
    AdminOptions renew;
    REQUIRE_FALSE(parse_admin(renew, {"renew", id, "--ttl", "60"}));
    CHECK((renew.command == "renew" && renew.target == id && renew.ttl == "60"));
    CHECK_FALSE(check_admin_options(renew));
    AdminOptions stats;
    REQUIRE_FALSE(parse_admin(stats, {"stats"}));
    CHECK(stats.command == "stats");
  }
  SECTION("environment") {
    ScopedEnv vars({{env_url, "https://locks.example:8443/"}, {env_token_file, "/run/token"}});
    AdminOptions options;
    REQUIRE_FALSE(parse_admin(options, {"stats"}));
    CHECK(options.url == "https://locks.example:8443/");
    CHECK(options.token_file == "/run/token");
  }
  SECTION("parse errors exit 2, --help 0") {
    AdminOptions options;
    CHECK(parse_admin(options, {}) == 2);
    CHECK(parse_admin(options, {"bogus"}) == 2);
    CHECK(parse_admin(options, {"show"}) == 2);
    CHECK(parse_admin(options, {"release"}) == 2);
    CHECK(parse_admin(options, {"renew", id}) == 2);  // --ttl is required
    CHECK(parse_admin(options, {"list", "stats"}) == 2);
    CHECK(parse_admin(options, {"--timeout", "0", "stats"}) == 2);
    CHECK(parse_admin(options, {"--help"}) == 0);
  }
  SECTION("what CLI11 cannot check") {
    const auto problem = [](std::vector<std::string> args) {
      AdminOptions options;
      REQUIRE_FALSE(parse_admin(options, args));
      return check_admin_options(options).has_value();
    };
    CHECK(problem({"--url", "ftp://h", "stats"}));
    CHECK(problem({"--url", "127.0.0.1:7655", "stats"}));
    CHECK(problem({"list", "--name", "a b"}));
    CHECK(problem({"show", "a/b"}));
    CHECK_FALSE(problem({"show", "deploy"}));
    CHECK_FALSE(problem({"show", id}));
    CHECK(problem({"release", "deploy"}));
    CHECK(problem({"renew", "deploy", "--ttl", "5"}));
    CHECK(problem({"renew", id, "--ttl", "0"}));
    CHECK(problem({"renew", id, "--ttl", "inf"}));
    CHECK(problem({"renew", id, "--ttl", "31536001"}));
    CHECK(problem({"renew", id, "--ttl", "-1"}));
    CHECK_FALSE(problem({"renew", id, "--ttl", "0.5"}));
  }
}

TEST_CASE("admin: the token", "[admin][options]") {
  ScopedEnv env(no_env);
  tnl::test::TempDir dir;
  const auto file = dir.path() / "token";
  AdminOptions options;
  SECTION("none") { CHECK_FALSE(load_token(options)); }
  SECTION("the file's first line, stripped") {
    std::ofstream(file) << "  s3cret-token \nsecond line\n";
    options.token_file = file.string();
    CHECK(load_token(options) == std::optional<std::string>("s3cret-token"));
    ScopedEnv also(Env{{env_token, "other"}});
    CHECK(load_token(options) == std::optional<std::string>("s3cret-token"));  // the file wins
  }
  SECTION("the environment") {
    ScopedEnv token(Env{{env_token, "from-env"}});
    CHECK(load_token(options) == std::optional<std::string>("from-env"));
  }
  SECTION("unusable") {
    const auto usage_error = [&] {
      try {
        (void)load_token(options);
      } catch (const AdminFailure& e) {
        return e.exit_code() == admin_exit::usage;
      }
      return false;
    };
    options.token_file = (dir.path() / "missing").string();
    CHECK(usage_error());
    std::ofstream(file) << "\n";
    options.token_file = file.string();
    CHECK(usage_error());
    std::ofstream(file) << "two words\n";
    CHECK(usage_error());
    options.token_file.clear();
    ScopedEnv token(Env{{env_token, "bad\rtoken"}});
    CHECK(usage_error());
  }
}

TEST_CASE("admin: the server's error text", "[admin]") {
  CHECK(error_text(R"({"error": "lock not found"})") == "lock not found");
  CHECK(error_text(R"({"status": "x"})") == R"({"status": "x"})");
  CHECK(error_text("<html>\nBad Gateway</html>") == "<html>");
  CHECK(error_text("") == "");
  CHECK(error_text(std::string(300, 'x')) == std::string(200, 'x') + "...");
}

TEST_CASE("admin: list", "[admin][commands]") {
  FakeTransport http;
  SECTION("one page, as a table") {
    http.answer(200, page(json::array({record("a"), record("b", "detached")}), 2).dump());
    const Run r = run(command("list"), http);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    REQUIRE(http.sent.size() == 1);
    CHECK(http.sent[0].method == HttpMethod::get);
    CHECK(http.sent[0].target == "/api/v1alpha1/locks/list?page=1&per_page=1000");
    CHECK(r.out.rfind("NAME  KIND        HOLDER  TOKEN  HELD  EXPIRES  WAITERS  REASON  ID\n", 0) == 0);
    CHECK(r.out.find("\nb     detached    ci-7    42     3s    never    0        -       " + std::string(id) + "\n") !=
          std::string::npos);
  }
  SECTION("every page") {
    json first = json::array();
    for (int i = 0; i < list_page_size; ++i) first.push_back(record("a"));
    http.answer(200, page(first, list_page_size + 1).dump());
    http.answer(200, page(json::array({record("z")}), list_page_size + 1, 2).dump());
    const Run r = run(command("list"), http);
    CHECK(r.code == 0);
    REQUIRE(http.sent.size() == 2);
    CHECK(http.sent[1].target == "/api/v1alpha1/locks/list?page=2&per_page=1000");
    CHECK(r.out.find("\nz ") != std::string::npos);
  }
  SECTION("a bounded number of pages") {
    for (int i = 0; i < list_max_pages + 5; ++i) http.answer(200, page(json::array({record("a")}), 1'000'000).dump());
    const Run r = run(command("list"), http);
    CHECK(r.code == 0);
    CHECK(http.sent.size() == static_cast<std::size_t>(list_max_pages));
    CHECK(r.err == "WARNING: list: only the first 100 of 1000000 locks were fetched\n");
  }
  SECTION("an empty page ends it, even when total says more") {
    http.answer(200, page(json::array(), 5).dump());
    const Run r = run(command("list"), http);
    CHECK(r.code == 0);
    CHECK(r.out == "no locks held\n");
  }
  SECTION("--name") {
    AdminOptions options = command("list");
    options.name = "deploy";
    http.answer(200, page(json::array(), 0).dump());
    const Run r = run(options, http);
    CHECK(http.sent.at(0).target == "/api/v1alpha1/locks/list?page=1&per_page=1000&service=deploy");
    CHECK(r.out == "no lock deploy is held\n");
  }
  SECTION("--json: the records, all pages in one object") {
    AdminOptions options = command("list");
    options.json = true;
    http.answer(200, page(json::array({record("a")}), 1).dump());
    const Run r = run(options, http);
    CHECK(r.code == 0);
    CHECK(json::parse(r.out) == json{{"locks", json::array({record("a")})}, {"total", 1}});
  }
  SECTION("not JSON") {
    http.answer(200, "<html>");
    const Run r = run(command("list"), http);
    CHECK(r.code == admin_exit::unexpected);
    CHECK(r.err.rfind("ERROR: list: the server's answer is not JSON (HTTP 200)", 0) == 0);
    CHECK(r.out.empty());
  }
  SECTION("JSON of the wrong shape") {
    http.answer(200, R"({"locks": 3})");
    CHECK(run(command("list"), http).code == admin_exit::unexpected);
  }
}

TEST_CASE("admin: show", "[admin][commands]") {
  FakeTransport http;
  SECTION("by id") {
    http.answer(200, record("deploy", "detached").dump());
    const Run r = run(command("show", id), http);
    CHECK(r.code == 0);
    CHECK(http.sent.at(0).target == std::string("/api/v1alpha1/lock/") + id);
    CHECK(r.out.rfind(std::string("id: ") + id + "\nservice: deploy\nwho: ci-7\nkind: detached\n", 0) == 0);
    CHECK(r.out.find("\nexpiresAt: never\n") != std::string::npos);
  }
  SECTION("by id, --json: the body as it came") {
    AdminOptions options = command("show", id);
    options.json = true;
    http.answer(200, R"({"id": "x",   "service": "deploy"})");
    const Run r = run(options, http);
    CHECK(r.out == "{\"id\": \"x\",   \"service\": \"deploy\"}\n");
  }
  SECTION("unknown id") {
    http.answer(404, R"({"error": "lock not found"})");
    const Run r = run(command("show", id), http);
    CHECK(r.code == admin_exit::refused);
    CHECK(r.err == std::string("ERROR: no lock with id ") + id + "\n");
    CHECK(r.out.empty());
  }
  SECTION("by name: every holder") {
    json a = record("sem");
    json b = record("sem");
    b["who"] = "ci-8";
    http.answer(200, page(json::array({a, b}), 2).dump());
    const Run r = run(command("show", "sem"), http);
    CHECK(r.code == 0);
    CHECK(http.sent.at(0).target == "/api/v1alpha1/locks/list?page=1&per_page=1000&service=sem");
    CHECK(r.out.find("who: ci-7\n") != std::string::npos);
    CHECK(r.out.find("\n\nid: ") != std::string::npos);  // a blank line between records
    CHECK(r.out.find("who: ci-8\n") != std::string::npos);
  }
  SECTION("by name, not held") {
    http.answer(200, page(json::array(), 0).dump());
    const Run r = run(command("show", "free"), http);
    CHECK(r.code == admin_exit::refused);
    CHECK(r.err == "ERROR: no lock free is held\n");
  }
}

TEST_CASE("admin: release", "[admin][commands]") {
  FakeTransport http;
  SECTION("released") {
    http.answer(200, R"({"success": true, "message": "Lock released successfully"})");
    const Run r = run(command("release", id), http);
    CHECK(r.code == 0);
    CHECK(http.sent.at(0).method == HttpMethod::del);
    CHECK(http.sent.at(0).target == std::string("/api/v1alpha1/lock/") + id);
    CHECK(r.out == std::string("released ") + id + "\n");
  }
  SECTION("unknown id") {
    http.answer(404, R"({"error": "lock not found"})");
    const Run r = run(command("release", id), http);
    CHECK(r.code == admin_exit::refused);
    CHECK(r.err == std::string("ERROR: no lock with id ") + id + "\n");
  }
  SECTION("unauthorized") {
    http.answer(401, R"({"error": "missing or invalid bearer token"})");
    const Run r = run(command("release", id), http);
    CHECK(r.code == admin_exit::unauthorized);
    CHECK(r.err == std::string("ERROR: release ") + id +
                       ": missing or invalid bearer token (HTTP 401); give the admin token with --token-file FILE or "
                       "$TCPNETLOCK_ADMIN_TOKEN\n");
  }
  SECTION("a server error") {
    http.answer(503, R"({"error": "server cannot persist the lock, try again later"})");
    const Run r = run(command("release", id), http);
    CHECK(r.code == admin_exit::unexpected);
    CHECK(r.err.find("server cannot persist the lock, try again later (HTTP 503)") != std::string::npos);
  }
  SECTION("another refusal") {
    http.answer(400, "bad request\n");
    const Run r = run(command("release", id), http);
    CHECK(r.code == admin_exit::refused);
    CHECK(r.err == std::string("ERROR: release ") + id + ": bad request (HTTP 400)\n");
  }
}

TEST_CASE("admin: renew", "[admin][commands]") {
  FakeTransport http;
  AdminOptions options = command("renew", id);
  options.ttl = "600";
  SECTION("renewed") {
    json renewed = record("deploy", "detached");
    renewed["createdAt"] = "2026-11-23T10:00:00.000Z";
    renewed["heldSeconds"] = 60.0;
    renewed["expiresAt"] = "2026-11-23T10:11:00.000Z";
    http.answer(200, renewed.dump());
    const Run r = run(options, http);
    CHECK(r.code == 0);
    CHECK(http.sent.at(0).method == HttpMethod::post);
    CHECK(http.sent.at(0).target == std::string("/api/v1alpha1/lock/") + id + "/renew");
    CHECK(json::parse(http.sent.at(0).body) == json{{"ttl", 600.0}});
    CHECK(r.out == std::string("renewed ") + id + ", expires in 10m00s (2026-11-23T10:11:00.000Z)\n");
  }
  SECTION("a lock a connection holds") {
    http.answer(409, R"({"error": "lock is held by a connection"})");
    const Run r = run(options, http);
    CHECK(r.code == admin_exit::refused);
    CHECK(r.err == std::string("ERROR: renew ") + id + ": lock is held by a connection (HTTP 409)\n");
  }
}

TEST_CASE("admin: stats", "[admin][commands]") {
  FakeTransport http;
  http.answer(200, R"({"lock_count": 1, "connection_count": 2})");
  const Run r = run(command("stats"), http);
  CHECK(r.code == 0);
  CHECK(http.sent.at(0).target == "/api/v1alpha1/stats");
  CHECK(r.out == "connection_count: 2\nlock_count: 1\n");
}

TEST_CASE("admin: no HTTP answer", "[admin][commands]") {
  FakeTransport http;
  SECTION("unreachable") {
    http.fail(HttpError::Kind::unreachable);
    const Run r = run(command("stats"), http);
    CHECK(r.code == admin_exit::unreachable);
    CHECK(r.err == "ERROR: cannot reach the server: scripted failure\n");
  }
  SECTION("a bad URL") {
    http.fail(HttpError::Kind::bad_url);
    CHECK(run(command("stats"), http).code == admin_exit::usage);
  }
  SECTION("not HTTP") {
    http.fail(HttpError::Kind::bad_answer);
    CHECK(run(command("stats"), http).code == admin_exit::unexpected);
  }
}

}  // namespace TNL_UNITY_ID
