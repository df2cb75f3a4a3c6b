// The HTTP admin API (docs/HTTP-API.md) end to end: the real server, raw HTTP/1.1 over
// loopback, as Tracker users' scripts, operators and Prometheus use it. Limits and timeouts:
// server_http_limits_test.cpp; HTTP/1.1 itself: server_http_wire_test.cpp; the token, ids
// and other sites: server_http_security_test.cpp.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_http_helpers.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// The local port of a client's socket.
std::uint16_t local_port(const LineClient& client) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  REQUIRE(getsockname(client.fd(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
  return ntohs(address.sin_port);
}

/// The value of the sample `name` (with its labels exactly as written, e.g.
/// `tcpnetlock_holds{kind="detached"}`) in Prometheus text; nullopt when absent.
std::optional<double> sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

std::string metrics_text(const HttpClient& http) {
  const HttpReply reply = http.get("/metrics");
  REQUIRE_STATUS(reply, 200);
  return reply.body;
}

double metric(const HttpClient& http, const std::string& name) {
  const auto value = sample(metrics_text(http), name);
  INFO("metric " << name);
  REQUIRE(value);
  return *value;
}

/// TCP ports on which process `pid` listens (from /proc: its socket inodes in LISTEN state).
std::set<std::uint16_t> listening_ports(pid_t pid) {
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

}  // namespace

// --- Tracker Locks compatibility -----------------------------------------------------

TEST_CASE("http: POST /lock answers 201 and a Tracker lock record", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply reply =
      http.post(api + "/lock", json{{"service", "production-deployment"}, {"who", "ci-pipeline-123"}});
  REQUIRE_STATUS(reply, 201);
  CHECK(reply.header("content-type").value_or("").rfind("application/json", 0) == 0);
  const json record = reply.json();
  CHECK(is_uuid_v4(record["id"]));
  CHECK(record["service"] == "production-deployment");
  CHECK(record["who"] == "ci-pipeline-123");
  CHECK(is_rfc3339(record["createdAt"]));
  // Our additions, as documented.
  CHECK(record["kind"] == "detached");
  CHECK(record["expiresAt"].is_null());  // no ttl: no expiry, as in Tracker
  CHECK(record["peer"] == "");
  CHECK(record["reason"] == "");
  CHECK(record["limit"] == 1);
  CHECK(record["waiters"] == json::array());
  CHECK(record["token"].is_number_unsigned());
  CHECK(record["heldSeconds"].is_number());
}

TEST_CASE("http: a second POST for a held service is 409 with exactly the existing lock", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json first = create(http, "production-deployment", "ci-pipeline-123");
  const HttpReply second =
      http.post(api + "/lock", json{{"service", "production-deployment"}, {"who", "ci-pipeline-124"}});
  REQUIRE_STATUS(second, 409);
  CHECK(second.json() == json{{"error", "lock already exists"},
                              {"existingLock",
                               {{"id", first["id"]}, {"who", "ci-pipeline-123"}, {"createdAt", first["createdAt"]}}}});
  // The first lock is untouched.
  const HttpReply still = http.get(api + "/lock/" + first["id"].get<std::string>());
  REQUIRE_STATUS(still, 200);
  CHECK(still.json()["who"] == "ci-pipeline-123");
}

TEST_CASE("http: GET /lock/{id} answers the record", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json created = create(http, "db-migrations", "alice", json{{"reason", "schema v7"}});
  const HttpReply reply = http.get(api + "/lock/" + created["id"].get<std::string>());
  REQUIRE_STATUS(reply, 200);
  json record = reply.json();
  CHECK(record["heldSeconds"].get<double>() >= created["heldSeconds"].get<double>());
  record.erase("heldSeconds");
  json expected = created;
  expected.erase("heldSeconds");
  CHECK(record == expected);
  CHECK(record["reason"] == "schema v7");
}

TEST_CASE("http: GET /locks/list answers locks, total, page and perPage", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json empty = list(http, "?per_page=10&page=1");
  CHECK(empty == json{{"locks", json::array()}, {"total", 0}, {"page", 1}, {"perPage", 10}});

  const json a = create(http, "svc-a", "alice");
  const json b = create(http, "svc-b", "bob");
  const json page = list(http, "?per_page=10&page=1");
  CHECK(page["total"] == 2);
  CHECK(page["page"] == 1);
  CHECK(page["perPage"] == 10);
  REQUIRE(page["locks"].size() == 2);
  CHECK(page["locks"][0]["id"] == a["id"]);
  CHECK(page["locks"][0]["service"] == "svc-a");
  CHECK(page["locks"][1]["id"] == b["id"]);
  CHECK(page["locks"][1]["who"] == "bob");

  // Defaults: page 1, 100 per page.
  const json defaults = list(http);
  CHECK(defaults["page"] == 1);
  CHECK(defaults["perPage"] == 100);
  CHECK(defaults["total"] == 2);
  // service= keeps one name.
  const json only = list(http, "?service=svc-b");
  CHECK(only["total"] == 1);
  REQUIRE(only["locks"].size() == 1);
  CHECK(only["locks"][0]["id"] == b["id"]);
  CHECK(list(http, "?service=nobody")["total"] == 0);
}

TEST_CASE("http: list pages through 25 locks in service order, without duplicates", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  std::set<std::string> created;
  for (int i = 0; i < 25; ++i) {
    const int n = (i * 7) % 25;  // created out of order
    const std::string name = std::string("page-") + (n < 10 ? "0" : "") + std::to_string(n);
    created.insert(create(http, name, "w" + std::to_string(n))["id"].get<std::string>());
  }
  REQUIRE(created.size() == 25);
  std::vector<std::string> services;
  std::set<std::string> seen;
  const std::size_t sizes[] = {10, 10, 5};
  for (int p = 1; p <= 3; ++p) {
    const json page = list(http, "?per_page=10&page=" + std::to_string(p));
    INFO("page " << p);
    CHECK(page["total"] == 25);
    CHECK(page["page"] == p);
    CHECK(page["perPage"] == 10);
    REQUIRE(page["locks"].size() == sizes[p - 1]);
    for (const auto& record : page["locks"]) {
      CHECK(seen.insert(record["id"].get<std::string>()).second);
      services.push_back(record["service"].get<std::string>());
    }
  }
  CHECK(seen == created);
  CHECK(std::is_sorted(services.begin(), services.end()));
  CHECK(services.front() == "page-00");
  CHECK(services.back() == "page-24");
  const json past = list(http, "?per_page=10&page=4");
  CHECK(past["locks"] == json::array());
  CHECK(past["total"] == 25);
  CHECK(past["page"] == 4);
}

TEST_CASE("http: list refuses bad paging with 400", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string query : {"?per_page=0", "?per_page=1001", "?per_page=-1", "?per_page=ten", "?page=0",
                                  "?page=x", "?page=1.5", "?service=bad%20name"}) {
    INFO(query);
    const HttpReply reply = http.get(api + "/locks/list" + query);
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http, "?per_page=1000")["perPage"] == 1000);
}

