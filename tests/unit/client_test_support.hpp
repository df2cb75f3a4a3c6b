// Shared by the client unit tests: which ClientError an operation throws, tcpnetlock_client's
// options parsed quietly, and an environment without the variables the clients read.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "client_options.hpp"
#include "lock_client.hpp"
#include "scoped_env.hpp"

namespace tnl::test::client {

/// The kind of the ClientError that `operation` throws; fails the test if it throws none.
inline ClientError::Kind kind_of(const std::function<void()>& operation) {
  try {
    operation();
  } catch (const ClientError& e) {
    return e.kind();
  }
  FAIL("expected a ClientError");
  return ClientError::Kind::not_connected;
}

/// Parses tcpnetlock_client arguments; the exit code when parsing says to exit.
inline std::optional<int> parse_client(tnl::cli::ClientOptions& options, const std::vector<std::string>& args) {
  CLI::App app{"", "tcpnetlock_client"};
  tnl::cli::add_client_options(app, options);
  std::ostringstream quiet;
  return tnl::cli::parse(app, args, quiet, quiet);
}

/// Every TCPNETLOCK_* variable tcpnetlock_client and tcpnetlock_do read, unset (use with ScopedEnv).
inline const Env no_client_env{{tnl::cli::env_host, std::nullopt},
                               {tnl::cli::env_port, std::nullopt},
                               {tnl::cli::env_client_id, std::nullopt},
                               {tnl::cli::env_wait, std::nullopt},
                               {tnl::cli::env_reason, std::nullopt}};

}  // namespace tnl::test::client
