// The etcd backend's key layout and value codec: keys, the index, prefix ends, and values
// written by others (etcdctl's empty one, garbage) read without throwing.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "etcd/etcd_keys.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::etcd;
using tnl::HoldKind;
using tnl::LockId;

namespace {
const LockId id = *LockId::parse("0123abcd-0000-4000-8000-00000000beef");
}

TEST_CASE("etcd keys: prefix, lock key, index key", "[etcd][keys]") {
  const KeyLayout layout("/tcpnetlock");
  CHECK(layout.prefix() == "/tcpnetlock/");
  CHECK(KeyLayout("/x/").prefix() == "/x/");
  CHECK(KeyLayout("").prefix() == "/");
  CHECK(layout.name_prefix("db") == "/tcpnetlock/db/");
  CHECK(layout.lock_key("db", id) == "/tcpnetlock/db/0123abcd-0000-4000-8000-00000000beef");
  CHECK(layout.index_key(id) == "/tcpnetlock/.ids/0123abcd-0000-4000-8000-00000000beef");
  CHECK(layout.index_prefix() == "/tcpnetlock/.ids/");
}

TEST_CASE("etcd keys: parse", "[etcd][keys]") {
  const KeyLayout layout("/p/");
  const std::string key = layout.lock_key("db", id);  // parse() gives views into it
  auto parsed = layout.parse(key);
  CHECK(parsed.kind == ParsedKey::Kind::lock);
  CHECK(parsed.name == "db");
  CHECK(parsed.suffix == id.str());
  parsed = layout.parse("/p/db/694d7b2ac3e1f01a");  // etcdctl lock /p/db
  CHECK(parsed.kind == ParsedKey::Kind::lock);
  CHECK(parsed.name == "db");
  CHECK(parsed.suffix == "694d7b2ac3e1f01a");
  parsed = layout.parse("/p/db/a/b");  // under the name's range: the name's
  CHECK(parsed.kind == ParsedKey::Kind::lock);
  CHECK(parsed.name == "db");
  CHECK(parsed.suffix == "a/b");
  const std::string index = layout.index_key(id);
  parsed = layout.parse(index);
  CHECK(parsed.kind == ParsedKey::Kind::index);
  CHECK(parsed.suffix == id.str());
  CHECK(layout.parse("/p/db").kind == ParsedKey::Kind::other);  // distlock's layout: no '/'
  CHECK(layout.parse("/p//x").kind == ParsedKey::Kind::other);
  CHECK(layout.parse("/p/").kind == ParsedKey::Kind::other);
  CHECK(layout.parse("/q/db/x").kind == ParsedKey::Kind::other);
  CHECK(layout.parse("").kind == ParsedKey::Kind::other);
}

TEST_CASE("etcd keys: prefix_end", "[etcd][keys]") {
  CHECK(prefix_end("/p/db/") == "/p/db0");
  CHECK(prefix_end("a") == "b");
  CHECK(prefix_end(std::string("a\xff", 2)) == "b");
  CHECK(prefix_end(std::string("\xff\xff", 2)) == std::string(1, '\0'));
  CHECK(prefix_end("") == std::string(1, '\0'));
}

TEST_CASE("etcd keys: a value round-trips", "[etcd][keys]") {
  LockValue value;
  value.id = id;
  value.kind = HoldKind::detached;
  value.limit = 3;
  value.client_id = "ci-7";
  value.peer = "127.0.0.1:4000";
  value.reason = "deploy \"prod\"\n";
  value.since_ms = 1700000000123;
  value.expires_ms = 1700000060123;
  value.fenced = true;
  value.replica = "host:7000";
  const std::string text = encode(value);
  CHECK(text.find('\n') == std::string::npos);
  const LockValue back = decode(text);
  CHECK_FALSE(back.foreign);
  CHECK(back.id == value.id);
  CHECK(back.kind == HoldKind::detached);
  CHECK(back.limit == 3);
  CHECK(back.client_id == "ci-7");
  CHECK(back.peer == value.peer);
  CHECK(back.reason == value.reason);
  CHECK(back.since_ms == value.since_ms);
  CHECK(back.expires_ms == value.expires_ms);
  CHECK(back.fenced);
  CHECK(back.replica == "host:7000");

  value.kind = HoldKind::delay;
  value.expires_ms.reset();
  const LockValue delay = decode(encode(value));
  CHECK(delay.kind == HoldKind::delay);
  CHECK_FALSE(delay.expires_ms);
}

TEST_CASE("etcd keys: invalid UTF-8 in client text does not throw", "[etcd][keys]") {
  LockValue value;
  value.id = id;
  value.reason = std::string("bad \xff\xfe utf8");
  const std::string text = encode(value);
  CHECK(decode(text).id == id);
}

TEST_CASE("etcd keys: foreign values read as a connection mutex", "[etcd][keys]") {
  for (const std::string& text : std::vector<std::string>{"", "x", "{", "[1,2]", "null", "{\"id\":5}", "{\"limit\":\"two\"}",
                                 "{\"id\":\"not-an-id\",\"limit\":0}", std::string("\0\1\2", 3),
                                 "1700000000;host;reason" /* distlock's */}) {
    CAPTURE(text);
    const LockValue value = decode(text);
    CHECK(value.foreign);
    CHECK_FALSE(value.id);
    CHECK(value.kind == HoldKind::connection);
    CHECK(value.limit == 1);
  }
  // Fields of the wrong type are skipped, the rest is read.
  const LockValue mixed = decode(R"({"id":"0123abcd-0000-4000-8000-00000000beef","kind":7,"limit":-3,)"
                                 R"("client_id":5,"since_ms":"x","expires_ms":1.5,"fenced":"yes","reason":"r"})");
  CHECK_FALSE(mixed.foreign);
  CHECK(mixed.kind == HoldKind::connection);
  CHECK(mixed.limit == 1);
  CHECK(mixed.client_id.empty());
  CHECK(mixed.since_ms == 0);
  CHECK_FALSE(mixed.expires_ms);
  CHECK_FALSE(mixed.fenced);
  CHECK(mixed.reason == "r");
  CHECK(decode(R"({"limit":18446744073709551615})").limit == 1);
}

TEST_CASE("etcd keys: ms conversions clamp", "[etcd][keys]") {
  const auto now = std::chrono::system_clock::now();
  CHECK(std::chrono::abs(from_ms(to_ms(now)) - now) < std::chrono::milliseconds(1));
  (void)from_ms(INT64_MAX);  // no overflow (UBSan)
  (void)from_ms(INT64_MIN);
}

}  // namespace TNL_UNITY_ID
