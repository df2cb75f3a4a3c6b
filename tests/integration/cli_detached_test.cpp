// tcpnetlock_client's detached locks (--ttl, --unlock, --renew) against the real server.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"
#include "server_queries.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using namespace tnl::test::cli;
using nlohmann::json;

namespace {

constexpr const char* unknown_id = "00000000-0000-4000-8000-000000000000";

/// The server, without its HTTP API (these tests use the line protocol only).
ServerProcess line_server() { return ServerProcess({"--http", "off"}); }

Finished client(const ServerProcess& server, const std::vector<std::string>& args) {
  return finish(client_argv(server, args));
}

bool is_uuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

bool lock_is_held(std::uint16_t port, const std::string& name) {
  LineClient probe(port);
  return probe.request("lock,name:" + name) == std::optional<std::string>("not-granted");
}

/// `.locks` for `name`: the holders and the number of waiters.
json lock_state(std::uint16_t port, const std::string& name) {
  const json locks = query_json(port, ".locks,name:" + name, "locks,")["locks"];
  return locks.empty() ? json{{"holders", json::array()}, {"waiters", 0}} : locks[0];
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("client --ttl: prints the id, exits, and the server keeps the lock until --unlock", "[cli][detached]") {
  auto server = line_server();
  const Finished taken = client(server, {"--ttl", "600", "--client-id", "ci-7", "det"});
  CHECK(taken.exited(0));
  CHECK(taken.err.empty());
  REQUIRE(taken.out.size() == 37);
  const std::string id = taken.out.substr(0, 36);
  CHECK(is_uuid(id));
  CHECK(taken.out == id + "\n");  // nothing else on stdout: ID=$(tcpnetlock_client --ttl ...) works
  CHECK(lock_is_held(server.port(), "det"));
  const json state = lock_state(server.port(), "det");
  REQUIRE(state["holders"].size() == 1);
  CHECK(state["holders"][0]["id"] == id);
  CHECK(state["holders"][0]["kind"] == "detached");
  CHECK(state["holders"][0]["client_id"] == "ci-7");

  const Finished unlocked = client(server, {"--unlock", id});
  CHECK(unlocked.exited(0));
  CHECK(unlocked.out.empty());
  CHECK(unlocked.err.empty());
  CHECK(lock_is_free(server.port(), "det"));

  const Finished again = client(server, {"--unlock", id});
  CHECK(again.exited(1));
  CHECK(contains(again.err, "err,unknown lock id"));
}

TEST_CASE("client --ttl inf --fencing --lock-name: the id, then the token", "[cli][detached]") {
  auto server = line_server();
  const Finished taken = client(server, {"--ttl", "inf", "--fencing", "--lock-name", "fenced"});
  CHECK(taken.exited(0));
  const auto newline = taken.out.find('\n');
  REQUIRE(newline == 36);
  const std::string id = taken.out.substr(0, newline);
  CHECK(is_uuid(id));
  const std::string second = taken.out.substr(newline + 1);
  REQUIRE(second.rfind("token:", 0) == 0);
  REQUIRE(second.back() == '\n');
  const auto token = std::stoull(second.substr(6));
  const json state = lock_state(server.port(), "fenced");
  REQUIRE(state["holders"].size() == 1);
  CHECK(state["holders"][0]["token"].get<std::uint64_t>() == token);
  CHECK(state["holders"][0]["expires"].is_null());  // inf: no expiry
  CHECK(client(server, {"--unlock", id}).exited(0));
}

TEST_CASE("client --ttl: a held name is not granted (123)", "[cli][detached]") {
  auto server = line_server();
  SECTION("held by a connection") {
    LineClient holder(server.port());
    REQUIRE(holder.request("lock,name:busy") == std::optional<std::string>("ok"));
    const Finished refused = client(server, {"--ttl", "60", "busy"});
    CHECK(refused.exited(123));
    CHECK(refused.out.empty());
    CHECK(refused.err == "ERROR: lock 'busy' not granted by server\n");
  }
  SECTION("held by a detached lock") {
    REQUIRE(client(server, {"--ttl", "60", "busy"}).exited(0));
    CHECK(client(server, {"--ttl", "60", "busy"}).exited(123));
    CHECK(client(server, {"busy"}).exited(123));  // and a connection lock is not granted either
  }
}

TEST_CASE("client --ttl --wait: queues, and gets the lock when it is free", "[cli][detached]") {
  auto server = line_server();
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:queued") == std::optional<std::string>("ok"));
  auto p = ChildProcess::start(client_argv(server, {"--ttl", "60", "--wait", "30", "queued"}), clean_env());
  REQUIRE(wait_until([&] { return lock_state(server.port(), "queued")["waiters"] == 1; }));
  holder.close();
  const auto status = p.wait_for_exit();
  REQUIRE(status);
  CHECK(status->exited(0));
  const std::string id = p.stdout_text().substr(0, 36);
  CHECK(is_uuid(id));
  CHECK(lock_is_held(server.port(), "queued"));
  CHECK(client(server, {"--unlock", id}).exited(0));
}

TEST_CASE("client --ttl: the lock is freed when the TTL runs out", "[cli][detached]") {
  auto server = line_server();
  REQUIRE(client(server, {"--ttl", "0.2", "short"}).exited(0));
  CHECK(wait_until([&] { return lock_is_free(server.port(), "short"); }));
}

TEST_CASE("client --renew", "[cli][detached]") {
  auto server = line_server();
  const Finished taken = client(server, {"--ttl", "60", "lease"});
  REQUIRE(taken.exited(0));
  const std::string id = taken.out.substr(0, 36);
  const std::string before = lock_state(server.port(), "lease")["holders"][0]["expires"].get<std::string>();
  const Finished renewed = client(server, {"--renew", id, "--ttl", "600"});
  CHECK(renewed.exited(0));
  CHECK(renewed.out.empty());
  CHECK(renewed.err.empty());
  const std::string after = lock_state(server.port(), "lease")["holders"][0]["expires"].get<std::string>();
  CHECK(after > before);  // RFC 3339 UTC times of one format sort as text

  const Finished unknown = client(server, {"--renew", unknown_id, "--ttl", "5"});
  CHECK(unknown.exited(1));
  CHECK(contains(unknown.err, "err,unknown lock id"));
}

TEST_CASE("client --unlock/--renew of a lock a connection holds: refused (1)", "[cli][detached]") {
  auto server = line_server();
  LineClient holder(server.port());
  REQUIRE(holder.request("lock,name:conn") == std::optional<std::string>("ok"));
  const std::string id = lock_state(server.port(), "conn")["holders"][0]["id"].get<std::string>();
  const Finished unlock = client(server, {"--unlock", id});
  CHECK(unlock.exited(1));
  CHECK(contains(unlock.err, "err,lock is held by a connection"));
  const Finished renew = client(server, {"--renew", id, "--ttl", "5"});
  CHECK(renew.exited(1));
  CHECK(holder.request(".keepalive") == std::optional<std::string>("alive"));  // still the holder
  CHECK(lock_is_held(server.port(), "conn"));
}

TEST_CASE("client: unknown ids exit 1, invalid ones 4, conflicting options 2", "[cli][detached]") {
  auto server = line_server();
  const Finished unknown = client(server, {"--unlock", unknown_id});
  CHECK(unknown.exited(1));
  CHECK(unknown.err == std::string("ERROR: unlock of lock id ") + unknown_id +
                           " refused by the server: err,unknown lock id\n");

  RefusingPort nothing;  // none of these may get as far as connecting
  const auto offline = [&](const std::vector<std::string>& args) {
    return finish(at_port("tcpnetlock_client", nothing.port_string(), args));
  };
  CHECK(offline({"--unlock", "not-an-id"}).exited(4));
  CHECK(offline({"--ttl", "0", "x"}).exited(4));
  CHECK(offline({"--ttl", "1e3", "x"}).exited(4));
  CHECK(offline({"--ttl", "31536001", "x"}).exited(4));
  const Finished keep_alive = offline({"--ttl", "5", "--keep-alive", "x"});
  CHECK(keep_alive.exited(2));
  CHECK(contains(keep_alive.err, "excludes"));
  CHECK(offline({"--unlock", unknown_id, "x"}).exited(2));
  CHECK(offline({"--renew", unknown_id}).exited(2));
  CHECK(offline({"--ttl", "5"}).exited(2));
  // And a refused connection is still 2, with its message.
  const Finished refused = offline({"--unlock", unknown_id});
  CHECK(refused.exited(2));
  CHECK(contains(refused.err, "refused"));
}

}  // namespace TNL_UNITY_ID
