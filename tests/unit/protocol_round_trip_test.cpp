// Round trips through common/'s protocol text: every request a client builds, read by the
// server's parser, and every answer the server formats, read by the client's parser, gives
// back the same values, edge values included (the longest TTL, `inf`, the longest reason,
// the largest token, every JSON escape).
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "lock_id.hpp"
#include "lock_options.hpp"
#include "protocol.hpp"
#include "protocol_answers.hpp"
#include "protocol_requests.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::LockId;
using tnl::LockRequest;
using tnl::Ttl;

namespace {

/// What the server reads from `line`: the line up to its end (as Connection cuts it), parsed.
tnl::Request server_reads(const std::string& line) {
  REQUIRE(!line.empty());
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);  // one line, whatever the values
  const auto end = tnl::find_line_end(line);
  REQUIRE(end);
  const auto request = tnl::parse_request(std::string_view(line).substr(0, end->line_length));
  REQUIRE(request);
  return *request;
}

/// The line a client reads for the answer `answer` (the server adds '\n').
std::string client_reads(const std::string& answer) {
  CHECK(answer.find('\n') == std::string::npos);
  CHECK(answer.find('\r') == std::string::npos);
  return answer;  // LockClient::read_line drops the '\n' (and a '\r' before it)
}

/// `request` + `ttl` through format_lock_request and parse_lock_options.
tnl::LockOptions round_trip(const LockRequest& request, std::optional<Ttl> ttl = std::nullopt) {
  const std::string line = tnl::format_lock_request(request, ttl);
  INFO(line);
  auto parsed = tnl::parse_lock_options(server_reads(line));
  if (const auto* error = std::get_if<std::string_view>(&parsed)) FAIL("the server refuses it: " << *error);
  return std::get<tnl::LockOptions>(parsed);
}

void check_same(const LockRequest& sent, std::optional<Ttl> ttl, const tnl::LockOptions& read) {
  CHECK(read.name == sent.name);
  CHECK(read.client_id == sent.client_id);
  CHECK(read.wait_seconds == sent.wait_seconds);
  CHECK(read.fencing == sent.fencing);
  CHECK(read.limit == sent.limit);
  CHECK(read.reason == sent.reason);
  CHECK(read.detached == ttl.has_value());
  if (ttl) CHECK(read.ttl_seconds == ttl->seconds);
}

/// Every byte a reason may hold on the line (printable ASCII but ','), in one reason.
std::string every_reason_byte() {
  std::string text;
  for (int c = 0x21; c < 0x7f; ++c) {
    if (c != ',') text.push_back(static_cast<char>(c));
  }
  return text;
}

}  // namespace

TEST_CASE("lock requests: what a client builds, the server reads back", "[protocol][round_trip]") {
  LockRequest plain;
  plain.name = "db";
  SECTION("tcpnetlock's plain request, and with a client id") {
    check_same(plain, std::nullopt, round_trip(plain));
    plain.client_id = "a.b@c_d-9";
    check_same(plain, std::nullopt, round_trip(plain));
  }
  SECTION("every extension at once, detached or not") {
    LockRequest all = plain;
    all.client_id = "ci-7";
    all.wait_seconds = 2.5;
    all.fencing = true;
    all.limit = 3;
    all.reason = "deploy 42: step 3/4";
    check_same(all, std::nullopt, round_trip(all));
    for (const Ttl ttl : {Ttl{600.0}, Ttl{0.25}, Ttl{std::nullopt}}) check_same(all, ttl, round_trip(all, ttl));
  }
  SECTION("edge values: the shortest and longest TTL, inf, the longest wait, the largest limit") {
    LockRequest edges = plain;
    edges.limit = tnl::max_lock_limit;
    for (const std::optional<double> wait : {std::optional<double>(0.001), std::optional<double>(31536000.0),
                                              std::optional<double>(std::nullopt)}) {
      edges.wait_seconds = wait;
      for (const Ttl ttl : {Ttl{tnl::min_ttl_seconds}, Ttl{tnl::max_ttl_seconds}, Ttl{std::nullopt}}) {
        check_same(edges, ttl, round_trip(edges, ttl));
      }
    }
  }
  SECTION("the longest reason, and every byte a reason may hold") {
    LockRequest reasons = plain;
    reasons.reason = std::string(tnl::max_reason_length, 'r');
    check_same(reasons, std::nullopt, round_trip(reasons));
    reasons.reason = every_reason_byte();  // ':' and '\\' too: only ',' ends a value
    check_same(reasons, std::nullopt, round_trip(reasons));
    reasons.reason = "d\xc3\xa9ploiement \xe9\x94\x81";  // UTF-8 passes through as bytes
    check_same(reasons, std::nullopt, round_trip(reasons));
    reasons.reason = "a  b";  // inner white space stays
    check_same(reasons, std::nullopt, round_trip(reasons));
  }
  SECTION("white space around a reason is dropped by the server (parse_request strips values)") {
    LockRequest padded = plain;
    padded.reason = " deploy ";
    CHECK(round_trip(padded).reason == "deploy");
  }
}

