#include <catch2/catch.hpp>

#include "protocol.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using tnl::parse_request;

TEST_CASE("a bare action parses with no parameters", "[protocol]") {
  const auto request = parse_request("lock");
  REQUIRE(request);
  CHECK(request->action == "lock");
  CHECK(request->params.empty());
}

TEST_CASE("parameters split at the first colon and white space is stripped", "[protocol]") {
  const auto request = parse_request(" lock , name : abc , client-id:host:1 ");
  REQUIRE(request);
  CHECK(request->action == "lock");
  REQUIRE(request->params.size() == 2);
  CHECK(request->param("name") == "abc");
  CHECK(request->param("client-id") == "host:1");
}

TEST_CASE("a parameter without a colon has an empty value", "[protocol]") {
  const auto request = parse_request("lock,name");
  REQUIRE(request);
  CHECK(request->param("name") == "");
}

TEST_CASE("a trailing carriage return is white space", "[protocol]") {
  const auto request = parse_request("lock,name:abc\r");
  REQUIRE(request);
  CHECK(request->param("name") == "abc");
}

TEST_CASE("the last of repeated keys wins", "[protocol]") {
  const auto request = parse_request("lock,name:a,name:b");
  REQUIRE(request);
  CHECK(request->param("name") == "b");
}

TEST_CASE("an empty action or an empty key is a bad request", "[protocol]") {
  CHECK_FALSE(parse_request(""));
  CHECK_FALSE(parse_request("   "));
  CHECK_FALSE(parse_request(",name:x"));
  CHECK_FALSE(parse_request("lock,:x"));
  CHECK_FALSE(parse_request("lock,name:x,"));
  CHECK_FALSE(parse_request("lock, :x"));
}

TEST_CASE("binary bytes are plain bytes to the parser", "[protocol]") {
  const std::string line{"\x00\xff\xfe,\x80:\x01", 7};
  const auto request = parse_request(line);
  REQUIRE(request);
  CHECK(request->action == std::string("\x00\xff\xfe", 3));
  CHECK(request->param("\x80") == "\x01");
}

TEST_CASE("format_request is the inverse of parse_request", "[protocol]") {
  const std::string line = tnl::format_request("lock", {{"name", "abc"}, {"client-id", "me"}});
  CHECK(line == "lock,name:abc,client-id:me\n");
  const auto request = parse_request(std::string_view{line}.substr(0, line.size() - 1));
  REQUIRE(request);
  CHECK(request->param("name") == "abc");
  CHECK(tnl::format_request(".ping") == ".ping\n");
}

TEST_CASE("lock names match ^[a-zA-Z0-9_-]+$", "[validation]") {
  CHECK(tnl::is_valid_lock_name("django-migrations"));
  CHECK(tnl::is_valid_lock_name("A_z-09"));
  CHECK_FALSE(tnl::is_valid_lock_name(""));
  CHECK_FALSE(tnl::is_valid_lock_name("a b"));
  CHECK_FALSE(tnl::is_valid_lock_name("a.b"));
  CHECK_FALSE(tnl::is_valid_lock_name("a/b"));
  CHECK_FALSE(tnl::is_valid_lock_name("caf\xc3\xa9"));
  CHECK_FALSE(tnl::is_valid_lock_name(std::string("a\0b", 3)));
}

TEST_CASE("client ids match ^[a-zA-Z0-9.@_-]+$", "[validation]") {
  CHECK(tnl::is_valid_client_id("user@host.example-1_2"));
  CHECK_FALSE(tnl::is_valid_client_id(""));
  CHECK_FALSE(tnl::is_valid_client_id("a b"));
  CHECK_FALSE(tnl::is_valid_client_id("a:b"));
  CHECK_FALSE(tnl::is_valid_client_id("a/b"));
}

TEST_CASE("strip removes ASCII white space at both ends only", "[protocol]") {
  CHECK(tnl::strip(" \t a b \r\n") == "a b");
  CHECK(tnl::strip("") == "");
  CHECK(tnl::strip(" \r ") == "");
}

namespace {

/// The first line of `input` and what its end was, as "LINE|END_LENGTH|open" (or "none").
std::string first_line(std::string_view input) {
  const auto end = tnl::find_line_end(input);
  if (!end) return "none";
  return std::string(input.substr(0, end->line_length)) + "|" + std::to_string(end->end_length) +
         (end->open_cr ? "|open" : "");
}

}  // namespace

TEST_CASE("LF and CR LF end a line", "[protocol][line-end]") {
  CHECK(first_line("lock,name:x\n") == "lock,name:x|1");
  CHECK(first_line("lock,name:x\r\n") == "lock,name:x|2");
  CHECK(first_line("a\nb\n") == "a|1");
  CHECK(first_line("\n") == "|1");
  CHECK(first_line("\r\n") == "|2");
}

TEST_CASE("no line end yet: no line", "[protocol][line-end]") {
  CHECK(first_line("") == "none");
  CHECK(first_line("lock,name:x") == "none");
  CHECK(first_line(std::string("lock\0,name:x", 12)) == "none");  // a NUL alone ends nothing
}

TEST_CASE("CR NUL ends a line, as telnet sends it", "[protocol][line-end]") {
  CHECK(first_line(std::string("lock,name:x\r\0", 13)) == "lock,name:x|2");
  CHECK(first_line(std::string("a\r\0b\n", 5)) == "a|2");
}

TEST_CASE("a CR that is the last byte received ends the line, open for its LF", "[protocol][line-end]") {
  CHECK(first_line("lock,name:x\r") == "lock,name:x|1|open");
  CHECK(first_line("\r") == "|1|open");
  CHECK(tnl::ends_open_cr('\n'));
  CHECK(tnl::ends_open_cr('\0'));
  CHECK_FALSE(tnl::ends_open_cr('l'));
  CHECK_FALSE(tnl::ends_open_cr('\r'));
}

TEST_CASE("a CR followed by anything else stays in the line", "[protocol][line-end]") {
  CHECK(first_line("lock,name:x\ry\n") == "lock,name:x\ry|1");
  CHECK(first_line("a\r\rb") == "none");
  CHECK(first_line("a\r\r\n") == "a\r|2");  // the first CR is followed by a CR, the second ends it
  CHECK(first_line("a\rb\r") == "a\rb|1|open");
}

}  // namespace TNL_UNITY_ID
