// The real server with its HTTP API on an ephemeral loopback port, for the CLI tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "process.hpp"
#include "server_process.hpp"

namespace tnl::test {

/// The port a server wrote to `file` (it writes it whole, through a rename); nullopt
/// while there is none.
inline std::optional<std::uint16_t> read_port_file(const std::filesystem::path& file) {
  const std::string text = read_file(file);
  if (text.empty() || text.back() != '\n') return std::nullopt;
  const int port = std::stoi(text);
  if (port <= 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

/// ServerProcess plus `--http 127.0.0.1:0 --http-port-file ...`: both the lock port and
/// the HTTP port are ephemeral, so tests can run side by side.
class HttpServerProcess {
 public:
  /// Starts the server with `extra_args` too, and waits until it serves HTTP.
  explicit HttpServerProcess(std::vector<std::string> extra_args = {})
      : server_(with_http(std::move(extra_args), http_port_file())) {
    if (!wait_until([&] { return read_port_file(http_port_file()) || !server_.process().running(); })) {
      throw std::runtime_error("server did not start serving HTTP: " + server_.process().stderr_text());
    }
    const auto port = read_port_file(http_port_file());
    if (!port) throw std::runtime_error("server exited at start: " + server_.process().stderr_text());
    http_port_ = *port;
  }

  ServerProcess& server() { return server_; }
  /// The lock protocol's port.
  [[nodiscard]] std::uint16_t port() const { return server_.port(); }
  [[nodiscard]] std::string port_string() const { return server_.port_string(); }
  [[nodiscard]] std::uint16_t http_port() const { return http_port_; }
  /// Base URL of the HTTP API, e.g. "http://127.0.0.1:41234".
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  /// A private directory that lives as long as the server (for token files and such).
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  static std::vector<std::string> with_http(std::vector<std::string> args, const std::filesystem::path& port_file) {
    args.insert(args.begin(), {"--http", "127.0.0.1:0", "--http-port-file", port_file.string()});
    return args;
  }
  [[nodiscard]] std::filesystem::path http_port_file() const { return dir_.path() / "http-port"; }

  TempDir dir_;  // first: it must exist before the server starts, and outlive it
  ServerProcess server_;
  std::uint16_t http_port_ = 0;
};

}  // namespace tnl::test
