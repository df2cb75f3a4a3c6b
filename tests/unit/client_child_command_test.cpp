// ChildCommand: starting the guarded command and telling "not found" from its own 127.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "child_command.hpp"
#include "process.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::ChildCommand;

TEST_CASE("the command's exit status is reported", "[client][child]") {
  auto child = ChildCommand::start({"sh", "-c", "exit 7"});
  CHECK(ChildCommand::exit_code(child.wait()) == 7);
  CHECK(child.try_reap());  // still known after reaping
}

TEST_CASE("a command that is not found throws ENOENT, one exiting 127 does not", "[client][child]") {
  try {
    ChildCommand::start({"no-such-command-tnl-unit-test"});
    FAIL("expected an exception");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
  }
  auto own = ChildCommand::start({"sh", "-c", "exit 127"});
  CHECK(ChildCommand::exit_code(own.wait()) == 127);
}

TEST_CASE("a file that is not executable throws EACCES", "[client][child]") {
  tnl::test::TempDir dir;
  const auto file = dir.path() / "not-executable";
  std::ofstream{file} << "exit 0\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  try {
    ChildCommand::start({file.string()});
    FAIL("expected an exception");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EACCES);
  }
}

TEST_CASE("signals reach the command, death by signal N is 128+N", "[client][child]") {
  auto child = ChildCommand::start({"sleep", "60"});
  CHECK_FALSE(child.try_reap());
  child.signal(SIGTERM);
  const int status = child.wait();
  CHECK(WIFSIGNALED(status));
  CHECK(ChildCommand::exit_code(status) == 128 + SIGTERM);
  child.signal(SIGTERM);  // harmless once reaped
}

TEST_CASE("exit codes from raw wait statuses", "[client][child]") {
  CHECK(ChildCommand::exit_code(0) == 0);
  CHECK(ChildCommand::exit_code(3 << 8) == 3);
  CHECK(ChildCommand::exit_code(SIGKILL) == 128 + SIGKILL);
}

}  // namespace TNL_UNITY_ID
