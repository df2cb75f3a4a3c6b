// Tells systemd how the server is doing (a Type=notify unit), through libsystemd's
// sd_notify(3): READY=1 once every listener is up, STOPPING=1 when it shuts down, and a
// STATUS= line with each (`systemctl status` shows it). Outside systemd (no NOTIFY_SOCKET
// in the environment), or when built without libsystemd, every call does nothing.
#pragma once

#include <string>

namespace tnl::systemd {

/// READY=1 and STATUS=`status`: every listener is up, clients may come.
void notify_ready(const std::string& status);
/// STOPPING=1 and STATUS=`status`: shutting down, connections are draining.
void notify_stopping(const std::string& status);
/// STATUS=`status` alone.
void notify_status(const std::string& status);

}  // namespace tnl::systemd