TEST_CASE("lock requests: the builder refuses what the server would refuse", "[protocol][round_trip]") {
  LockRequest request;
  request.name = "db";
  CHECK_THROWS_AS(tnl::format_lock_request(request, Ttl{0.09}), std::invalid_argument);
  CHECK_THROWS_AS(tnl::format_lock_request(request, Ttl{tnl::max_ttl_seconds + 0.5}), std::invalid_argument);
  try {
    (void)tnl::format_lock_request(request, Ttl{0.0});
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "invalid ttl 0 (0.1 to 31536000 seconds, or inf)");  // from the constants
  }
  request.reason = "a,b";
  CHECK_THROWS_AS(tnl::format_lock_request(request), std::invalid_argument);
  request.reason = std::string(tnl::max_reason_length + 1, 'r');
  CHECK_THROWS_AS(tnl::format_lock_request(request), std::invalid_argument);
  request.reason.clear();
  request.limit = tnl::max_lock_limit + 1;
  CHECK_THROWS_AS(tnl::format_lock_request(request), std::invalid_argument);
  request.limit = 1;
  request.name = "a b";
  CHECK_THROWS_AS(tnl::format_lock_request(request), std::invalid_argument);
}

TEST_CASE("unlock, renew and .locks requests: what a client builds, the server reads back",
          "[protocol][round_trip]") {
  tnl::LockIdGenerator ids;
  const LockId detached = ids.next();
  const LockId connection = ids.for_owner(42);
  for (const LockId& id : {detached, connection, LockId{}, LockId{~0ULL, ~0ULL}}) {
    INFO(id.str());
    const auto unlock = tnl::parse_lock_id_param(server_reads(tnl::format_unlock_request(id.str())));
    REQUIRE(std::holds_alternative<LockId>(unlock));
    CHECK(std::get<LockId>(unlock) == id);
    for (const Ttl ttl : {Ttl{tnl::min_ttl_seconds}, Ttl{90.0}, Ttl{tnl::max_ttl_seconds}, Ttl{std::nullopt}}) {
      const auto renew = tnl::parse_renew_request(server_reads(tnl::format_renew_request(id.str(), ttl)));
      REQUIRE(std::holds_alternative<tnl::RenewRequest>(renew));
      CHECK(std::get<tnl::RenewRequest>(renew).id == id);
      CHECK(std::get<tnl::RenewRequest>(renew).ttl_seconds == ttl.seconds);
    }
  }
  SECTION("an id in upper case is the same id") {
    std::string upper = detached.str();
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto unlock = tnl::parse_lock_id_param(server_reads(tnl::format_unlock_request(upper)));
    CHECK(std::get<LockId>(unlock) == detached);
  }
  SECTION(".locks, for every name or one") {
    const auto all = tnl::parse_locks_request(server_reads(tnl::format_locks_request()));
    REQUIRE(std::holds_alternative<tnl::LocksRequest>(all));
    CHECK_FALSE(std::get<tnl::LocksRequest>(all).name);
    const auto one = tnl::parse_locks_request(server_reads(tnl::format_locks_request("db_1-x")));
    REQUIRE(std::holds_alternative<tnl::LocksRequest>(one));
    CHECK(std::get<tnl::LocksRequest>(one).name == std::optional<std::string>("db_1-x"));
  }
  SECTION("the builders refuse what the server would refuse") {
    CHECK_THROWS_AS(tnl::format_unlock_request("db"), std::invalid_argument);
    CHECK_THROWS_AS(tnl::format_renew_request("db", Ttl{5.0}), std::invalid_argument);
    CHECK_THROWS_AS(tnl::format_renew_request(detached.str(), Ttl{0.0}), std::invalid_argument);
    CHECK_THROWS_AS(tnl::format_renew_request(detached.str(), Ttl{tnl::max_ttl_seconds * 2}), std::invalid_argument);
    CHECK_THROWS_AS(tnl::format_locks_request("a,b"), std::invalid_argument);
  }
}

