// tcpnetlock_admin's command line and commands, over an HttpTransport (so that unit tests
// can script the server's answers).
#pragma once

#include <CLI/CLI.hpp>

#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>

#include "admin_transport.hpp"

namespace tnl::admin {

/// Exit codes of tcpnetlock_admin.
namespace admin_exit {
inline constexpr int ok = 0;
inline constexpr int refused = 1;       ///< the server said no: 404 (no such lock), 409, other 4xx
inline constexpr int usage = 2;         ///< invalid options or arguments
inline constexpr int unreachable = 3;   ///< no HTTP answer: refused, unresolvable, timed out
inline constexpr int unexpected = 4;    ///< an answer that makes no sense: not JSON, 5xx, ...
inline constexpr int unauthorized = 5;  ///< 401: a token is needed, or the one sent is wrong
}  // namespace admin_exit

inline constexpr const char* default_url = "http://127.0.0.1:7655";
/// Environment variables that supply defaults.
inline constexpr const char* env_url = "TCPNETLOCK_ADMIN_URL";
inline constexpr const char* env_token_file = "TCPNETLOCK_ADMIN_TOKEN_FILE";
inline constexpr const char* env_token = "TCPNETLOCK_ADMIN_TOKEN";

/// `list` asks for this many locks a page (the API's maximum) ...
inline constexpr int list_page_size = 1000;
/// ... and stops after this many pages, saying so.
inline constexpr int list_max_pages = 100;

/// Command line of tcpnetlock_admin.
struct AdminOptions {
  std::string url = default_url;
  std::string token_file;
  bool json = false;
  double timeout = 10;
  std::string command;  ///< the subcommand given: list, show, release, renew or stats
  std::string name;     ///< list --name
  std::string target;   ///< show NAME|ID, release ID, renew ID
  std::string ttl;      ///< renew --ttl, as given
};

/// Declares the options and subcommands on `app`, storing into `options` (which must
/// outlive the parse). Environment variables supply defaults.
void add_admin_options(CLI::App& app, AdminOptions& options);

/// Checks what CLI11 cannot (URL scheme, names, ids, TTL): nullopt when fine, else the
/// problem (exit admin_exit::usage).
[[nodiscard]] std::optional<std::string> check_admin_options(const AdminOptions& options);

/// A failed command: what to print and the exit code.
class AdminFailure : public std::runtime_error {
 public:
  AdminFailure(int exit_code, const std::string& message) : std::runtime_error(message), exit_code_(exit_code) {}
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

/// The bearer token: the first line, stripped, of the file --token-file (or
/// $TCPNETLOCK_ADMIN_TOKEN_FILE) names, else $TCPNETLOCK_ADMIN_TOKEN; nullopt when
/// neither is given. Throws AdminFailure (usage) when the file cannot be read, or the
/// token is empty or holds characters an HTTP header cannot carry.
[[nodiscard]] std::optional<std::string> load_token(const AdminOptions& options);

/// The text of the server's error answer: its JSON `error` field, else the first line of
/// the body (cut to 200 bytes); empty when there is none.
[[nodiscard]] std::string error_text(const std::string& body);

/// Runs the command in `options` against `http`: results on `out`, a failure as one
/// "ERROR: ..." line on `err` (a warning, such as a listing cut short, as one
/// "WARNING: ..." line). Returns the exit code.
int run_admin(const AdminOptions& options, HttpTransport& http, std::ostream& out, std::ostream& err);

}  // namespace tnl::admin
