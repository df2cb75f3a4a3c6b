// Lock-name derivation from a command, as tcpnetlock_do does without --lock-name.
#include <catch2/catch.hpp>

#include "lock_name.hpp"
#include "protocol.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::lock_name_from_command;

TEST_CASE("words are joined with spaces, then ' ', '.' and '/' become '_'", "[lock_name]") {
  CHECK(lock_name_from_command({"ls", "-l"}) == "ls_-l");
  CHECK(lock_name_from_command({"python", "manage.py", "migrate"}) == "python_manage_py_migrate");
  CHECK(lock_name_from_command({"/usr/bin/backup", "--full"}) == "usr_bin_backup_--full");
  CHECK(lock_name_from_command({"a b"}) == "a_b");
}

TEST_CASE("leading and trailing '_' are stripped, inner ones kept", "[lock_name]") {
  CHECK(lock_name_from_command({"./manage.py", "migrate"}) == "manage_py_migrate");
  CHECK(lock_name_from_command({"__x__"}) == "x");
  CHECK(lock_name_from_command({"a", "", "b"}) == "a__b");
  CHECK(lock_name_from_command({"dir/"}) == "dir");
}

TEST_CASE("characters outside [a-zA-Z0-9_-] are dropped after stripping", "[lock_name]") {
  CHECK(lock_name_from_command({"echo", "$HOME"}) == "echo_HOME");
  CHECK(lock_name_from_command({"sh", "-c", "exit 7"}) == "sh_-c_exit_7");
  CHECK(lock_name_from_command({"café"}) == "caf");
  // Stripping happens before dropping, so a '_' exposed by a dropped character stays.
  CHECK(lock_name_from_command({"!_a_!"}) == "_a_");
  CHECK(lock_name_from_command({"echo", "a|b;c"}) == "echo_abc");
}

TEST_CASE("nothing left means no name", "[lock_name]") {
  CHECK(lock_name_from_command({}).empty());
  CHECK(lock_name_from_command({"..."}).empty());
  CHECK(lock_name_from_command({"/", "/"}).empty());
  CHECK(lock_name_from_command({"!!"}).empty());
}

TEST_CASE("a derived name, when not empty, is a valid lock name", "[lock_name]") {
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"ls", "-la", "/tmp"}, {"./x.sh"}, {"echo", "héllo wörld"}, {"a\tb"}, {"-"}}) {
    const auto name = lock_name_from_command(command);
    if (!name.empty()) CHECK(tnl::is_valid_lock_name(name));
  }
}

}  // namespace TNL_UNITY_ID
