// distlock's layout on etcd (server/etcd/distlock_layout.hpp): which names it covers, the
// keys, distlock's value read tolerantly, our index values, --etcd-layout's choice.
#include <catch2/catch.hpp>

#include <string>

#include "etcd/distlock_layout.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::etcd;
using tnl::HoldKind;
using tnl::LockId;

TEST_CASE("distlock layout: --etcd-layout and auto", "[etcd][distlock-layout]") {
  CHECK(parse_layout_choice("recipe") == LayoutChoice::recipe);
  CHECK(parse_layout_choice("distlock") == LayoutChoice::distlock);
  CHECK(parse_layout_choice("auto") == LayoutChoice::automatic);
  CHECK_FALSE(parse_layout_choice("Auto"));
  CHECK_FALSE(parse_layout_choice(""));
  CHECK(layout_choice_name(LayoutChoice::automatic) == "auto");
  CHECK(uses_distlock_layout(LayoutChoice::automatic, "/distlock/"));
  CHECK_FALSE(uses_distlock_layout(LayoutChoice::automatic, "/distlock/staging/"));
  CHECK_FALSE(uses_distlock_layout(LayoutChoice::automatic, "/tcpnetlock/"));
  CHECK(uses_distlock_layout(LayoutChoice::distlock, "/staging/"));
  CHECK_FALSE(uses_distlock_layout(LayoutChoice::recipe, "/distlock/"));
}

TEST_CASE("distlock layout: the realm's names are distlock's keys, nothing else is", "[etcd][distlock-layout]") {
  const DistlockLayout layout(true, "/distlock/");
  CHECK(layout.key_for("__distlock__-percona_prod") == "/distlock/percona_prod");
  CHECK(layout.key_for("__distlock__-a-b") == "/distlock/a-b");
  CHECK_FALSE(layout.key_for("__distlock__-"));             // no NAME
  CHECK_FALSE(layout.key_for("percona_prod"));              // no realm
  CHECK_FALSE(layout.key_for("__staging__-percona_prod"));  // another realm
  CHECK_FALSE(layout.key_for("__distlock__"));

  CHECK(layout.name_for_key("/distlock/percona_prod") == "__distlock__-percona_prod");
  CHECK_FALSE(layout.name_for_key("/distlock/.ids/0123"));                // our index
  CHECK_FALSE(layout.name_for_key("/distlock/plain/0123abcd"));           // a recipe key
  CHECK_FALSE(layout.name_for_key("/distlock/__internal_lock/694d8"));    // distlock's mutex
  CHECK_FALSE(layout.name_for_key("/distlock/a.b"));                      // not a name of ours
  CHECK_FALSE(layout.name_for_key("/distlock/"));
  CHECK_FALSE(layout.name_for_key("/other/percona_prod"));

  CHECK(layout.mutex_prefix() == "/distlock/__internal_lock/");
  CHECK(layout.reserved("__internal_lock"));
  CHECK_FALSE(layout.reserved("__distlock__-__internal_lock"));
  CHECK_FALSE(DistlockLayout(false, "/distlock/").reserved("__internal_lock"));
  CHECK(layout.is_mutex_key("/distlock/__internal_lock/694d8c2f3a1b"));
  CHECK_FALSE(layout.is_mutex_key("/distlock/__internal_lock/"));
  CHECK_FALSE(layout.is_mutex_key("/distlock/__internal_lockx/1"));
  CHECK_FALSE(layout.is_mutex_key("/distlock/percona_prod"));

  const DistlockLayout off(false, "/distlock/");
  CHECK_FALSE(off.key_for("__distlock__-percona_prod"));
  CHECK_FALSE(off.name_for_key("/distlock/percona_prod"));
  CHECK_FALSE(off.is_mutex_key("/distlock/__internal_lock/1"));

  const DistlockLayout staging(true, "/distlock/staging/");
  CHECK(staging.key_for("__distlock__staging__-x") == "/distlock/staging/x");
  CHECK_FALSE(staging.key_for("__distlock__-x"));
}

TEST_CASE("distlock layout: distlock's value, written and read tolerantly", "[etcd][distlock-layout]") {
  CHECK(format_distlock_value({1700000000, "node-3", "Upgrade RPMs on node-3"}) ==
        "1700000000;node-3;Upgrade RPMs on node-3");
  CHECK(format_distlock_value({1, "a;b", "r;s"}) == "1;a_b;r;s");  // a ';' in the host would shift the fields

  const DistlockValue full = parse_distlock_value("1700000000;node-3;why; with ; semicolons");
  CHECK(full.since_s == 1700000000);
  CHECK(full.host == "node-3");
  CHECK(full.reason == "why; with ; semicolons");

  for (const char* bad : {"", "garbage", "x;y", ";;", "-5;h;r", "99999999999999999999999;h;r", "\xff\xfe;h"}) {
    INFO("'" << bad << "'");
    const DistlockValue value = parse_distlock_value(bad);
    CHECK(value.since_s == 0);
  }
  CHECK(parse_distlock_value("12").since_s == 12);
  CHECK(parse_distlock_value("12").host.empty());
  CHECK(parse_distlock_value("12;h").host == "h");
  CHECK(parse_distlock_value("12;h").reason.empty());
}

TEST_CASE("distlock layout: our index value carries the key and our record", "[etcd][distlock-layout]") {
  const DistlockLayout layout(true, "/distlock/");
  LockValue value;
  value.id = LockId::parse("0123abcd-0000-4000-8000-00000000beef");
  value.kind = HoldKind::detached;
  value.reason = "line\nbreak";  // JSON escapes it: the first '\n' ends the key
  value.expires_ms = 42;
  const std::string text = DistlockLayout::index_value("/distlock/percona_prod", value);
  const auto index = layout.parse_index(text);
  REQUIRE(index);
  CHECK(index->key == "/distlock/percona_prod");
  CHECK(index->value.id == value.id);
  CHECK(index->value.kind == HoldKind::detached);
  CHECK(index->value.reason == "line\nbreak");
  CHECK(index->value.expires_ms == 42);
  // A recipe index (the key alone) and anything else are not this layout's.
  CHECK_FALSE(layout.parse_index("/distlock/plain/0123abcd-0000-4000-8000-00000000beef"));
  CHECK_FALSE(layout.parse_index("/distlock/plain/x\n{}"));
  CHECK_FALSE(layout.parse_index(""));
  const auto garbage = layout.parse_index("/distlock/x\nnot json");
  REQUIRE(garbage);
  CHECK_FALSE(garbage->value.id);  // foreign: no id of ours, so it never matches one
}

}  // namespace TNL_UNITY_ID
