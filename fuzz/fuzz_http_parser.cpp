// Fuzz target: the raw bytes of an HTTP/1.x connection, as HttpConnection hands them to
// HttpRequestParser (Node's http_parser underneath, with our limits on top).
//
// The input is what a client sends on one connection. Its first byte chooses how the
// bytes arrive (one piece, or pieces of 1 to 16 bytes, as TCP may cut them); the rest is
// the stream. It is parsed twice, once whole and once in pieces, the way HttpConnection
// parses: feed, take a complete request, go on while the connection would stay open
// (keep-alive, no upgrade), stop at the first error.
//
// Invariants: both parses see the same requests, then both fail or neither (a request
// boundary that depends on how the bytes were cut is how request smuggling starts; the
// error's status may depend on it, see below); every request is within the limits;
// feed() always makes progress; a failed parse answers with a 4xx/5xx status and a message.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "http_request_parser.hpp"

namespace {

using tnl::HttpMessage;
using tnl::HttpRequestParser;

/// What one connection's bytes turned into: the requests, then the error if one ended it.
struct Outcome {
  std::vector<HttpMessage> requests;
  std::optional<int> error_status;
};

bool same(const HttpMessage& a, const HttpMessage& b) {
  return a.method == b.method && a.target == b.target && a.version_minor == b.version_minor &&
         a.keep_alive == b.keep_alive && a.upgrade == b.upgrade && a.headers == b.headers && a.body == b.body;
}

void check_limits(const HttpMessage& message, const HttpRequestParser::Limits& limits) {
  FUZZ_CHECK(!message.method.empty());
  FUZZ_CHECK(message.target.size() <= limits.max_target);
  FUZZ_CHECK(message.body.size() <= limits.max_body);
  FUZZ_CHECK(message.headers.size() <= limits.max_headers);
  for (const auto& [name, value] : message.headers) {
    FUZZ_CHECK(name.size() <= limits.max_header_name && value.size() <= limits.max_header_value);
    bool kept = false;
    for (const auto known : HttpRequestParser::kept_headers) kept = kept || name == known;
    FUZZ_CHECK(kept);  // only the headers the server reads are kept, in lower case
  }
}

/// Parses `stream` arriving in pieces of `piece` bytes (0: all at once).
Outcome parse(const std::string& stream, std::size_t piece) {
  const HttpRequestParser::Limits limits;
  HttpRequestParser parser(limits);
  Outcome outcome;
  std::size_t offset = 0;
  while (offset < stream.size()) {
    const std::size_t available = piece == 0 ? stream.size() - offset : std::min(piece, stream.size() - offset);
    std::size_t used_of_piece = 0;
    // Like HttpConnection: a piece is fed until it is used up, taking requests as they complete.
    while (used_of_piece < available) {
      const std::size_t used = parser.feed(stream.data() + offset + used_of_piece, available - used_of_piece);
      FUZZ_CHECK(used <= available - used_of_piece);
      used_of_piece += used;
      if (parser.state() == HttpRequestParser::State::failed) {
        const auto& error = parser.error();
        FUZZ_CHECK(error.status >= 400 && error.status < 600 && !error.message.empty());
        outcome.error_status = error.status;
        return outcome;
      }
      if (parser.state() == HttpRequestParser::State::complete) {
        HttpMessage message = parser.take();
        check_limits(message, limits);
        const bool goes_on = message.keep_alive && !message.upgrade;
        outcome.requests.push_back(std::move(message));
        if (!goes_on) return outcome;  // the server answers and closes: nothing more is read
        continue;
      }
      FUZZ_CHECK(used > 0);  // neither complete nor failed: it must have taken the bytes
    }
    offset += available;
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 16;
  const std::string stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = parse(stream, 0);
  const Outcome pieces = parse(stream, piece);
  FUZZ_CHECK(whole.requests.size() == pieces.requests.size());
  for (std::size_t i = 0; i < whole.requests.size(); ++i) FUZZ_CHECK(same(whole.requests[i], pieces.requests[i]));
  // Both fail or neither. Which limit or syntax error is met first may depend on the cut:
  // http_parser hands a header over when it ends, or at the end of a piece, so a header
  // count or size limit can be seen in pieces before a bad character that the whole parse
  // meets first (431 "too many headers" or 400 "invalid character in header"). Either way
  // the same requests came before, and the connection is answered and closed.
  FUZZ_CHECK(whole.error_status.has_value() == pieces.error_status.has_value());
  return 0;
}
