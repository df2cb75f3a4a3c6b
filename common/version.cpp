#include "version.hpp"

#ifndef TNL_VERSION
#error "TNL_VERSION is defined by common/CMakeLists.txt"
#endif
#ifndef TNL_GIT_COMMIT
#define TNL_GIT_COMMIT "unknown"
#endif

namespace tnl {

std::string_view version() { return TNL_VERSION; }

std::string_view git_commit() { return TNL_GIT_COMMIT; }

std::string version_line(std::string_view program) {
  std::string line(program);
  line += ' ';
  line += version();
  line += " (commit ";
  line += git_commit();
  line += ')';
  return line;
}

}  // namespace tnl