TEST_CASE("http: GET /unlock/{id} releases - then GET /lock/{id} is 404", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "deploy", "ci")["id"];
  const HttpReply released = http.get(api + "/unlock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(released.json() == json{{"success", true}, {"message", "Lock released successfully"}});
  const HttpReply gone = http.get(api + "/lock/" + id);
  CHECK_STATUS(gone, 404);
  CHECK(gone.json() == json{{"error", "lock not found"}});
  const HttpReply again = http.get(api + "/unlock/" + id);
  CHECK_STATUS(again, 404);
  CHECK(again.json() == json{{"error", "lock not found"}});
  // The name is free again.
  CHECK(create(http, "deploy", "ci-2")["id"] != id);
}

TEST_CASE("http: DELETE /lock/{id} releases like unlock", "[http][tracker]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "deploy", "ci")["id"];
  const HttpReply released = http.del(api + "/lock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(released.json() == json{{"success", true}, {"message", "Lock released successfully"}});
  const HttpReply gone = http.get(api + "/lock/" + id);
  CHECK_STATUS(gone, 404);
  CHECK(gone.json() == json{{"error", "lock not found"}});
  const HttpReply again = http.del(api + "/lock/" + id);
  CHECK_STATUS(again, 404);
  CHECK(again.json() == json{{"error", "lock not found"}});
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:deploy") == "ok");
}

// --- Connection-held locks seen and released over HTTP -------------------------------

TEST_CASE("http: a connection-held lock is listed with kind connection, who, peer and token", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:tcp-held,client-id:c1,reason:nightly") == "ok");
  const json page = list(http);
  REQUIRE(page["total"] == 1);
  const json record = page["locks"][0];
  CHECK(is_uuid_v8(record["id"]));
  CHECK(record["service"] == "tcp-held");
  CHECK(record["who"] == "c1");
  CHECK(record["kind"] == "connection");
  CHECK(record["peer"] == "127.0.0.1:" + std::to_string(local_port(holder)));
  CHECK(record["reason"] == "nightly");
  CHECK(record["expiresAt"].is_null());
  CHECK(is_rfc3339(record["createdAt"]));
  REQUIRE(record["token"].is_number_unsigned());
  CHECK(record["token"].get<std::uint64_t>() > 0);
  // The same holder as `.locks` shows it.
  const json locks = query_json(server.port(), ".locks,name:tcp-held", "locks,")["locks"];
  REQUIRE(locks.size() == 1);
  CHECK(locks[0]["holders"][0]["id"] == record["id"]);
  CHECK(locks[0]["holders"][0]["token"] == record["token"]);
  // GET by id works for it too.
  const HttpReply one = http.get(api + "/lock/" + record["id"].get<std::string>());
  REQUIRE_STATUS(one, 200);
  CHECK(one.json()["kind"] == "connection");
}

TEST_CASE("http: a queued request shows in the holder's waiters", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:queued,client-id:c1") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:queued,wait:30,client-id:w1,reason:next");
  REQUIRE(wait_until([&] { return waiters_of(http, "queued") == 1; }));
  const json record = records_of(http, "queued")[0];
  REQUIRE(record["waiters"].size() == 1);
  const json w = record["waiters"][0];
  CHECK(w["who"] == "w1");
  CHECK(w["kind"] == "connection");
  CHECK(w["reason"] == "next");
  CHECK(w["peer"] == "127.0.0.1:" + std::to_string(local_port(waiter)));
  CHECK(is_rfc3339(w["waitingSince"]));
  // The holder itself is not in its own queue.
  CHECK(record["who"] == "c1");

  // A detached request queues behind it, in order, and says so.
  LineClient detached(server.port());
  detached.send_line("lock,name:queued,ttl:60,wait:30,client-id:w2");
  REQUIRE(wait_until([&] { return waiters_of(http, "queued") == 2; }));
  const json both = records_of(http, "queued")[0]["waiters"];
  CHECK(both[0]["who"] == "w1");
  CHECK(both[1]["who"] == "w2");
  CHECK(both[1]["kind"] == "detached");
  CHECK(both[0]["waitingSince"].get<std::string>() <= both[1]["waitingSince"].get<std::string>());
}

