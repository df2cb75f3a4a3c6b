// distlock's prefixes (realms) on our lock names: client/distlock_realm.hpp.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "distlock_realm.hpp"
#include "protocol.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::distlock;

TEST_CASE("distlock realm: the default prefix and plain ones give readable lock names", "[distlock][realm]") {
  CHECK(realm_lock_name("/distlock/", "percona_prod") == "__distlock__-percona_prod");
  CHECK(realm_lock_name("staging", "db") == "staging-db");
  CHECK(realm_lock_name("/staging/", "db") == "__staging__-db");
  CHECK(realm_lock_name("", "db") == "-db");
  CHECK(encode_prefix("a-b_c.d e") == "a_2db_5fc_2ed_20e");
  CHECK(encode_prefix("\xff") == "_ff");
}

TEST_CASE("distlock realm: every lock name is valid, and no encoded prefix has a '-'", "[distlock][realm]") {
  for (const std::string prefix :
       {"/distlock/", "", "-", "_", "--", "a-", "/a/b/", "x y,z:", "\n\t", "\xc3\xa9t\xc3\xa9"}) {
    INFO(prefix);
    CHECK(encode_prefix(prefix).find('-') == std::string::npos);
    CHECK(tnl::is_valid_lock_name(realm_lock_name(prefix, "n-1_x")));
    CHECK(decode_prefix(encode_prefix(prefix)) == std::optional<std::string>(prefix));
  }
}

TEST_CASE("distlock realm: different prefixes never share a lock name", "[distlock][realm]") {
  // Pairs that a naive mapping (dropping or replacing characters) would merge.
  const std::vector<std::string> prefixes{
      "/distlock/",  "distlock", "/distlock", "distlock/", "_distlock_", "-distlock-", "/distlock//",
      "//distlock/", "a/b",      "a_b",       "a-b",       "a.b",        "a__b",       "a//b",
      "a_2fb",       "a/_b",     "a_/b",      "",          "-",          "_",          "/"};
  const std::vector<std::string> names{"x", "b-x", "x-y", "_x", "-x", "2fb-x"};
  std::set<std::string> seen;
  for (const auto& prefix : prefixes) {
    for (const auto& name : names) {
      INFO(prefix << " + " << name);
      CHECK(seen.insert(realm_lock_name(prefix, name)).second);
      // And each name is seen in its own realm only.
      for (const auto& other : prefixes) {
        const auto found = name_in_realm(other, realm_lock_name(prefix, name));
        if (other == prefix) {
          CHECK(found == std::optional<std::string>(name));
        } else {
          CHECK_FALSE(found);
        }
      }
    }
  }
}

TEST_CASE("distlock realm: text no prefix encodes to does not decode", "[distlock][realm]") {
  for (const char* bad : {"_", "_2", "_zz", "_41", "_2F", "a-b", "_2f", "x_"}) {
    INFO(bad);
    CHECK_FALSE(decode_prefix(bad));
  }
  CHECK_FALSE(name_in_realm("/distlock/", "__distlock__-"));  // no name after the realm
  CHECK_FALSE(name_in_realm("/distlock/", "deploy"));         // a lock of no realm
  CHECK_FALSE(name_in_realm("staging", "staging_2d-x"));      // the realm "staging-"
}

}  // namespace TNL_UNITY_ID
