#include "server_process.hpp"

#include <algorithm>
#include <stdexcept>

namespace tnl::test {

std::string binary(const std::string& name) { return std::string{TNL_BIN_DIR} + "/" + name; }

namespace {
std::vector<std::string> server_argv(std::vector<std::string> argv, const std::string& listen,
                                     const std::string& port_file, std::vector<std::string> extra) {
  argv.insert(argv.end(), {binary("tcpnetlock_server"), "--listen", listen, "--port", "0", "--port-file", port_file});
  // HTTP stays on, as by default, but on an ephemeral port, so that servers run side by side.
  if (std::find(extra.begin(), extra.end(), "--http") == extra.end()) argv.insert(argv.end(), {"--http", "127.0.0.1:0"});
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
