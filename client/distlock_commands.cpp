#include "distlock_commands.hpp"

#include <unistd.h>

#include <cstddef>  // before Asio, see lock_client.hpp
#include <ostream>

#include <asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>

#include "cli_support.hpp"
#include "distlock_realm.hpp"
#include "do_options.hpp"
#include "do_run.hpp"
#include "human_duration.hpp"
#include "lock_client.hpp"
#include "protocol.hpp"

namespace tnl::distlock {

namespace {

using cli::print_error;

std::string address(const Endpoint& endpoint) {
  if (endpoint.host.find(':') != std::string::npos) return fmt::format("[{}]:{}", endpoint.host, endpoint.port);
  return fmt::format("{}:{}", endpoint.host, endpoint.port);
}

/// Whether a failure means "nothing was done there, try the next server": it could not be
/// reached, or it answered that its backend is out of reach or that it is shutting down.
/// Never a connection lost after a request was sent: that server may have acted on it.
bool try_next(const ClientError& e) {
  switch (e.kind()) {
    case ClientError::Kind::refused:
    case ClientError::Kind::connect_failed:
      return true;
    case ClientError::Kind::server_error:
    case ClientError::Kind::unexpected_answer: {
      const std::string_view what = e.what();
      return what.find(answer::backend_unavailable) != std::string_view::npos ||
             what.find(answer::shutting_down) != std::string_view::npos;
    }
    default:
      return false;
  }
}

/// With several endpoints, throws std::runtime_error (no try_next()) unless every server of
/// the list that answers says it is a replica of one shared store (`.stats`: "backend"
/// "etcd", and one "store": one etcd cluster, one --etcd-prefix). Servers that keep their
/// own locks (--backend local), or replicas of two realms, in one list would each grant a
/// lock: one while another is unreachable, that one again to whoever reaches it. Checked
/// before any server is used, so that the list is fixed before it matters.
void require_shared_store(const Settings& settings) {
  if (settings.endpoints.size() < 2) return;
  // Every server of the list that answers now must keep its locks in the same store: replicas
  // of one etcd cluster under one --etcd-prefix. Replicas of two realms (or two clusters)
  // in one list would each grant the same lock on a failover, as two local servers would.
  // An unreachable server cannot be asked: it is checked on a run that reaches it.
  std::string first_store;
  const Endpoint* first = nullptr;
  for (const Endpoint& endpoint : settings.endpoints) {
    std::string text;
    try {
      asio::io_context io;
      LockClient client(io);
      client.connect(endpoint.host, endpoint.port);
      text = client.stats();
    } catch (const ClientError& e) {
      spdlog::info("{}: not asked where it keeps its locks: {}", address(endpoint), e.what());
      continue;
    }
    const auto stats = nlohmann::json::parse(text, nullptr, false);
    const bool shared = stats.is_object() && stats.value("backend", "") == "etcd";
    if (!shared) {
      throw std::runtime_error(
          fmt::format("{} keeps its locks itself (--backend local), yet several endpoints are listed: two servers "
                      "of the list would each grant the same lock. List one server, or only replicas of one "
                      "--backend etcd",
                      address(endpoint)));
    }
    const std::string store = stats.value("store", "");
    if (!first) {
      first = &endpoint;
      first_store = store;
    } else if (store != first_store || store.empty()) {
      throw std::runtime_error(fmt::format(
          "{} and {} keep their locks in different places ({} and {}): two servers of the list would each grant "
          "the same lock. List only replicas of one etcd cluster and one --etcd-prefix",
          address(*first), address(endpoint), first_store.empty() ? "unknown" : first_store,
          store.empty() ? "unknown" : store));
    }
  }
}

/// Runs `attempt` on a fresh client connected to each endpoint in turn, until one does
/// not fail with try_next(); its result, or the last failure rethrown.
template <class Attempt>
auto try_endpoints(const Settings& settings, Attempt attempt) {
  require_shared_store(settings);
  std::string failures;
  for (std::size_t i = 0; i < settings.endpoints.size(); ++i) {
    const Endpoint& endpoint = settings.endpoints[i];
    asio::io_context io;
    LockClient client(io);
    try {
      client.connect(endpoint.host, endpoint.port);
      return attempt(client, endpoint);
    } catch (const ClientError& e) {
      if (!try_next(e)) throw;
      spdlog::info("{}: {}", address(endpoint), e.what());
      failures += (failures.empty() ? "" : "; ") + std::string{e.what()};
      if (i + 1 == settings.endpoints.size()) throw ClientError(e.kind(), "no server could serve it: " + failures);
    }
  }
  throw ClientError(ClientError::Kind::connect_failed, "no endpoint");  // not reached: never empty
}

/// The host part of "host:port" or "[v6]:port".
std::string host_of_peer(const std::string& peer) {
  if (!peer.empty() && peer.front() == '[') return peer.substr(1, peer.find(']') - 1);
  return peer.substr(0, peer.rfind(':'));
}

/// One holder as --list shows it.
struct Row {
  std::string name, host, age, reason;
};

/// The holders in the realm of `prefix` in a `.locks` JSON text (lock-delays left out).
std::vector<Row> rows_in_realm(const std::string& json_text, const std::string& prefix) {
  const auto listing = nlohmann::json::parse(json_text);
  std::vector<Row> rows;
  for (const auto& lock : listing.at("locks")) {
    const auto name = name_in_realm(prefix, lock.at("name").get<std::string>());
    if (!name) continue;
    for (const auto& holder : lock.at("holders")) {
      if (holder.value("kind", "") == "delay") continue;
      std::string host = holder.value("client_id", "");
      if (host.empty()) host = host_of_peer(holder.value("peer", ""));
      rows.push_back(Row{*name, host, human_duration(holder.value("held_seconds", 0.0)), holder.value("reason", "")});
    }
  }
  return rows;
}

/// "held by HOST for AGE (REASON)" for each holder of our `lock_name`, asked anew of
/// `endpoint`; empty when that fails (the message is then shorter, no more).
std::string holders_text(const Settings& settings, const Endpoint& endpoint) {
  try {
    asio::io_context io;
    LockClient client(io);
    client.connect(endpoint.host, endpoint.port);
    std::string text;
    for (const Row& row : rows_in_realm(client.locks(settings.lock_name), settings.prefix)) {
      text += fmt::format("{}held by {} for {}{}", text.empty() ? "" : ", ", row.host.empty() ? "?" : row.host, row.age,
                          row.reason.empty() ? "" : " (" + row.reason + ")");
    }
    return text;
  } catch (const std::exception&) {
    return {};
  }
}

LockRequest request_for(const Settings& settings, const std::string& client_id) {
  LockRequest request;
  request.name = settings.lock_name;
  request.client_id = client_id;
  request.wait_seconds = settings.wait_seconds;
  request.reason = settings.reason;
  return request;
}

std::string wait_text(const Settings& settings) {
  if (!settings.wait_seconds) return "";
  if (*settings.wait_seconds == 0) return " (not waiting: --nowait or --timeout 0)";
  return fmt::format(" within the timeout ({:g} s)", *settings.wait_seconds);
}

/// "lock 'NAME' not acquired[ within …][: held by …]", the holders asked anew of `endpoint`.
void print_not_acquired(const Settings& settings, const Endpoint& endpoint) {
  const std::string holders = holders_text(settings, endpoint);
  print_error(fmt::format("lock '{}' not acquired{}{}", settings.name, wait_text(settings),
                          holders.empty() ? "" : ": " + holders));
}

}  // namespace

std::string host_client_id() {
  std::array<char, 256> name{};
  if (gethostname(name.data(), name.size() - 1) != 0) return {};
  std::string id{name.data()};
  for (char& c : id) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                         c == '@' || c == '_' || c == '-';
    if (!allowed) c = '_';
  }
  return id;
}