TEST_CASE("unlock, renew and .locks requests: the server's errors", "[protocol][round_trip]") {
  const auto error_of = [](const auto& parsed) {
    REQUIRE(std::holds_alternative<std::string_view>(parsed));
    return std::string{std::get<std::string_view>(parsed)};
  };
  // No id: not one of ours (tcpnetlock answered `unlock,name:X` with bad-action).
  CHECK(error_of(tnl::parse_lock_id_param(*tnl::parse_request("unlock,name:x"))) == tnl::answer::bad_action);
  CHECK(error_of(tnl::parse_lock_id_param(*tnl::parse_request("unlock,id:x"))) == tnl::answer::invalid_lock_id);
  const std::string id = tnl::LockIdGenerator().next().str();
  CHECK(error_of(tnl::parse_renew_request(*tnl::parse_request("renew,id:" + id))) == tnl::answer::invalid_ttl);
  CHECK(error_of(tnl::parse_renew_request(*tnl::parse_request("renew,id:" + id + ",ttl:31536000.5"))) ==
        tnl::answer::invalid_ttl);
  CHECK(error_of(tnl::parse_renew_request(*tnl::parse_request("renew,ttl:5"))) == tnl::answer::bad_action);
  CHECK(error_of(tnl::parse_locks_request(*tnl::parse_request(".locks,name:a b"))) == tnl::answer::invalid_lock_name);
}

TEST_CASE("grants: what the server formats, a client reads back", "[protocol][round_trip]") {
  const std::vector<std::optional<tnl::FencingToken>> tokens{
      std::nullopt, 0, 1, 1795428902123456, std::numeric_limits<tnl::FencingToken>::max()};
  SECTION("ok and ok,token:N") {
    CHECK(tnl::format_lock_grant(std::nullopt) == "ok");  // tcpnetlock's, byte for byte
    CHECK(tnl::format_lock_grant(7) == "ok,token:7");
    for (const auto& token : tokens) {
      const auto grant = tnl::parse_lock_grant(client_reads(tnl::format_lock_grant(token)));
      REQUIRE(grant);
      CHECK(grant->granted);
      CHECK(grant->token == token);
      CHECK_FALSE(tnl::parse_detached_grant(tnl::format_lock_grant(token)));  // never taken for a detached grant
    }
  }
  SECTION("ok,id:ID and ok,id:ID,token:N") {
    tnl::LockIdGenerator ids;
    const LockId id = ids.next();
    CHECK(tnl::format_detached_grant(id, std::nullopt) == "ok,id:" + id.str());
    CHECK(tnl::format_detached_grant(id, 9) == "ok,id:" + id.str() + ",token:9");
    for (const LockId& each : {id, ids.for_owner(LockId::owner_mask), LockId{}}) {
      for (const auto& token : tokens) {
        const auto grant = tnl::parse_detached_grant(client_reads(tnl::format_detached_grant(each, token)));
        REQUIRE(grant);
        CHECK(grant->id == each.str());
        CHECK(LockId::parse(grant->id) == each);
        CHECK(grant->token == token);
        CHECK_FALSE(tnl::parse_lock_grant(tnl::format_detached_grant(each, token)));
      }
    }
  }
  SECTION("a token one past the largest is no grant") {
    CHECK_FALSE(tnl::parse_lock_grant("ok,token:18446744073709551616"));
    CHECK_FALSE(tnl::parse_detached_grant("ok,id:" + LockId{}.str() + ",token:18446744073709551616"));
  }
}

