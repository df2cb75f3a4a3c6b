// tcpnetlock_admin: looks at and manages a tcpnetlock server's locks through its HTTP API
// (docs/HTTP-API.md): list, show, release, renew, stats.
#include <chrono>
#include <exception>
#include <iostream>

#include "tls_options.hpp"
#include "admin_commands.hpp"
#include "admin_http.hpp"
#include "cli_support.hpp"

int main(int argc, char** argv) {
  using namespace tnl::admin;
  AdminOptions options;
  CLI::App app{"", "tcpnetlock_admin"};
  add_admin_options(app, options);
  tnl::add_client_tls_options(app);
  if (const auto code = tnl::cli::parse(app, tnl::cli::arguments(argc, argv))) return *code;
  if (const auto problem = check_admin_options(options)) {
    std::cerr << "ERROR: " << *problem << '\n';
    return admin_exit::usage;
  }
  try {
    const auto token = load_token(options);
    const CurlGlobal curl;
    HttpClient http(options.url, token,
                    std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(options.timeout)));
    return run_admin(options, http, std::cout, std::cerr);
  } catch (const AdminFailure& e) {
    std::cerr << "ERROR: " << e.what() << '\n';
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "ERROR: " << e.what() << '\n';
    return admin_exit::unexpected;
  }
}