int take_lock(const Settings& settings, const std::string& client_id) {
  try {
    // The timeout is the whole wait: the next server (after one that ended while we were
    // queued on it) gets what is left of it, not all of it again.
    using Clock = std::chrono::steady_clock;
    std::optional<Clock::time_point> deadline;
    if (settings.wait_seconds) {
      deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(*settings.wait_seconds));
    }
    return try_endpoints(settings, [&](LockClient& client, const Endpoint& endpoint) {
      LockRequest request = request_for(settings, client_id);
      if (deadline && *settings.wait_seconds > 0) {
        request.wait_seconds = std::max(0.0, std::chrono::duration<double>(*deadline - Clock::now()).count());
      }
      const DetachedLockResult result = client.lock_detached(request, Ttl{std::nullopt});
      if (result.granted) {
        spdlog::info("lock '{}' ({}) taken on {}, id {}", settings.name, settings.lock_name, address(endpoint),
                     result.id);
        std::fprintf(stderr, "lock '%s' acquired; release it with --unlock\n", settings.name.c_str());
        return 0;
      }
      print_not_acquired(settings, endpoint);
      return exit_failure;
    });
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_failure;
  }
}

int unlock(const Settings& settings, const std::string& admin_token) {
  try {
    return try_endpoints(settings, [&](LockClient& client, const Endpoint&) {
      const std::string answer = client.unlock_name(settings.lock_name, admin_token);
      if (answer == answer::released) {
        std::fprintf(stderr, "lock '%s' released\n", settings.name.c_str());
        return 0;
      }
      if (answer == answer::backend_unavailable || answer == answer::shutting_down) {
        throw ClientError(ClientError::Kind::server_error, answer);  // the next server, if any
      }
      if (answer == answer::lock_not_held) {
        print_error(fmt::format("lock '{}' not found", settings.name));
      } else if (answer == answer::held_by_connection) {
        print_error(
            fmt::format("lock '{}' is held by a running command (`-- COMMAND`), not by --lock: it is released "
                        "when that command ends",
                        settings.name));
      } else if (answer == answer::admin_token_required) {
        print_error(
            fmt::format("the server needs its admin token to unlock by name: give it with --admin-token-file "
                        "or {}",
                        env_admin_token_file));
      } else {
        print_error(fmt::format("unlock of '{}' refused by the server: {}", settings.name, answer));
      }
      return exit_failure;
    });
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_failure;
  }
}