TEST_CASE("http: DELETE of a connection-held lock forces it: lost, closed, next waiter gets ok", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:forced,client-id:c1") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:forced,wait:30,client-id:w1");
  REQUIRE(wait_until([&] { return waiters_of(http, "forced") == 1; }));
  const std::string id = records_of(http, "forced")[0]["id"];

  const HttpReply released = http.del(api + "/lock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(released.json() == json{{"success", true}, {"message", "Lock released successfully"}});
  CHECK(holder.read_line(5s) == "lost,released by admin");
  CHECK(holder.wait_closed(5s));
  CHECK(waiter.read_line(5s) == "ok");

  const json records = records_of(http, "forced");
  REQUIRE(records.size() == 1);
  CHECK(records[0]["who"] == "w1");
  CHECK(records[0]["id"] != id);
  const HttpReply s = http.get(api + "/stats");
  REQUIRE_STATUS(s, 200);
  CHECK(s.json()["forced_release_count"] == 1);
  CHECK(stats(server.port())["forced_release_count"] == 1);
  CHECK(metric(http, "tcpnetlock_forced_releases_total") == 1);
}

TEST_CASE("http: GET /unlock of a connection-held lock is a forced release too", "[http][connection]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:forced2") == "ok");
  const std::string id = records_of(http, "forced2")[0]["id"];
  const HttpReply released = http.get(api + "/unlock/" + id);
  REQUIRE_STATUS(released, 200);
  CHECK(holder.read_line(5s) == "lost,released by admin");
  CHECK(holder.wait_closed(5s));
  LineClient next(server.port());
  CHECK(next.request("lock,name:forced2") == "ok");
}

// --- TTLs and renewal -----------------------------------------------------------------

TEST_CASE("http: a detached lock with a ttl expires, and a queued waiter then gets ok", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json record = create(http, "short", "ci", json{{"ttl", 1}});
  REQUIRE(is_rfc3339(record["expiresAt"]));
  const auto lease = epoch_ms(record["expiresAt"]) - epoch_ms(record["createdAt"]);
  CHECK(lease >= 999);
  CHECK(lease <= 1001);
  const std::string id = record["id"];

  LineClient waiter(server.port());
  waiter.send_line("lock,name:short,wait:30,client-id:next");
  // Whether it queued before the expiry or came just after, it gets the lock.
  const auto answer = waiter.read_line(15s);
  CHECK(answer == "ok");
  REQUIRE(wait_until([&] { return http.get(api + "/lock/" + id).status == 404; }, 15s));
  const json now = records_of(http, "short");
  REQUIRE(now.size() == 1);
  CHECK(now[0]["who"] == "next");
  CHECK(now[0]["kind"] == "connection");
  CHECK(stats(server.port())["expired_lock_count"] == 1);
  CHECK(metric(http, "tcpnetlock_expired_locks_total") == 1);
}

TEST_CASE("http: a detached lock with a ttl and no waiter just goes away", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "gone", "ci", json{{"ttl", 0.3}})["id"];
  REQUIRE(wait_until([&] { return http.get(api + "/lock/" + id).status == 404; }, 15s));
  CHECK(http.get(api + "/lock/" + id).json() == json{{"error", "lock not found"}});
  CHECK(list(http)["total"] == 0);
  create(http, "gone", "ci-2");
}

TEST_CASE("http: renew sets a later expiresAt and answers the record", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json record = create(http, "renewed", "ci", json{{"ttl", 60}});
  const std::string id = record["id"];
  const HttpReply renewed = http.post(api + "/lock/" + id + "/renew", json{{"ttl", 600}});
  REQUIRE_STATUS(renewed, 200);
  const json after = renewed.json();
  CHECK(after["id"] == id);
  CHECK(after["service"] == "renewed");
  CHECK(after["createdAt"] == record["createdAt"]);
  REQUIRE(is_rfc3339(after["expiresAt"]));
  CHECK(after["expiresAt"].get<std::string>() > record["expiresAt"].get<std::string>());
  // now + ttl (within the test's own clock readings around the call).
  CHECK(std::llabs(epoch_ms(after["expiresAt"]) - (now_ms() + 600'000)) < 5'000);
  CHECK(http.get(api + "/lock/" + id).json()["expiresAt"] == after["expiresAt"]);
  // Renewing a lock without ttl gives it one; renew with a shorter ttl shortens it.
  const json forever = create(http, "forever", "ci");
  CHECK(forever["expiresAt"].is_null());
  const HttpReply given = http.post(api + "/lock/" + forever["id"].get<std::string>() + "/renew", json{{"ttl", 30}});
  REQUIRE_STATUS(given, 200);
  CHECK(is_rfc3339(given.json()["expiresAt"]));
}

TEST_CASE("http: renew of a connection-held lock is 409 lock is held by a connection", "[http][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:tcp-renew") == "ok");
  const std::string id = records_of(http, "tcp-renew")[0]["id"];
  const HttpReply reply = http.post(api + "/lock/" + id + "/renew", json{{"ttl", 60}});
  CHECK_STATUS(reply, 409);
  CHECK(reply.json() == json{{"error", "lock is held by a connection"}});
  CHECK(holder.request(".keepalive") == "alive");  // still holding
}

