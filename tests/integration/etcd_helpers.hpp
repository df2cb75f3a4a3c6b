// Helpers for the etcd tests: tcpnetlock_server replicas in etcd mode on one EtcdCluster,
// restartable after kill -9, and small queries against them.
#pragma once

#include <catch2/catch.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "etcd_cluster.hpp"
#include "http_client.hpp"
#include "http_port.hpp"
#include "line_client.hpp"
#include "process.hpp"
#include "server_process.hpp"

namespace tnl::test::etcd {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Seconds since `start`, for timing checks and messages.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// One tcpnetlock_server in etcd mode (--backend etcd --etcd-endpoints ... --etcd-prefix ...
/// --etcd-lease-ttl ...), with its lock and HTTP ports ephemeral; kill -9 and start again.
class Replica {
 public:
  Replica(const EtcdCluster& etcd, std::string prefix, int lease_ttl, std::vector<std::string> extra = {})
      : args_{"--backend", "etcd", "--etcd-endpoints", etcd.endpoints(), "--etcd-prefix", std::move(prefix),
              "--etcd-lease-ttl", std::to_string(lease_ttl), "--info"} {
    args_.insert(args_.end(), extra.begin(), extra.end());
    start();
  }

  /// Starts the server (again) and waits until /readyz says it is ready (lease granted).
  void start() {
    server_ = std::make_unique<HttpServerProcess>(args_);
    if (!wait_ready()) FAIL("replica not ready in time: " << stderr_text());
  }
  /// kill -9 (continuing it first if stopped) and waits until it is gone.
  void kill() {
    process().signal(SIGKILL);
    process().signal(SIGCONT);
    REQUIRE(process().wait_for_exit(10s));
  }
  void pause() { process().signal(SIGSTOP); }
  void resume() { process().signal(SIGCONT); }

  [[nodiscard]] std::uint16_t port() const { return server_->port(); }
  [[nodiscard]] std::string port_string() const { return server_->port_string(); }
  [[nodiscard]] std::uint16_t http_port() const { return server_->http_port(); }
  ChildProcess& process() { return server_->server().process(); }
  [[nodiscard]] std::string stderr_text() { return process().stderr_text(); }

  /// GET /readyz: its status (0 when no answer came within `timeout`).
  int readyz(std::chrono::milliseconds timeout = 2s) const {
    return HttpClient(http_port(), "127.0.0.1", timeout).get("/readyz").status;
  }
  bool wait_ready(std::chrono::milliseconds timeout = 20s) {
    return wait_until([&] { return !process().running() || readyz() == 200; }, timeout) && process().running();
  }
  [[nodiscard]] HttpClient http() const { return HttpClient(http_port()); }
  /// `.locks` (or `.locks,name:NAME`) as JSON.
  nlohmann::json locks(const std::string& name = "") const {
    LineClient client(port());
    const auto line = client.request(name.empty() ? ".locks" : ".locks,name:" + name);
    if (!line || line->rfind("locks,", 0) != 0) return nlohmann::json();
    return nlohmann::json::parse(line->substr(6));
  }
  /// The value of one /metrics sample (e.g. `tcpnetlock_etcd_reconnects_total`); nullopt when absent.
  std::optional<double> metric(const std::string& sample) const {
    const HttpReply reply = http().get("/metrics");
    const std::string needle = "\n" + sample + " ";
    const auto at = reply.body.find(needle);
    if (at == std::string::npos) return std::nullopt;
    return std::stod(reply.body.substr(at + needle.size()));
  }

 private:
  std::vector<std::string> args_;
  std::unique_ptr<HttpServerProcess> server_;
};

/// A fresh realm prefix per test, so that tests sharing nothing but the binary never meet.
inline std::string unique_prefix(const std::string& tag) {
  static int counter = 0;
  return "/tnl-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "/";
}

/// The number of holders `.locks` on `replica` shows for `name` (0 when not listed), and
/// its waiter count.
struct NameState {
  std::size_t holders = 0;
  std::size_t waiters = 0;
  std::set<std::string> client_ids;  ///< of the holders
};
inline NameState name_state(const Replica& replica, const std::string& name) {
  NameState state;
  const auto json = replica.locks(name);
  if (!json.is_object() || !json.contains("locks")) return state;
  for (const auto& lock : json["locks"]) {
    if (lock.value("name", "") != name) continue;
    for (const auto& holder : lock["holders"]) {
      if (holder.value("kind", "") == "delay") continue;
      ++state.holders;
      state.client_ids.insert(holder.value("client_id", ""));
    }
    state.waiters = lock.value("waiters", 0);
  }
  return state;
}

/// Waits until `replica`'s `.locks` shows `waiters` waiters on `name` (listings may lag up
/// to a second behind etcd).
inline bool wait_waiters(const Replica& replica, const std::string& name, std::size_t waiters,
                         std::chrono::milliseconds timeout = 10s) {
  return wait_until([&] { return name_state(replica, name).waiters == waiters; }, timeout);
}

/// The token in an answer "ok,token:N" (or "ok,id:ID,token:N"); 0 when there is none.
inline std::uint64_t token_of(const std::optional<std::string>& answer) {
  if (!answer) return 0;
  const auto at = answer->find("token:");
  return at == std::string::npos ? 0 : std::stoull(answer->substr(at + 6));
}

/// The id in an answer "ok,id:ID[,token:N]"; empty when there is none.
inline std::string id_of(const std::optional<std::string>& answer) {
  if (!answer || answer->rfind("ok,id:", 0) != 0) return "";
  const std::string rest = answer->substr(6);
  return rest.substr(0, rest.find(','));
}

/// argv of `program` (tcpnetlock_do, tcpnetlock_client) pointed at `replica`, then `args`.
inline std::vector<std::string> at(const std::string& program, const Replica& replica,
                                   const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary(program), "--host", "127.0.0.1", "--port", replica.port_string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// Spawn options with no TCPNETLOCK_* variables from the environment the tests run in.
inline SpawnOptions clean_env() {
  SpawnOptions options;
  for (const char* name : {"TCPNETLOCK_HOST", "TCPNETLOCK_PORT", "TCPNETLOCK_CLIENT_ID", "TCPNETLOCK_WAIT",
                           "TCPNETLOCK_REASON", "TCPNETLOCK_TOKEN", "TCPNETLOCK_LOCK_NAME"}) {
    options.env[name] = std::nullopt;
  }
  options.new_process_group = true;
  return options;
}

}  // namespace tnl::test::etcd
