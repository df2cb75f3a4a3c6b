#include "server_process.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <stdexcept>

namespace tnl::test {

std::string binary(const std::string& name) { return std::string{TNL_BIN_DIR} + "/" + name; }

bool etcd_backend() {
  const char* file = std::getenv("TNL_TEST_ETCD_ENDPOINTS_FILE");
  return file != nullptr && *file != '\0';
}

namespace {

/// With TNL_TEST_ETCD_ENDPOINTS_FILE set (the etcd/ reruns of the suites, tests/CMakeLists.txt):
/// the options that put a server on the ctest fixture's etcd, in a realm (--etcd-prefix) of its
/// own, so that no two servers, and no two runs, share a lock. Empty otherwise, or when the
/// test chose a backend itself.
std::vector<std::string> etcd_args(const std::vector<std::string>& extra) {
  if (!etcd_backend()) return {};
  const char* file = std::getenv("TNL_TEST_ETCD_ENDPOINTS_FILE");
  if (std::find(extra.begin(), extra.end(), "--backend") != extra.end()) return {};
  std::string endpoints = read_file(file);
  while (!endpoints.empty() && (endpoints.back() == '\n' || endpoints.back() == ' ')) endpoints.pop_back();
  if (endpoints.empty()) {
    throw std::runtime_error(std::string("no etcd endpoint in ") + file + " (is the etcd fixture running?)");
  }
  static std::mt19937_64 random{std::random_device{}()};
  char realm[32];
  std::snprintf(realm, sizeof realm, "/t-%016llx/", static_cast<unsigned long long>(random()));
  return {"--backend", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", realm};
}

std::vector<std::string> server_argv(std::vector<std::string> argv, const std::string& listen,
                                     const std::string& port_file, std::vector<std::string> extra) {
  argv.insert(argv.end(), {binary("tcpnetlock_server"), "--listen", listen, "--port", "0", "--port-file", port_file});
  // HTTP stays on, as by default, but on an ephemeral port, so that servers run side by side.
  if (std::find(extra.begin(), extra.end(), "--http") == extra.end()) argv.insert(argv.end(), {"--http", "127.0.0.1:0"});
  const auto etcd = etcd_args(extra);
  argv.insert(argv.end(), etcd.begin(), etcd.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}
}  // namespace

ServerProcess::ServerProcess(std::vector<std::string> extra_args, std::string listen,
                             std::vector<std::string> launcher)
    : process_(ChildProcess::start(
          server_argv(std::move(launcher), listen, (dir_.path() / "port").string(), std::move(extra_args)))) {
  const auto port_file = dir_.path() / "port";
  if (!wait_until([&] { return !read_file(port_file).empty() || !process_.running(); })) {
    throw std::runtime_error("server did not start listening: " + process_.stderr_text());
  }
  const std::string text = read_file(port_file);
  if (text.empty()) throw std::runtime_error("server exited at start: " + process_.stderr_text());
  port_ = static_cast<std::uint16_t>(std::stoi(text));
}

std::optional<ExitStatus> ServerProcess::stop(int sig) {
  process_.signal(sig);
  return process_.wait_for_exit();
}

}  // namespace tnl::test