TEST_CASE("http: renew refuses bad ttls and unknown ids", "[http][ttl][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "r", "ci", json{{"ttl", 60}})["id"];
  for (const std::string body : {"{}", R"({"ttl":0})", R"({"ttl":-5})", R"({"ttl":"60"})", R"({"ttl":31536001})",
                                  R"({"ttl":null})", "not json", "[60]"}) {
    INFO(body);
    const HttpReply reply = http.post(api + "/lock/" + id + "/renew", body);
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  const HttpReply unknown = http.post(api + "/lock/" + std::string(unknown_id) + "/renew", json{{"ttl", 60}});
  CHECK_STATUS(unknown, 404);
  CHECK(unknown.json() == json{{"error", "lock not found"}});
  CHECK_STATUS(http.post(api + "/lock/not-a-uuid/renew", json{{"ttl", 60}}), 400);
}

// --- Detached and connection locks exclude each other --------------------------------

TEST_CASE("http: a lock held over HTTP makes the line protocol's lock not-granted", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "shared", "ci")["id"];
  LineClient tcp(server.port());
  CHECK(tcp.request("lock,name:shared") == "not-granted");
  CHECK(tcp.wait_closed());
  LineClient detached(server.port());
  CHECK(detached.request("lock,name:shared,ttl:60") == "not-granted");
  REQUIRE_STATUS(http.get(api + "/unlock/" + id), 200);
  LineClient after(server.port());
  CHECK(after.request("lock,name:shared") == "ok");
}

TEST_CASE("http: a lock held over TCP makes POST /lock 409 with the TCP holder", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:shared,client-id:tcp-1") == "ok");
  const json held = query_json(server.port(), ".locks,name:shared", "locks,")["locks"][0]["holders"][0];
  const HttpReply reply = http.post(api + "/lock", json{{"service", "shared"}, {"who", "ci"}});
  REQUIRE_STATUS(reply, 409);
  const json body = reply.json();
  CHECK(body["error"] == "lock already exists");
  CHECK(body["existingLock"]["id"] == held["id"]);
  CHECK(body["existingLock"]["who"] == "tcp-1");
  CHECK(body["existingLock"]["createdAt"] == held["since"]);
  CHECK(holder.request("release") == "released");
  create(http, "shared", "ci");
}

TEST_CASE("http: releasing a detached lock hands it to the next waiter", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "handover", "ci")["id"];
  LineClient waiter(server.port());
  waiter.send_line("lock,name:handover,wait:30,client-id:next");
  REQUIRE(wait_until([&] { return waiters_of(http, "handover") == 1; }));
  CHECK(waiter.stays_silent(50ms));
  REQUIRE_STATUS(http.del(api + "/lock/" + id), 200);
  CHECK(waiter.read_line(5s) == "ok");
  const json records = records_of(http, "handover");
  REQUIRE(records.size() == 1);
  CHECK(records[0]["who"] == "next");
  CHECK(stats(server.port())["forced_release_count"] == 0);  // a detached release is not forced
}

TEST_CASE("http: a detached lock taken on the line protocol has its peer - list keeps grant order", "[http][exclusion]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  std::vector<std::string> ids;
  std::vector<std::string> peers;
  for (int i = 0; i < 3; ++i) {
    LineClient client(server.port());
    const auto answer = client.request("lock,name:sem,limit:3,ttl:60,client-id:d" + std::to_string(i));
    REQUIRE(answer);
    REQUIRE(answer->rfind("ok,id:", 0) == 0);
    ids.push_back(answer->substr(6));
    peers.push_back("127.0.0.1:" + std::to_string(local_port(client)));
  }
  const json records = list(http, "?service=sem")["locks"];
  REQUIRE(records.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("holder " << i);
    CHECK(records[i]["id"] == ids[i]);
    CHECK(records[i]["peer"] == peers[i]);
    CHECK(records[i]["kind"] == "detached");
    CHECK(records[i]["limit"] == 3);
    CHECK(records[i]["who"] == "d" + std::to_string(i));
  }
  CHECK(records[0]["token"].get<std::uint64_t>() < records[1]["token"].get<std::uint64_t>());
  CHECK(records[1]["token"].get<std::uint64_t>() < records[2]["token"].get<std::uint64_t>());
  // Paging splits one name's holders too.
  const json second = list(http, "?per_page=2&page=2");
  CHECK(second["total"] == 3);
  REQUIRE(second["locks"].size() == 1);
  CHECK(second["locks"][0]["id"] == ids[2]);
}

// --- Errors -----------------------------------------------------------------------------