TEST_CASE("lost: what the server formats, a client reads back", "[protocol][round_trip]") {
  for (const std::string_view reason : {tnl::lost_reason::holder_timeout, tnl::lost_reason::released_by_admin,
                                        tnl::lost_reason::answers_not_read, tnl::lost_reason::peer_unreachable,
                                        tnl::lost_reason::backend_unavailable}) {
    const std::string line = client_reads(tnl::format_lost(reason));  // parse_lost returns a view into it
    const auto read = tnl::parse_lost(line);
    REQUIRE(read);
    CHECK(*read == reason);
  }
  CHECK(tnl::format_lost(tnl::lost_reason::holder_timeout) == "lost,holder timeout");  // docs/PROTOCOL.md
  // A long reason, with the protocol's separators in it: everything after the first ','.
  const std::string long_reason = "lease lost: " + every_reason_byte() + ", and " + std::string(300, 'x');
  const std::string line = client_reads(tnl::format_lost(long_reason));
  const auto read = tnl::parse_lost(line);
  REQUIRE(read);
  CHECK(*read == long_reason);
  CHECK_FALSE(tnl::parse_lost("ok"));
  CHECK_FALSE(tnl::parse_lost("shutting-down"));
}

TEST_CASE("stats and locks answers: the JSON comes back as sent, every escape included",
          "[protocol][round_trip]") {
  // Every byte a JSON string escapes or passes through, as the server's dump_json writes it
  // (invalid UTF-8 replaced, so that the line is always JSON).
  std::string every_byte;
  for (int c = 1; c < 0x80; ++c) every_byte.push_back(static_cast<char>(c));
  every_byte += "\xc3\xa9\xe9\x94\x81\xf0\x9f\x94\x92";  // é, 锁, 🔒
  const nlohmann::ordered_json body{{"locks", {{{"name", "db"}, {"reason", every_byte}, {"token", UINT64_MAX}}}},
                                    {"quote", "\"\\/"}};
  const std::string json = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  SECTION("locks,{...}") {
    const std::string line = client_reads(tnl::format_locks_answer(json));
    CHECK(line.compare(0, tnl::answer::locks_prefix.size(), tnl::answer::locks_prefix) == 0);
    const auto read = tnl::parse_locks_answer(line);
    REQUIRE(read);
    CHECK(*read == json);
    const auto parsed = nlohmann::ordered_json::parse(*read);
    CHECK(parsed == body);
    CHECK(parsed["locks"][0]["reason"].get<std::string>() == every_byte);
    CHECK(parsed["locks"][0]["token"].get<std::uint64_t>() == UINT64_MAX);
  }
  SECTION("stats,{...}") {
    const std::string line = client_reads(tnl::format_stats_answer(json));
    const auto read = tnl::parse_stats_answer(line);
    REQUIRE(read);
    CHECK(nlohmann::ordered_json::parse(*read) == body);
  }
  SECTION("invalid UTF-8 arrives replaced, still one line of JSON") {
    const nlohmann::ordered_json bad{{"reason", std::string("a\xff\xfe" "b")}};
    const std::string line =
        client_reads(tnl::format_locks_answer(bad.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    const auto read = tnl::parse_locks_answer(line);
    REQUIRE(read);
    CHECK(nlohmann::json::parse(*read)["reason"] == "a\xef\xbf\xbd\xef\xbf\xbd" "b");
  }
  SECTION("the one answer is not taken for the other") {
    CHECK_FALSE(tnl::parse_stats_answer(tnl::format_locks_answer(json)));
    CHECK_FALSE(tnl::parse_locks_answer(tnl::format_stats_answer(json)));
    CHECK_FALSE(tnl::parse_locks_answer("err,invalid lock name"));
  }
}

TEST_CASE("error answers are told apart from the rest", "[protocol][round_trip]") {
  for (const std::string_view error :
       {tnl::answer::invalid_lock_name, tnl::answer::invalid_ttl, tnl::answer::unknown_lock_id,
        tnl::answer::held_by_connection, tnl::answer::limit_mismatch, tnl::answer::state_write_failed,
        tnl::answer::shutdown_disabled}) {
    CHECK(tnl::is_error_answer(error));
  }
  for (const std::string_view other : {tnl::answer::ok, tnl::answer::released, tnl::answer::renewed,
                                       tnl::answer::not_granted, tnl::answer::shutting_down}) {
    CHECK_FALSE(tnl::is_error_answer(other));
  }
}

TEST_CASE("one TTL limit: every rule and message reads the constants", "[protocol][ttl]") {
  CHECK(tnl::max_ttl_seconds == 31536000.0);  // a year: what docs/PROTOCOL.md and HTTP-API.md promise
  CHECK(tnl::min_ttl_seconds == 0.1);
  // The HTTP API's messages, byte for byte as they were when they were literals.
  CHECK("ttl must be " + tnl::ttl_rule_text() == "ttl must be a number of seconds >= 0.1 and <= 31536000");
  CHECK("reason must be " + tnl::reason_rule_text() == "reason must be a string of at most 256 printable bytes");
  // The limit itself goes over the wire and back unchanged, and one step past it does not.
  CHECK(tnl::format_protocol_seconds(tnl::max_ttl_seconds) == "31536000");
  CHECK(tnl::parse_ttl(tnl::format_protocol_seconds(tnl::max_ttl_seconds))->seconds == tnl::max_ttl_seconds);
  CHECK(tnl::parse_ttl(tnl::format_protocol_seconds(tnl::min_ttl_seconds))->seconds == tnl::min_ttl_seconds);
  CHECK_FALSE(tnl::parse_ttl("31536000.001"));
  CHECK_FALSE(tnl::parse_ttl("0.099"));
  CHECK(tnl::is_valid_ttl_seconds(tnl::max_ttl_seconds));
  CHECK_FALSE(tnl::is_valid_ttl_seconds(tnl::max_ttl_seconds + 0.001));
}

TEST_CASE("seconds on the wire", "[protocol][round_trip]") {
  CHECK(tnl::format_protocol_seconds(600.0) == "600");
  CHECK(tnl::format_protocol_seconds(0.5) == "0.5");
  CHECK(tnl::format_protocol_seconds(2.125) == "2.125");
  CHECK(tnl::format_protocol_seconds(0.0004) == "0");  // to the millisecond
  CHECK(tnl::format_protocol_seconds(1e20) == "100000000000000000000");  // never an exponent
  CHECK(tnl::format_protocol_seconds(std::nullopt) == "inf");
  for (const double seconds : {0.001, 0.1, 0.25, 1.5, 59.999, 3600.0, 86400.5, 31536000.0}) {
    std::optional<double> read;
    REQUIRE(tnl::parse_wait_seconds(tnl::format_protocol_seconds(seconds), read));
    CHECK(read == seconds);
  }
}

TEST_CASE("unlock-name requests: what the client sends is what the server reads", "[protocol][round_trip]") {
  CHECK(tnl::format_unlock_name_request("percona_prod") == "unlock-name,name:percona_prod\n");
  CHECK(tnl::format_unlock_name_request("db", "s3cret") == "unlock-name,name:db,admin-token:s3cret\n");
  const auto parse = [](const std::string& line) {
    return tnl::parse_unlock_name_request(*tnl::parse_request(line.substr(0, line.size() - 1)));
  };
  const auto plain = parse(tnl::format_unlock_name_request("db"));
  REQUIRE(std::holds_alternative<tnl::UnlockNameRequest>(plain));
  CHECK(std::get<tnl::UnlockNameRequest>(plain).name == "db");
  CHECK_FALSE(std::get<tnl::UnlockNameRequest>(plain).admin_token);
  const auto with_token = parse(tnl::format_unlock_name_request("db", "t:o@k"));
  REQUIRE(std::holds_alternative<tnl::UnlockNameRequest>(with_token));
  CHECK(std::get<tnl::UnlockNameRequest>(with_token).admin_token == std::optional<std::string>("t:o@k"));
  for (const std::string_view line : {"unlock-name", "unlock-name,name:", "unlock-name,name:a b", "unlock-name,id:x"}) {
    INFO(line);
    const auto parsed = tnl::parse_unlock_name_request(*tnl::parse_request(line));
    REQUIRE(std::holds_alternative<std::string_view>(parsed));
    CHECK(std::get<std::string_view>(parsed) == tnl::answer::invalid_lock_name);
  }
  CHECK_THROWS_AS(tnl::format_unlock_name_request("a,b"), std::invalid_argument);
  CHECK_THROWS_AS(tnl::format_unlock_name_request(""), std::invalid_argument);
  CHECK_THROWS_AS(tnl::format_unlock_name_request("db", "a,b"), std::invalid_argument);
  CHECK_THROWS_AS(tnl::format_unlock_name_request("db", " padded"), std::invalid_argument);
  CHECK_THROWS_AS(tnl::format_unlock_name_request("db", std::string("a\nb")), std::invalid_argument);
}

}  // namespace TNL_UNITY_ID
