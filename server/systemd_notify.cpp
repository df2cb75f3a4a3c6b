#include "systemd_notify.hpp"

#include <cstring>
#include <spdlog/spdlog.h>

#ifdef TNL_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace tnl::systemd {

namespace {

/// Sends `state` (newline-separated assignments) to systemd; a failure is logged, never
/// fatal: a server that cannot tell systemd it is ready still serves.
void notify(const std::string& state) {
#ifdef TNL_HAVE_LIBSYSTEMD
  // unset_environment 0: a restart of the server by itself (none today) would still notify.
  const int result = sd_notify(0, state.c_str());
  if (result < 0) spdlog::warn("cannot notify systemd: {}", std::strerror(-result));
#else
  (void)state;
#endif
}

/// A STATUS= value on one line (a newline would start another assignment).
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

void notify_ready(const std::string& status) { notify("READY=1\nSTATUS=" + one_line(status)); }

void notify_stopping(const std::string& status) { notify("STOPPING=1\nSTATUS=" + one_line(status)); }

void notify_status(const std::string& status) { notify("STATUS=" + one_line(status)); }

}  // namespace tnl::systemd
