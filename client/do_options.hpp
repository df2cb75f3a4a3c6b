// Options and exit codes of tcpnetlock_do.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "protocol.hpp"

namespace tnl::cli {

/// Exit codes of tcpnetlock_do, as tcpnetlock 0.1.8 defined them; otherwise the
/// command's own status (128+N when it died of signal N).
namespace do_exit {
inline constexpr int invalid_options = 2;
inline constexpr int not_granted = 123;
/// Also: interrupted before the command started, or the guardian was killed (the command
/// and everything it started were then terminated).
inline constexpr int cannot_run = 124;
inline constexpr int refused = 125;
inline constexpr int command_not_found = 127;
/// The lock was lost while the command ran (the connection broke, or the server sent
/// `lost` or `shutting-down`): the command was terminated (--on-lost kill), or it
/// succeeded (--on-lost warn). Same code as tcpnetlock_client's.
inline constexpr int lock_lost = 122;
}  // namespace do_exit

/// Command line of tcpnetlock_do.
struct DoOptions {
  std::string lock_name;  ///< empty until derived from the command
  std::string host = "localhost";
  std::uint16_t port = default_port;
  std::string client_id;  ///< empty: none sent
  int retry = 0;
  double retry_wait = 10;
  bool keep_alive = true;  ///< on by default, unlike tcpnetlock; --no-keep-alive turns it off
  double keep_alive_secs = 15;
  /// A keepalive unanswered for this long means the lock is lost (the server may be gone
  /// silently and have taken it): the command is stopped. See docs/PROTOCOL.md, lock-delay.
  double keep_alive_timeout = 5;
  LockExtensionOptions lock;
  std::string on_lost = "kill";  ///< kill: terminate the command's process group; warn: let it finish
  double kill_grace = 10;        ///< seconds between SIGTERM and SIGKILL
  /// Release the lock once the command has exited, leaving what it left running (by
  /// default that is terminated first).
  bool leave_background = false;
  bool shell = false;
  /// -c COMMAND_STRING (flock's): run it with /bin/sh -c, as --shell with one COMMAND.
  std::string shell_command;
  bool shell_command_given = false;  ///< -c was given (even an empty string)
  bool info = false;                 ///< --info or --verbose
  bool debug = false;
  std::vector<std::string> command;
};

/// Declares every option of tcpnetlock_do on `app`, storing into `options` (which must
/// outlive the parse). Environment variables supply defaults.
void add_do_options(CLI::App& app, DoOptions& options);

/// Refuses one of our short options (-n, -w, -E, -c, -V...; not -h) after COMMAND's first
/// word and before any `--`: CLI11, like argparse, would take it as ours and drop it from the
/// command (`tcpnetlock_do sort -n f` would run `sort f`). Such a word was an unknown option,
/// an error, before these options existed, and stays one. nullopt when fine, else the
/// problem (exit 2). `app` must have the options declared.
std::optional<std::string> check_short_options_after_command(const CLI::App& app,
                                                             const std::vector<std::string>& args);

/// Checks what CLI11 cannot and derives the lock name from the command when none was
/// given. nullopt when fine, else the problem (an invalid option: exit 2).
std::optional<std::string> finalize_do_options(DoOptions& options);

/// The argv to execute: the command itself, or /bin/sh -c COMMAND with --shell.
std::vector<std::string> command_argv(const DoOptions& options);

}  // namespace tnl::cli