TEST_CASE("http: malformed JSON is 400 with a JSON error", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string body : {R"({"service":)", "not json", "", "[1,2]", "\"text\"", "42", "null",
                                 R"({"service":"a","who":"b"} trailing)"}) {
    INFO("body: " << body);
    const HttpReply reply = http.post(api + "/lock", body);
    CHECK_STATUS(reply, 400);
    CHECK(reply.header("content-type").value_or("").rfind("application/json", 0) == 0);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http)["total"] == 0);
}

TEST_CASE("http: missing or invalid service and who are 400", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const json bodies[] = {
      json{{"who", "ci"}},
      json{{"service", "svc"}},
      json::object(),
      json{{"service", ""}, {"who", "ci"}},
      json{{"service", "no spaces"}, {"who", "ci"}},
      json{{"service", "a/b"}, {"who", "ci"}},
      json{{"service", "a,b"}, {"who", "ci"}},
      json{{"service", "caf\xc3\xa9"}, {"who", "ci"}},
      json{{"service", 42}, {"who", "ci"}},
      json{{"service", nullptr}, {"who", "ci"}},
      json{{"service", "svc"}, {"who", 7}},
      json{{"service", "svc"}, {"who", nullptr}},
      json{{"service", "svc"}, {"who", "line\nbreak"}},
      json{{"service", "svc"}, {"who", std::string(257, 'w')}},
      json{{"service", "svc"}, {"who", "ci"}, {"reason", 5}},
  };
  for (const json& body : bodies) {
    INFO(body.dump());
    const HttpReply reply = http.post(api + "/lock", body);
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http)["total"] == 0);
  // The edges that are fine: an empty who (documented), 256 bytes of who.
  CHECK(create(http, "svc", "")["who"] == "");
  CHECK(create(http, "svc2", std::string(256, 'w'))["who"] == std::string(256, 'w'));
}

TEST_CASE("http: ttl 0, negative, a string or over a year is 400", "[http][errors][ttl]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const json& ttl : {json(0), json(-1), json(-0.5), json("10"), json(31536001), json(1e300), json(true),
                          json::array({10}), json::object()}) {
    INFO("ttl " << ttl.dump());
    const HttpReply reply = http.post(api + "/lock", json{{"service", "t"}, {"who", "ci"}, {"ttl", ttl}});
    CHECK_STATUS(reply, 400);
    CHECK(reply.json()["error"].is_string());
  }
  CHECK(list(http)["total"] == 0);
  CHECK(is_rfc3339(create(http, "t", "ci", json{{"ttl", 31536000}})["expiresAt"]));
  CHECK(is_rfc3339(create(http, "t2", "ci", json{{"ttl", 0.5}})["expiresAt"]));
}

TEST_CASE("http: an id that is not a UUID is 400 - an unknown UUID is 404", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string bad : {"not-a-uuid", "123", "00000000-0000-4000-8000-00000000000", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}) {
    INFO(bad);
    const HttpReply get = http.get(api + "/lock/" + bad);
    CHECK_STATUS(get, 400);
    CHECK(get.json()["error"].is_string());
    CHECK_STATUS(http.get(api + "/unlock/" + bad), 400);
    CHECK_STATUS(http.del(api + "/lock/" + bad), 400);
  }
  for (const auto& reply : {http.get(api + "/lock/" + unknown_id), http.get(api + "/unlock/" + unknown_id),
                            http.del(api + "/lock/" + unknown_id)}) {
    CHECK_STATUS(reply, 404);
    CHECK(reply.json() == json{{"error", "lock not found"}});
  }
}

TEST_CASE("http: an unknown path is 404 with a JSON error", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  for (const std::string& path : std::vector<std::string>{"/nope", "/api/v1alpha1", "/api/v1alpha1/locks",
                                                          "/api/v1alpha2/lock",
                                                          api + "/lock/" + unknown_id + "/extra/more", "/metrics/x"}) {
    INFO(path);
    const HttpReply reply = http.get(path);
    CHECK_STATUS(reply, 404);
    CHECK(reply.header("content-type").value_or("").rfind("application/json", 0) == 0);
    CHECK(reply.json()["error"].is_string());
  }
}

TEST_CASE("http: a wrong method is 405 with an Allow header", "[http][errors]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply put = http.request("PUT", api + "/lock", R"({"service":"x","who":"y"})");
  REQUIRE_STATUS(put, 405);
  CHECK(put.header("allow") == "POST");
  CHECK(put.json()["error"].is_string());
  const HttpReply get_lock = http.get(api + "/lock");
  CHECK_STATUS(get_lock, 405);
  CHECK(get_lock.header("allow") == "POST");
  const HttpReply post_list = http.post(api + "/locks/list", std::string("{}"));
  CHECK_STATUS(post_list, 405);
  CHECK(post_list.header("allow") == "GET");
  // /lock/{id} takes GET and DELETE.
  const HttpReply put_id = http.request("PUT", api + "/lock/" + std::string(unknown_id), "{}");
  CHECK_STATUS(put_id, 405);
  const std::string allow = put_id.header("allow").value_or("");
  CHECK(contains(allow, "GET"));
  CHECK(contains(allow, "DELETE"));
  CHECK(list(http)["total"] == 0);
}