int list(const Settings& settings, std::ostream& out) {
  try {
    const std::vector<Row> rows = try_endpoints(
        settings, [&](LockClient& client, const Endpoint&) { return rows_in_realm(client.locks(), settings.prefix); });
    Row widths{"NAME", "HOST", "AGE", "REASON"};
    std::size_t name_width = widths.name.size(), host_width = widths.host.size(), age_width = widths.age.size();
    for (const Row& row : rows) {
      name_width = std::max(name_width, row.name.size());
      host_width = std::max(host_width, row.host.size());
      age_width = std::max(age_width, row.age.size());
    }
    const auto print = [&](const Row& row) {
      std::string line = fmt::format("{:<{}}  {:<{}}  {:<{}}  {}", row.name, name_width, row.host, host_width, row.age,
                                     age_width, row.reason);
      line.erase(line.find_last_not_of(' ') + 1);
      out << line << '\n';
    };
    print(widths);
    for (const Row& row : rows) print(row);
    out.flush();
    return 0;
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_failure;
  }
}

int run_command(const Settings& settings, const std::string& client_id, const std::vector<std::string>& command,
                const CommandLineArea& command_line) {
  // The first server that answers `.ping` takes the lock request (a connection lock, held
  // by tcpnetlock_do's run for as long as the command runs).
  std::optional<Endpoint> server;
  try {
    server = try_endpoints(settings, [](LockClient& client, const Endpoint& endpoint) {
      client.ping();
      return endpoint;
    });
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_failure;
  }
  cli::DoOptions options;
  options.lock_name = settings.lock_name;
  options.host = server->host;
  options.port = server->port;
  options.client_id = client_id;
  options.lock.wait_seconds = settings.wait_seconds;
  options.lock.wait = settings.wait_seconds ? fmt::format("{}", *settings.wait_seconds) : "inf";
  options.lock.reason = settings.reason;
  options.command = command;
  try {
    const cli::DoRunResult result = cli::run_do(options, command_line);
    if (result.from_command) return result.code;
    if (result.code == options.lock.conflict_exit_code) {
      // tcpnetlock_do's message names our lock; say whose it is, as --lock does.
      print_not_acquired(settings, *server);
    }
    return exit_failure;
  } catch (const std::exception& e) {
    print_error(e.what());
    return exit_failure;
  }
}

}  // namespace tnl::distlock
