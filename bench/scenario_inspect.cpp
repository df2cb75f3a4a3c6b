// `inspect`: with N locks held (one connection each), how long `.stats` and `.locks` take:
// from sending the request on an established connection to reading the whole answer
// line. First every `.stats`, then every `.locks`, so that neither is timed while the
// server is still tidying up after the other.
#include <fmt/format.h>

#include <stdexcept>

#include "line_connection.hpp"
#include "scenario.hpp"

namespace bench {

namespace {

/// Times one request on a fresh, established connection; returns milliseconds, leaves the
/// answer in `answer`. The reader makes room for an answer as long as the previous one, as a
/// client reusing its buffer would: growing a 5 MiB string in steps took longer than the
/// server took to write it.
double timed_query(std::uint16_t port, const char* request, std::string& answer) {
  LineConnection connection(port);
  connection.reserve(answer.size() + 65536);
  const auto start = Clock::now();
  connection.send(request);
  answer = connection.read_line();
  const double millis = micros_between(start, Clock::now()) / 1e3;
  connection.read_to_eof();
  return millis;
}

/// Number of lock entries in a `.locks` answer.
long count_locks(const std::string& answer) {
  long count = 0;
  for (auto at = answer.find("\"name\":"); at != std::string::npos; at = answer.find("\"name\":", at + 1)) ++count;
  return count;
}

}  // namespace

Scenario inspect_scenario(int holders, int window, int queries) {
  return {fmt::format("inspect n={}", holders), [=](const Target& target) {
            Holders held;
            held.open(target.port, holders, window, "inspect-");
            check_held(target, holders);
            std::vector<double> stats_ms;
            std::vector<double> locks_ms;
            std::string answer;
            std::size_t locks_bytes = 0;
            for (int i = 0; i < queries; ++i) {
              stats_ms.push_back(timed_query(target.port, ".stats\n", answer));
              if (answer.rfind("stats,{", 0) != 0) throw std::runtime_error("bad .stats answer: " + answer);
            }
            for (int i = 0; i < queries; ++i) {
              locks_ms.push_back(timed_query(target.port, ".locks\n", answer));
              if (answer.rfind("locks,{", 0) != 0) throw std::runtime_error("bad .locks answer: " + answer.substr(0, 200));
              if (!target.is_floor && count_locks(answer) != holders) {
                throw std::runtime_error(fmt::format(".locks lists {} locks, expected {}", count_locks(answer), holders));
              }
              locks_bytes = answer.size() + 1;
            }
            return Metrics{
                {".stats p50 ms", percentile(stats_ms, 0.5), 3},
                {".stats max ms", percentile(stats_ms, 1.0), 3},
                {".locks p50 ms", percentile(locks_ms, 0.5), 3},
                {".locks max ms", percentile(locks_ms, 1.0), 3},
                {".locks KiB", static_cast<double>(locks_bytes) / 1024, 1},
            };
          }};
}

}  // namespace bench