TEST_CASE("http: a percent-encoded path and query work", "[http]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const std::string id = create(http, "pct-name", "ci")["id"];
  std::string encoded;
  for (const char c : id) encoded += c == '-' ? std::string("%2D") : std::string(1, c);
  const HttpReply by_encoded_id = http.get(api + "/lock/" + encoded);
  REQUIRE_STATUS(by_encoded_id, 200);
  CHECK(by_encoded_id.json()["id"] == id);
  CHECK_STATUS(http.get("/%68ealthz"), 200);
  const json only = list(http, "?service=pct%2Dname&per%5Fpage=5");
  CHECK(only["total"] == 1);
  CHECK(only["perPage"] == 5);
  const HttpReply broken = http.get(api + "/lock/%zz");
  CHECK_STATUS(broken, 400);
  CHECK(broken.json()["error"].is_string());
  const HttpReply released = http.get(api + "/unlock/" + encoded);
  CHECK_STATUS(released, 200);
}

// --- Probes, server info, status page, metrics ----------------------------------------

TEST_CASE("http: /healthz, /readyz and /api/v1alpha1/server", "[http][probes]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply health = http.get("/healthz");
  REQUIRE_STATUS(health, 200);
  CHECK(health.json() == json{{"status", "ok"}});
  const HttpReply ready = http.get("/readyz");
  REQUIRE_STATUS(ready, 200);
  CHECK(ready.json() == json{{"status", "ready"}});
  const HttpReply info = http.get(api + "/server");
  REQUIRE_STATUS(info, 200);
  const json body = info.json();
  CHECK(body["version"].is_string());
  CHECK(!body["version"].get<std::string>().empty());
  CHECK(body["authRequired"] == false);
  CHECK(is_rfc3339(body["startedAt"]));
  const HttpReply s = http.get(api + "/stats");
  REQUIRE_STATUS(s, 200);
  const json tcp_stats = stats(server.port());
  for (const auto& [key, value] : tcp_stats.items()) {
    INFO(key);
    CHECK(s.json().contains(key));
  }
}

TEST_CASE("http: / serves the self-contained status page", "[http][page]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply page = http.get("/");
  REQUIRE_STATUS(page, 200);
  CHECK(page.header("content-type").value_or("").rfind("text/html", 0) == 0);
  CHECK(contains(page.body, "<table"));
  const auto csp = page.header("content-security-policy");
  REQUIRE(csp);
  CHECK(contains(*csp, "default-src 'none'"));
  // No external assets: no absolute http(s) URL anywhere, and no protocol-relative src/href.
  const std::regex external{R"((https?:)?//[a-zA-Z0-9.-]+\.[a-zA-Z]{2,})"};
  std::smatch found;
  INFO("first external URL: " << (std::regex_search(page.body, found, external) ? found.str() : std::string("none")));
  CHECK(!contains(page.body, "http://"));
  CHECK(!contains(page.body, "https://"));
  CHECK(!std::regex_search(page.body, external));
}

