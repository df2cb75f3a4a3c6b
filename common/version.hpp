// What was built: the release and the commit, for --version and the metrics' build_info.
#pragma once

#include <string>
#include <string_view>

namespace tnl {

/// The release, as CMake's project() says (e.g. "0.1.0").
[[nodiscard]] std::string_view version();

/// The commit the build was configured from (`git describe --always --dirty`), or "unknown"
/// outside a git checkout (a source tarball).
[[nodiscard]] std::string_view git_commit();

/// The line `--version` prints: "PROGRAM VERSION (commit COMMIT)".
[[nodiscard]] std::string version_line(std::string_view program);

}  // namespace tnl
