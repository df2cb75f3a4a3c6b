// The help layout every program shares (common/cli_format): under 100 columns, no CLI11
// type/range clutter.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <sstream>
#include <string>

#include "cli_format.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::cli;

namespace {

/// The widest line of `text`.
std::size_t widest_line(const std::string& text) {
  std::istringstream in(text);
  std::size_t widest = 0;
  for (std::string line; std::getline(in, line);) widest = std::max(widest, line.size());
  return widest;
}

}  // namespace

TEST_CASE("cli_format: wrap breaks at spaces within the width, keeping newlines", "[cli_format]") {
  const std::string words =
      "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen";
  const std::string wrapped = wrap(words, 4, 30);
  CHECK(widest_line(wrapped) <= 30);
  CHECK(wrapped.find("\n    ") != std::string::npos);  // continuation lines indented
  std::string joined = wrapped;
  for (std::size_t at = joined.find("\n    "); at != std::string::npos; at = joined.find("\n    ")) {
    joined.replace(at, 5, " ");
  }
  CHECK(joined == words);  // nothing lost
  CHECK(wrap("a\nb", 2) == "a\n  b");
  CHECK(wrap("short", 30) == "short");
  // A word longer than a line stays whole.
  CHECK(wrap(std::string(150, 'x'), 0) == std::string(150, 'x'));
}

TEST_CASE("cli_format: type names lose the validators' suffixes", "[cli_format]") {
  CHECK(plain_type_name("UINT:INT in [1 - 65535]") == "N");
  CHECK(plain_type_name("FLOAT:SECONDS in [0 - 3.1536e+07]") == "NUMBER");
  CHECK(plain_type_name("INT:NONNEGATIVE") == "N");
  CHECK(plain_type_name("TEXT:{kill,warn}") == "kill|warn");
  CHECK(plain_type_name("TEXT:DIR") == "DIR");
  CHECK(plain_type_name("TEXT") == "TEXT");
  CHECK(plain_type_name("DURATION") == "DURATION");
}

TEST_CASE("cli_format: an app's help fits 99 columns with no range clutter", "[cli_format]") {
  std::string description;
  for (int i = 0; i < 40; ++i) description += "word" + std::to_string(i) + (i == 20 ? "\n" : " ");
  CLI::App app{description, "demo"};
  use_help_format(app);
  int port = 7654;
  double seconds = 1;
  std::string mode = "kill";
  bool flag = true;
  app.add_option("--port", port, "Port")->check(CLI::Range(1, 65535))->capture_default_str()->envname("DEMO_PORT");
  app.add_option("--seconds", seconds, std::string(20, 'w') + " long description that goes on and on, " +
                                           "well past the width of any terminal anyone uses to read help")
      ->check(CLI::Range(0.0, 3.1536e7));
  app.add_option("--mode", mode, "Mode")->check(CLI::IsMember({"kill", "warn"}));
  auto* a = app.add_flag("--a-flag-with-a-very-long-name-indeed,!--no-a-flag-with-a-very-long-name", flag, "Flag");
  app.add_flag("--other", flag, "Other")->excludes(a);
  auto* sub = app.add_subcommand("sub", "A subcommand whose description is long enough to need wrapping, " +
                                            std::string("more than ninety-nine columns wide for sure, really"));
  sub->add_option("--x", port, "X")->check(CLI::Range(1, 2));
  const std::string help = app.help();
  INFO(help);
  CHECK(widest_line(help) < 100);
  for (const char* clutter : {" in [", ":INT", ":UINT", ":FLOAT", "e+07", "{false}", "Excludes:", ":{"}) {
    INFO(clutter);
    CHECK(help.find(clutter) == std::string::npos);
  }
  CHECK(help.find("--port N") != std::string::npos);
  CHECK(help.find("(default: 7654; env DEMO_PORT)") != std::string::npos);
  CHECK(help.find("--mode kill|warn") != std::string::npos);
  // Subcommands inherit the layout.
  const std::string sub_help = sub->help();
  CHECK(sub_help.find(" in [") == std::string::npos);
  CHECK(widest_line(sub_help) < 100);
}

}  // namespace TNL_UNITY_ID
