// What serves one gRPC stream: made from the method's path when the stream's headers
// arrive (GrpcMethods), then fed what the transport (GrpcH2Stream) learns, on the loop.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace tnl {

class GrpcH2Stream;

class GrpcStreamHandler {
 public:
  virtual ~GrpcStreamHandler() = default;
  /// One whole request message (its bytes, not parsed yet).
  virtual void message(GrpcH2Stream& stream, std::string&& bytes) = 0;
  /// The client sent its last message (half-closed its side).
  virtual void end_of_requests(GrpcH2Stream& stream) = 0;
  /// The client cancelled, went away, or the deadline passed, before the stream ended.
  virtual void cancelled() = 0;
  /// The stream is over: `delivered` whether its whole answer was written to the client.
  virtual void over(bool delivered) = 0;
  /// A message written with GrpcStreamWriter::write was taken (`ok`) or could not be.
  virtual void write_done(bool /*ok*/) {}
};

/// The table from a method's path ("/package.Service/Method") to its handler.
class GrpcMethods {
 public:
  virtual ~GrpcMethods() = default;
  /// A new handler for `path`, or null: no such method (UNIMPLEMENTED).
  virtual std::unique_ptr<GrpcStreamHandler> handler_for(std::string_view path) = 0;
};

}  // namespace tnl
