// gRPC's framing over HTTP/2, the parts that are plain text and bytes (no I/O): the
// `grpc-timeout` header, the percent-encoded `grpc-message`, and the length-prefixed
// messages of a stream's DATA (gRPC's PROTOCOL-HTTP2.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tnl::grpc_wire {

/// `grpc-timeout`'s value ("100m", "5S": at most 8 digits and a unit of H M S m u n), or
/// nullopt when malformed. Saturates instead of overflowing.
std::optional<std::chrono::nanoseconds> parse_timeout(std::string_view text);

/// `grpc-message`'s encoding: bytes outside printable ASCII, and '%', as %XX.
std::string percent_encode(std::string_view message);

/// The 5-byte prefix and `message`: one gRPC message as DATA carries it, uncompressed.
std::string frame(std::string_view message);

/// Cuts a stream's DATA into gRPC messages. Fed one DATA chunk at a time (at most a frame,
/// 16 KiB) and drained with next() after each, it holds at most a frame more than one
/// message of the largest size allowed.
class MessageReader {
 public:
  /// What next() found.
  enum class Status : std::uint8_t {
    incomplete,  ///< no whole message yet
    message,     ///< one message (the `message` argument)
    compressed,  ///< the prefix says compressed: this server takes none
    too_large,   ///< the prefix announces more than the limit
  };

  explicit MessageReader(std::size_t max_message_bytes) : max_(max_message_bytes) {}

  /// Adds bytes (call next() until it says incomplete before adding more).
  void append(std::string_view bytes) { buffer_.append(bytes); }
  /// The next whole message, moved into `message`. After compressed or too_large the reader
  /// holds the rest as it is; the stream is answered with an error and its DATA dropped.
  Status next(std::string& message);
  /// Whether bytes of an incomplete message are held.
  [[nodiscard]] bool partial() const { return !buffer_.empty(); }

 private:
  const std::size_t max_;
  std::string buffer_;
};

}  // namespace tnl::grpc_wire
