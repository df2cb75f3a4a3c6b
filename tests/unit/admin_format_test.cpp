// tcpnetlock_admin's formatting: durations, times, tables and records.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "admin_format.hpp"
#include "human_duration.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::admin;
using tnl::human_duration;
using nlohmann::json;

TEST_CASE("human durations", "[admin][client][format]") {
  CHECK(human_duration(0) == "0s");
  CHECK(human_duration(0.9) == "0s");
  CHECK(human_duration(3) == "3s");
  CHECK(human_duration(59.99) == "59s");
  CHECK(human_duration(60) == "1m00s");
  CHECK(human_duration(125.5) == "2m05s");
  CHECK(human_duration(3599) == "59m59s");
  CHECK(human_duration(3600) == "1h00m");
  CHECK(human_duration(3720) == "1h02m");
  CHECK(human_duration(86399) == "23h59m");
  CHECK(human_duration(86400) == "1d00h");
  CHECK(human_duration(3 * 86400 + 4 * 3600 + 59) == "3d04h");
  CHECK(human_duration(-5) == "0s");
  CHECK(human_duration(std::nan("")) == "0s");
  CHECK(human_duration(1e300) == human_duration(1e15));
}

TEST_CASE("RFC 3339 times", "[admin][format]") {
  const double base = 1795428902;  // 2026-11-23T10:15:02Z
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == Approx(0));
  CHECK(parse_rfc3339("2026-11-23T10:15:02Z") == Approx(base));
  CHECK(parse_rfc3339("2026-11-23T10:15:02.123Z") == Approx(base + 0.123));
  CHECK(parse_rfc3339("2026-11-23t10:15:02.5z") == Approx(base + 0.5));
  CHECK(parse_rfc3339("2026-11-23 10:15:02Z") == Approx(base));
  CHECK(parse_rfc3339("2026-11-23T11:15:02+01:00") == Approx(base));
  CHECK(parse_rfc3339("2026-11-23T09:45:02-00:30") == Approx(base));
  CHECK(parse_rfc3339("2024-02-29T00:00:00Z") == Approx(1709164800));
  CHECK(parse_rfc3339("1969-12-31T23:59:59Z") == Approx(-1));
  for (const char* bad : {"", "2026-11-23", "2026-11-23T10:15:02", "2026-11-23T10:15:02.Z", "2026-13-01T00:00:00Z",
                          "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-23T24:00:00Z",
                          "2026-11-23T10:15:02Zx", "2026-11-23T10:15:02+0100", "26-11-23T10:15:02Z", "null"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}

TEST_CASE("when a lock expires", "[admin][format]") {
  const json detached = {{"kind", "detached"},
                         {"createdAt", "2026-11-23T10:15:02.000Z"},
                         {"heldSeconds", 1.0},
                         {"expiresAt", "2026-11-23T10:20:02.000Z"}};
  // Measured on the server's clock: 300 s of TTL, 1 s of it gone.
  CHECK(expires_text(detached) == "in 4m59s");
  json expired = detached;
  expired["heldSeconds"] = 301.0;
  CHECK(expires_text(expired) == "expired");
  json forever = detached;
  forever["expiresAt"] = nullptr;
  CHECK(expires_text(forever) == "never");
  CHECK(expires_text(json{{"kind", "connection"}, {"expiresAt", nullptr}}) == "-");
  json unparsable = detached;
  unparsable["expiresAt"] = "tomorrow";
  CHECK(expires_text(unparsable) == "tomorrow");
  CHECK(expires_text(json::object()) == "-");
  CHECK(expires_text(json::array()) == "-");
}

TEST_CASE("table cells", "[admin][format]") {
  CHECK(cell("") == "-");
  CHECK(cell("abc") == "abc");
  CHECK(cell("a\tb\nc\x7f") == "a?b?c?");
  CHECK(cell("0123456789", 10) == "0123456789");
  CHECK(cell("0123456789a", 10) == "0123456...");
  // Cut at code points, never inside one.
  CHECK(cell("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 4) == "\xc3\xa9...");
  CHECK(display_width("\xc3\xa9t\xc3\xa9") == 3);
}

TEST_CASE("aligned tables", "[admin][format]") {
  const std::string table = format_table({"A", "LONGER", "C"}, {{"wide-cell", "x", "last"}, {"y", "", "z"}, {"short"}});
  CHECK(table ==
        "A          LONGER  C\n"
        "wide-cell  x       last\n"
        "y                  z\n"
        "short\n");
  CHECK(format_table({"\xc3\xa9", "B"}, {{"ab", "c"}}) ==
        "\xc3\xa9   B\n"
        "ab  c\n");
}

TEST_CASE("the list table", "[admin][format]") {
  const json records = json::array(
      {{{"id", "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21"},
        {"service", "deploy"},
        {"who", "ci-7"},
        {"kind", "detached"},
        {"token", 1795428902123456},
        {"reason", "release 42"},
        {"peer", "127.0.0.1:51544"},
        {"createdAt", "2026-11-23T10:15:02.123Z"},
        {"expiresAt", "2026-11-23T10:25:02.123Z"},
        {"heldSeconds", 125.5},
        {"limit", 1},
        {"waiters", json::array({{{"who", "ci-8"}}, {{"who", "ci-9"}}})}},
       {{"id", "11111111-2222-4333-8444-555555555555"},
        {"service", "migrations"},
        {"who", ""},
        {"kind", "connection"},
        {"token", 7},
        {"reason", ""},
        {"peer", "10.0.0.7:40112"},
        {"createdAt", "2026-11-23T10:15:02.123Z"},
        {"expiresAt", nullptr},
        {"heldSeconds", 3725.0},
        {"limit", 1},
        {"waiters", json::array()}}});
  CHECK(format_lock_table(records) ==
        "NAME        KIND        HOLDER          TOKEN             HELD   EXPIRES   WAITERS  REASON      ID\n"
        "deploy      detached    ci-7            1795428902123456  2m05s  in 7m54s  2        release 42  "
        "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21\n"
        "migrations  connection  10.0.0.7:40112  7                 1h02m  -         0        -           "
        "11111111-2222-4333-8444-555555555555\n");
  // Missing fields do not break it.
  CHECK(format_lock_table(json::array({json::object()})) ==
        "NAME  KIND  HOLDER  TOKEN  HELD  EXPIRES  WAITERS  REASON  ID\n"
        "-     -     -       -      -     -        -        -       -\n");
}

TEST_CASE("a record, field by field", "[admin][format]") {
  const json record = {{"waiters", json::array({{{"who", "ci-8"},
                                                 {"peer", "10.0.0.7:40112"},
                                                 {"reason", ""},
                                                 {"kind", "connection"},
                                                 {"waitingSince", "2026-11-23T10:15:09.001Z"}}})},
                       {"id", "0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21"},
                       {"service", "deploy"},
                       {"who", "ci-7"},
                       {"kind", "detached"},
                       {"token", 1795428902123456},
                       {"reason", ""},
                       {"peer", ""},
                       {"createdAt", "2026-11-23T10:15:02.123Z"},
                       {"expiresAt", "2026-11-23T10:25:02.123Z"},
                       {"heldSeconds", 125.5},
                       {"limit", 1},
                       {"future", {{"x", 1}}}};
  CHECK(format_record(record) ==
        "id: 0f8e5b1c-4a53-4c1e-9d2a-6f1b7a0c3e21\n"
        "service: deploy\n"
        "who: ci-7\n"
        "kind: detached\n"
        "token: 1795428902123456\n"
        "reason: \"\"\n"
        "peer: \"\"\n"
        "createdAt: 2026-11-23T10:15:02.123Z\n"
        "heldSeconds: 125.5 (2m05s)\n"
        "expiresAt: 2026-11-23T10:25:02.123Z (in 7m54s)\n"
        "limit: 1\n"
        "waiters: 1\n"
        "waiters[1].kind: connection\n"
        "waiters[1].peer: 10.0.0.7:40112\n"
        "waiters[1].reason: \"\"\n"
        "waiters[1].waitingSince: 2026-11-23T10:15:09.001Z\n"
        "waiters[1].who: ci-8\n"
        "future: {\"x\":1}\n");
  CHECK(format_record(json{{"kind", "detached"}, {"expiresAt", nullptr}}) == "kind: detached\nexpiresAt: never\n");
  CHECK(format_record(json{{"waiters", 3}, {"reason", "a\nb"}}) == "reason: a?b\nwaiters: 3\n");
}

TEST_CASE("key: value lines", "[admin][format]") {
  CHECK(format_key_values(json{{"lock_count", 2}, {"connection_count", 5}, {"name", "x"}}) ==
        "connection_count: 5\nlock_count: 2\nname: x\n");
  CHECK(format_key_values(json::object()).empty());
}

}  // namespace TNL_UNITY_ID