TEST_CASE("http: /metrics is Prometheus text with every documented family", "[http][metrics]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const HttpReply reply = http.get("/metrics");
  REQUIRE_STATUS(reply, 200);
  CHECK(reply.header("content-type").value_or("").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = reply.body;
  const std::pair<const char*, const char*> families[] = {
      {"tcpnetlock_connections", "gauge"},
      {"tcpnetlock_locks_held", "gauge"},
      {"tcpnetlock_holds", "gauge"},
      {"tcpnetlock_waiters", "gauge"},
      {"tcpnetlock_requests_total", "counter"},
      {"tcpnetlock_grants_total", "counter"},
      {"tcpnetlock_denials_total", "counter"},
      {"tcpnetlock_waits_total", "counter"},
      {"tcpnetlock_wait_timeouts_total", "counter"},
      {"tcpnetlock_reaped_holders_total", "counter"},
      {"tcpnetlock_forced_releases_total", "counter"},
      {"tcpnetlock_expired_locks_total", "counter"},
      {"tcpnetlock_refused_connections_total", "counter"},
      {"tcpnetlock_wait_seconds", "histogram"},
      {"tcpnetlock_hold_seconds", "histogram"},
      {"process_open_fds", "gauge"},
      {"process_max_fds", "gauge"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_start_time_seconds", "gauge"},
  };
  for (const auto& [name, type] : families) {
    INFO(name);
    CHECK(contains(text, std::string("# TYPE ") + name + " " + type + "\n"));
  }
  CHECK(sample(text, "tcpnetlock_connections"));
  CHECK(sample(text, "tcpnetlock_holds{kind=\"connection\"}") == 0.0);
  CHECK(sample(text, "tcpnetlock_holds{kind=\"detached\"}") == 0.0);
  for (const std::string histogram : {"tcpnetlock_wait_seconds", "tcpnetlock_hold_seconds"}) {
    INFO(histogram);
    CHECK(contains(text, histogram + "_bucket{le=\""));
    CHECK(sample(text, histogram + "_bucket{le=\"+Inf\"}") == 0.0);
    CHECK(sample(text, histogram + "_sum") == 0.0);
    CHECK(sample(text, histogram + "_count") == 0.0);
  }
  CHECK(sample(text, "process_open_fds").value_or(0) > 0);
  CHECK(sample(text, "process_resident_memory_bytes").value_or(0) > 0);
  CHECK(sample(text, "process_start_time_seconds").value_or(0) > 1.6e9);
}

TEST_CASE("http: metrics move with grants, releases, waits and detached locks", "[http][metrics]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  const double grants = metric(http, "tcpnetlock_grants_total");
  const double holds = metric(http, "tcpnetlock_hold_seconds_count");
  const double requests = metric(http, "tcpnetlock_requests_total");

  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:m") == "ok");
  CHECK(metric(http, "tcpnetlock_grants_total") == grants + 1);
  CHECK(metric(http, "tcpnetlock_wait_seconds_count") == 1);
  CHECK(metric(http, "tcpnetlock_requests_total") == requests + 1);
  CHECK(metric(http, "tcpnetlock_holds{kind=\"connection\"}") == 1);
  CHECK(metric(http, "tcpnetlock_connections") == 1);
  CHECK(metric(http, "tcpnetlock_hold_seconds_count") == holds);

  LineClient waiter(server.port());
  waiter.send_line("lock,name:m,wait:30");
  REQUIRE(wait_until([&] { return waiters_of(http, "m") == 1; }));
  CHECK(metric(http, "tcpnetlock_waiters") == 1);
  CHECK(metric(http, "tcpnetlock_waits_total") == 1);

  CHECK(holder.request("release") == "released");
  CHECK(waiter.read_line(5s) == "ok");
  CHECK(metric(http, "tcpnetlock_hold_seconds_count") == holds + 1);
  CHECK(metric(http, "tcpnetlock_grants_total") == grants + 2);
  CHECK(metric(http, "tcpnetlock_waiters") == 0);
  waiter.close();

  LineClient busy(server.port());
  REQUIRE(busy.request("lock,name:busy") == "ok");
  LineClient timed_out(server.port());
  CHECK(timed_out.request("lock,name:busy,wait:0.1") == "not-granted");
  CHECK(metric(http, "tcpnetlock_wait_timeouts_total") == 1);
  CHECK(metric(http, "tcpnetlock_denials_total") == 1);

  const std::string id = create(http, "md", "ci")["id"];
  CHECK(metric(http, "tcpnetlock_holds{kind=\"detached\"}") == 1);
  REQUIRE_STATUS(http.get(api + "/unlock/" + id), 200);
  CHECK(metric(http, "tcpnetlock_holds{kind=\"detached\"}") == 0);
  CHECK(metric(http, "tcpnetlock_hold_seconds_count") >= holds + 2);
  // Cumulative buckets ending with +Inf == _count.
  const std::string text = metrics_text(http);
  for (const std::string histogram : {"tcpnetlock_wait_seconds", "tcpnetlock_hold_seconds"}) {
    INFO(histogram);
    std::istringstream lines(text);
    std::string line;
    double previous = 0;
    int buckets = 0;
    while (std::getline(lines, line)) {
      if (line.rfind(histogram + "_bucket{", 0) != 0) continue;
      const double value = std::stod(line.substr(line.rfind(' ') + 1));
      CHECK(value >= previous);
      previous = value;
      ++buckets;
    }
    CHECK(buckets > 2);
    CHECK(sample(text, histogram + "_bucket{le=\"+Inf\"}") == sample(text, histogram + "_count"));
  }
}

TEST_CASE("http: tcpnetlock_locks_held counts holders, as docs/HTTP-API.md says", "[http][metrics]") {
  // docs/HTTP-API.md, Metrics: a semaphore counts each holder; `.stats` lock_count counts names.
  HttpServerProcess server;
  const HttpClient http(server.http_port());
  LineClient first(server.port());
  REQUIRE(first.request("lock,name:sem,limit:2") == "ok");
  LineClient second(server.port());
  REQUIRE(second.request("lock,name:sem,limit:2") == "ok");
  CHECK(stats(server.port())["lock_count"] == 1);
  CHECK(metric(http, "tcpnetlock_holds{kind=\"connection\"}") == 2);
}

// --- --http off and shutdown ----------------------------------------------------------

TEST_CASE("http: --http off serves no HTTP at all", "[http][lifecycle]") {
  TempDir dir;
  const auto http_port_file = dir.path() / "http-port";
  ServerProcess server({"--http", "off", "--http-port-file", http_port_file.string()});
  // A round trip on the lock port: the server is past writing its port files.
  LineClient client(server.port());
  REQUIRE(client.request(".ping") == "pong");
  CHECK(!std::filesystem::exists(http_port_file));
  CHECK(listening_ports(server.process().pid()) == std::set<std::uint16_t>{server.port()});
}

TEST_CASE("http: by contrast, the HTTP port is a second listening socket", "[http][lifecycle]") {
  HttpServerProcess server;
  CHECK(listening_ports(server.server().process().pid()) ==
        std::set<std::uint16_t>{server.port(), server.http_port()});
}

TEST_CASE("http: /readyz answers 503 while connections drain at shutdown", "[http][lifecycle]") {
  HttpServerProcess server;
  const HttpClient http(server.http_port(), "127.0.0.1", 5s);
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:drain") == "ok");
  REQUIRE_STATUS(http.get("/readyz"), 200);

  const auto signalled = std::chrono::steady_clock::now();
  server.server().process().signal(SIGTERM);
  // Shutdown has begun. The holder keeps its end open, so the server lingers (2 s at most)
  // and HTTP keeps answering meanwhile.
  REQUIRE(holder.read_line(5s) == "shutting-down");
  const HttpReply ready = http.get("/readyz");
  const HttpReply health = http.get("/healthz");
  const auto elapsed = std::chrono::steady_clock::now() - signalled;
  if (ready.status == 0 || health.status == 0) {
    // Only acceptable once the linger time has run out.
    INFO(show(ready) << "\n" << show(health));
    CHECK(elapsed >= 2s);
    WARN("readiness during shutdown not observed: the server was slower than its 2 s linger time");
  } else {
    CHECK_STATUS(ready, 503);
    CHECK(ready.json() == json{{"status", "shutting down"}});
    CHECK_STATUS(health, 200);
  }
  holder.close();
  const auto status = server.server().process().wait_for_exit(10s);
  REQUIRE(status);
  CHECK(status->exited(0));
}

TEST_CASE("http: SIGTERM does not wait for idle keep-alive or half-sent HTTP connections", "[http][lifecycle]") {
  HttpServerProcess server;
  // A keep-alive client that got its answer and stays connected.
  LineClient keep_alive(server.http_port());
  keep_alive.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE(keep_alive.read_line(5s) == "HTTP/1.1 200 OK\r");
  // A client that sent half a request.
  LineClient half(server.http_port());
  half.send("POST /api/v1alpha1/lock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"serv");
  // Both are open on the server's side: a fresh request still gets through.
  REQUIRE_STATUS(HttpClient(server.http_port()).get("/healthz"), 200);

  const auto signalled = std::chrono::steady_clock::now();
  server.server().process().signal(SIGTERM);
  const auto status = server.server().process().wait_for_exit(10s);
  REQUIRE(status);
  CHECK(status->exited(0));
  CHECK(std::chrono::steady_clock::now() - signalled < 5s);
  CHECK(HttpClient(server.http_port(), "127.0.0.1", 2s).get("/healthz").status == 0);  // nobody listens now
}

TEST_CASE("http: after every kind of HTTP traffic the server still shuts down cleanly", "[http][lifecycle]") {
  // Under the sanitizer build, a leak or a memory error shows here: LeakSanitizer runs at
  // exit (a killed server never gets there) and turns the exit status non-zero.
  TempDir dir;
  write_text(dir.path() / "token", "tok\n");
  HttpServerProcess server({"--admin-token-file", (dir.path() / "token").string()});
  const HttpClient http(server.http_port(), "127.0.0.1", 5s);
  const auto good = bearer("tok");
  const std::string id = create(http, "a", "ci", json{{"ttl", 60}}, good)["id"];
  CHECK_STATUS(http.post(api + "/lock", json{{"service", "a"}, {"who", "ci"}}, good), 409);
  CHECK_STATUS(http.post(api + "/lock", json{{"service", "b"}, {"who", "ci"}}), 401);
  CHECK_STATUS(http.post(api + "/lock", std::string("{bad json"), good), 400);
  CHECK_STATUS(http.post(api + "/lock/" + id + "/renew", json{{"ttl", 600}}, good), 200);
  CHECK_STATUS(http.get(api + "/locks/list?per_page=1&page=1"), 200);
  CHECK_STATUS(http.get(api + "/lock/" + id), 200);
  CHECK_STATUS(http.get("/metrics"), 200);
  CHECK_STATUS(http.get("/"), 200);
  CHECK_STATUS(http.get(api + "/stats"), 200);
  CHECK_STATUS(http.get("/nope"), 404);
  CHECK_STATUS(http.request("PUT", api + "/lock", "{}"), 405);
  CHECK(http.post(api + "/lock", std::string(20000, ' '), good).status != 201);
  CHECK(http.raw("GARBAGE\r\n\r\n").closed_by_server);
  CHECK_STATUS(http.get(api + "/lock/%zz"), 400);
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:c,client-id:h") == "ok");
  LineClient waiter(server.port());
  waiter.send_line("lock,name:c,wait:30");
  REQUIRE(wait_until([&] { return waiters_of(http, "c") == 1; }));
  CHECK(!records_of(http, "c")[0].contains("id"));  // not without the token
  CHECK_STATUS(http.del(api + "/lock/" + records_of(http, "c", good)[0]["id"].get<std::string>(), good), 200);
  CHECK(holder.read_line(5s) == "lost,released by admin");
  CHECK(waiter.read_line(5s) == "ok");
  CHECK_STATUS(http.get(api + "/unlock/" + id, good), 200);
  create(http, "d", "ci", json{{"ttl", 0.1}}, good);
  REQUIRE(wait_until([&] { return records_of(http, "d").empty(); }));
  create(http, "e", "ci", json::object(), good);  // still held at shutdown
  holder.close();
  waiter.close();

  server.server().process().signal(SIGTERM);
  const auto status = server.server().process().wait_for_exit(10s);
  REQUIRE(status);
  const std::string errors = server.server().process().stderr_text();
  INFO(errors);
  CHECK(status->exited(0));
  CHECK(!contains(errors, "Sanitizer"));
  CHECK(!contains(errors, "runtime error"));
}
