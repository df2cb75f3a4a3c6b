// Running out of file descriptors: the server refuses new connections in words, keeps
// serving the ones it has, and takes new ones again once descriptors are free.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <vector>

#include "line_client.hpp"
#include "server_process.hpp"

using tnl::test::LineClient;
using tnl::test::ServerProcess;
using namespace std::chrono_literals;

namespace {
/// A hard limit the server cannot raise, well below what the test opens.
constexpr int descriptor_limit = 64;
}  // namespace

TEST_CASE("out of descriptors, new connections get an error line, holders keep their locks", "[descriptors]") {
  ServerProcess server({"--info"}, "127.0.0.1",
                       {"prlimit", "--nofile=" + std::to_string(descriptor_limit), "--"});
  // Hold locks until the server starts refusing; bounded by twice the limit.
  std::vector<LineClient> holders;
  std::optional<std::string> refusal;
  for (int i = 0; i < 2 * descriptor_limit && !refusal; ++i) {
    LineClient client(server.port());
    const auto answer = client.request("lock,name:fd-" + std::to_string(i));
    REQUIRE(answer);
    if (*answer == "ok") {
      holders.push_back(std::move(client));
    } else {
      refusal = answer;
      CHECK(client.wait_closed());
    }
  }
  REQUIRE(refusal);
  CHECK(*refusal == "err,server out of file descriptors, try again later");
  CHECK(holders.size() > descriptor_limit / 2);
  CHECK(holders.size() < static_cast<std::size_t>(descriptor_limit));

  // Refused again, not hung, and the server does not spin: it still answers its holders.
  for (int i = 0; i < 5; ++i) {
    LineClient again(server.port());
    CHECK(again.read_line(5s) == "err,server out of file descriptors, try again later");
  }
  CHECK(holders.front().request(".keepalive") == "alive");
  CHECK(holders.back().request("release") == "released");
  holders.pop_back();

  // Freed descriptors are usable again.
  CHECK(tnl::test::wait_until([&] {
    LineClient client(server.port());
    const auto line = client.request(".stats");
    if (!line || line->rfind("stats,", 0) != 0) return false;
    const auto stats = nlohmann::json::parse(line->substr(6));
    CHECK(stats.at("refused_connection_count").get<int>() >= 6);
    return true;
  }));
  CHECK(server.process().stderr_text().find("open-file limit: soft " + std::to_string(descriptor_limit)) !=
        std::string::npos);
}
