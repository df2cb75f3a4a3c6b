// tcpnetlock_admin against the real server's HTTP API.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "cli_helpers.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
using nlohmann::json;

namespace {

constexpr const char* unknown_id = "00000000-0000-4000-8000-000000000000";

/// Runs tcpnetlock_admin against `server` with `args`.
Finished admin(const HttpServerProcess& server, const std::vector<std::string>& args,
               const SpawnOptions& options = clean_env()) {
  return finish(admin_argv(server.url(), args), options);
}

/// The lock records of `name`, as `tcpnetlock_admin --json list --name NAME` prints them.
json records_of(const HttpServerProcess& server, const std::string& name) {
  const Finished listed = admin(server, {"--json", "list", "--name", name});
  REQUIRE(listed.exited(0));
  return json::parse(listed.out)["locks"];
}

/// The id of the (one) holder of `name`.
std::string id_of(const HttpServerProcess& server, const std::string& name) {
  const json records = records_of(server, name);
  REQUIRE(records.size() == 1);
  return records[0]["id"].get<std::string>();
}

/// Takes a detached lock on the line protocol; returns its id.
std::string take_detached(const HttpServerProcess& server, const std::string& name, const std::string& ttl = "600") {
  LineClient client(server.port());
  const auto answer = client.request("lock,name:" + name + ",ttl:" + ttl);
  REQUIRE(answer);
  REQUIRE(answer->rfind("ok,id:", 0) == 0);
  return answer->substr(6);
}

/// Requests queued for `name`, as `.locks` counts them.
int waiters_of(const HttpServerProcess& server, const std::string& name) {
  const json locks = query_json(server.port(), ".locks,name:" + name, "locks,")["locks"];
  return locks.empty() ? 0 : locks[0]["waiters"].get<int>();
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("admin: list is empty, then shows a lock a connection holds", "[cli][admin]") {
  HttpServerProcess server;
  const Finished empty = admin(server, {"list"});
  CHECK(empty.exited(0));
  CHECK(empty.out == "no locks held\n");
  CHECK(empty.err.empty());

  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:deploy,client-id:ci-7,reason:release 42") == std::optional<std::string>("ok"));
  const Finished listed = admin(server, {"list"});
  CHECK(listed.exited(0));
  CHECK(listed.err.empty());
  INFO(listed.out);
  CHECK(listed.out.rfind("NAME    KIND        HOLDER  TOKEN", 0) == 0);
  CHECK(contains(listed.out, "ID\ndeploy  connection  ci-7    "));
  CHECK(contains(listed.out, "  -        0        release 42  "));  // EXPIRES, WAITERS, REASON
  CHECK(contains(listed.out, id_of(server, "deploy") + "\n"));

  const Finished as_json = admin(server, {"list", "--json"});
  CHECK(as_json.exited(0));
  const json all = json::parse(as_json.out);
  REQUIRE(all["locks"].size() == 1);
  CHECK(all["total"] == 1);
  CHECK(all["locks"][0]["service"] == "deploy");
  CHECK(all["locks"][0]["kind"] == "connection");
  CHECK(all["locks"][0]["who"] == "ci-7");
  CHECK(all["locks"][0]["reason"] == "release 42");

  CHECK(admin(server, {"list", "--name", "other"}).out == "no lock other is held\n");
}

TEST_CASE("admin: show by name and by id, waiters included", "[cli][admin]") {
  HttpServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:deploy,client-id:ci-7") == std::optional<std::string>("ok"));
  LineClient waiter(server.port());
  REQUIRE(waiter.send_line("lock,name:deploy,client-id:ci-8,wait:60"));
  REQUIRE(wait_until([&] { return waiters_of(server, "deploy") == 1; }));
  const std::string id = id_of(server, "deploy");

  const Finished by_name = admin(server, {"show", "deploy"});
  CHECK(by_name.exited(0));
  INFO(by_name.out);
  CHECK(by_name.out.rfind("id: " + id + "\nservice: deploy\nwho: ci-7\nkind: connection\ntoken: ", 0) == 0);
  CHECK(contains(by_name.out, "\nexpiresAt: never\nlimit: 1\nwaiters: 1\n"));
  CHECK(contains(by_name.out, "\nwaiters[1].who: ci-8\n"));
  CHECK(contains(by_name.out, "\nwaiters[1].kind: connection\n"));

  const Finished by_id = admin(server, {"show", id});
  CHECK(by_id.exited(0));
  // The same record (only heldSeconds has moved on).
  CHECK(by_id.out.rfind("id: " + id + "\nservice: deploy\nwho: ci-7\nkind: connection\ntoken: ", 0) == 0);
  CHECK(contains(by_id.out, "\nexpiresAt: never\nlimit: 1\nwaiters: 1\n"));
  CHECK(contains(by_id.out, "\nwaiters[1].who: ci-8\n"));

  const Finished as_json = admin(server, {"--json", "show", id});
  CHECK(as_json.exited(0));
  CHECK(json::parse(as_json.out)["id"] == id);

  const Finished free_name = admin(server, {"show", "free"});
  CHECK(free_name.exited(1));
  CHECK(free_name.out.empty());
  CHECK(free_name.err == "ERROR: no lock free is held\n");

  const Finished no_id = admin(server, {"show", unknown_id});
  CHECK(no_id.exited(1));
  CHECK(no_id.err == std::string("ERROR: no lock with id ") + unknown_id + "\n");

  const Finished neither = admin(server, {"show", "a/b"});
  CHECK(neither.exited(2));
}

TEST_CASE("admin: release a detached lock", "[cli][admin]") {
  HttpServerProcess server;
  const std::string id = take_detached(server, "det");
  CHECK_FALSE(lock_is_free(server.port(), "det"));
  const Finished released = admin(server, {"release", id});
  CHECK(released.exited(0));
  CHECK(released.out == "released " + id + "\n");
  CHECK(released.err.empty());
  CHECK(lock_is_free(server.port(), "det"));

  const Finished again = admin(server, {"release", id});
  CHECK(again.exited(1));
  CHECK(again.err == "ERROR: no lock with id " + id + "\n");

  CHECK(admin(server, {"release", "det"}).exited(2));  // a name is not an id
}

TEST_CASE("admin: a forced release takes the lock from its connection and hands it on", "[cli][admin]") {
  HttpServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:forced") == std::optional<std::string>("ok"));
  LineClient waiter(server.port());
  REQUIRE(waiter.send_line("lock,name:forced,wait:60"));
  REQUIRE(wait_until([&] { return waiters_of(server, "forced") == 1; }));

  const std::string id = id_of(server, "forced");
  const Finished released = admin(server, {"release", id});
  CHECK(released.exited(0));
  CHECK(released.out == "released " + id + "\n");
  CHECK(holder.read_line() == std::optional<std::string>("lost,released by admin"));
  CHECK(holder.wait_closed());
  CHECK(waiter.read_line() == std::optional<std::string>("ok"));
}

TEST_CASE("admin: renew a detached lock, not a connection's", "[cli][admin]") {
  HttpServerProcess server;
  const std::string id = take_detached(server, "lease", "60");
  const Finished renewed = admin(server, {"renew", id, "--ttl", "600"});
  CHECK(renewed.exited(0));
  INFO(renewed.out);
  // Ten minutes from now, give or take the time the test took.
  CHECK((renewed.out.rfind("renewed " + id + ", expires in 9m5", 0) == 0 ||
         renewed.out.rfind("renewed " + id + ", expires in 10m00s", 0) == 0));
  CHECK(contains(records_of(server, "lease")[0]["expiresAt"].get<std::string>(), "T"));

  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:held") == std::optional<std::string>("ok"));
  const Finished refused = admin(server, {"renew", id_of(server, "held"), "--ttl", "600"});
  CHECK(refused.exited(1));
  CHECK(contains(refused.err, "lock is held by a connection (HTTP 409)"));

  CHECK(admin(server, {"renew", unknown_id, "--ttl", "5"}).exited(1));
  CHECK(admin(server, {"renew", id, "--ttl", "0"}).exited(2));
}

TEST_CASE("admin: stats", "[cli][admin]") {
  HttpServerProcess server;
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:s") == std::optional<std::string>("ok"));
  const Finished text = admin(server, {"stats"});
  CHECK(text.exited(0));
  CHECK(contains(text.out, "\nlock_count: 1\n"));
  const Finished as_json = admin(server, {"stats", "--json"});
  CHECK(as_json.exited(0));
  CHECK(json::parse(as_json.out)["lock_count"] == 1);
}

TEST_CASE("admin: releasing needs the token when the server has one, reading does not", "[cli][admin]") {
  TempDir secrets;
  const auto token_file = (secrets.path() / "token").string();
  std::ofstream(token_file) << "s3cret-token\n";
  const auto wrong_file = (secrets.path() / "wrong").string();
  std::ofstream(wrong_file) << "not-it\n";
  HttpServerProcess server({"--admin-token-file", token_file});
  const std::string id = take_detached(server, "guarded");

  const Finished without = admin(server, {"release", id});
  CHECK(without.exited(5));
  CHECK(contains(without.err, "(HTTP 401)"));
  const Finished wrong = admin(server, {"--token-file", wrong_file, "release", id});
  CHECK(wrong.exited(5));
  CHECK_FALSE(lock_is_free(server.port(), "guarded"));

  CHECK(admin(server, {"list"}).exited(0));
  CHECK(admin(server, {"show", id}).exited(0));
  CHECK(admin(server, {"stats"}).exited(0));

  SECTION("--token-file") {
    CHECK(admin(server, {"--token-file", token_file, "release", id}).exited(0));
  }
  SECTION("$TCPNETLOCK_ADMIN_TOKEN_FILE") {
    CHECK(admin(server, {"release", id}, clean_env({{"TCPNETLOCK_ADMIN_TOKEN_FILE", token_file}})).exited(0));
  }
  SECTION("$TCPNETLOCK_ADMIN_TOKEN") {
    CHECK(admin(server, {"release", id}, clean_env({{"TCPNETLOCK_ADMIN_TOKEN", "s3cret-token"}})).exited(0));
  }
  CHECK(lock_is_free(server.port(), "guarded"));
}

TEST_CASE("admin: the URL from the environment", "[cli][admin]") {
  HttpServerProcess server;
  const Finished stats = finish({binary("tcpnetlock_admin"), "stats"}, clean_env({{"TCPNETLOCK_ADMIN_URL", server.url()}}));
  CHECK(stats.exited(0));
}

TEST_CASE("admin: exit 3 when the server cannot be reached", "[cli][admin]") {
  SECTION("nothing listens") {
    RefusingPort port;
    const Finished r = finish(admin_argv("http://127.0.0.1:" + port.port_string(), {"list"}));
    CHECK(r.exited(3));
    CHECK(r.out.empty());
    CHECK(r.err.rfind("ERROR: cannot reach the server: ", 0) == 0);
    CHECK(count(r.err, "\n") == 1);
  }
  SECTION("no answer in time") {
    FakeServer silent({});
    const Finished r = finish(admin_argv("http://127.0.0.1:" + silent.port_string(), {"--timeout", "0.3", "stats"}));
    CHECK(r.exited(3));
    CHECK(r.err.rfind("ERROR: cannot reach the server: ", 0) == 0);
  }
}

TEST_CASE("admin: exit 4 when what answers is not the API", "[cli][admin]") {
  SECTION("the lock port") {
    ServerProcess server({"--http", "off"});
    const Finished r = finish(admin_argv("http://127.0.0.1:" + server.port_string(), {"stats"}));
    CHECK(r.exited(4));
    CHECK(contains(r.err, "not HTTP"));
  }
  SECTION("HTTP, but not JSON") {
    FakeServer web({"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\nConnection: close\r\n\r\n<html>"},
                   true);
    const Finished r = finish(admin_argv("http://127.0.0.1:" + web.port_string(), {"stats"}));
    CHECK(r.exited(4));
    CHECK(r.err.rfind("ERROR: stats: the server's answer is not JSON (HTTP 200)", 0) == 0);
  }
}

}  // namespace TNL_UNITY_ID
