// One HTTP/1.x connection: reads requests one at a time (HttpRequestParser), has each
// answered (HttpRequestGate, HttpApi) and writes the answers in order; keep-alive,
// pipelining, HEAD and `Connection: close` as RFC 9112 says. Every phase has a deadline,
// and every buffer is bounded: a request head or body must arrive within the request
// timeout of its first byte, an idle keep-alive connection goes after the idle timeout,
// an answer must be taken within the write timeout.
//
// The answer may come later than the request (the lock backend answers on a later turn,
// e.g. over the network). Meanwhile the connection reads nothing more and is not evicted
// (the request may be creating or releasing a lock: its client must learn the outcome),
// for at most the answer timeout: past it the client gets 503 and the connection closes.
// An answer that comes after its connection ended (timed out, closed by the client,
// stopped) is dropped, and what it did undone where only it could tell (a lock created for
// a client that never learns its id is released: HttpResponse::undelivered); if it changed
// a lock, it is logged with its body, for the operator.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "http_request_parser.hpp"
#include "http_response_text.hpp"
#include "io_types.hpp"
#include "tls_socket.hpp"

namespace tnl {

class HttpConnectionManager;
class HttpRequestGate;

/// Deadlines and limits of every HTTP connection.
struct HttpConnectionSettings {
  /// From a request's first byte to its last (head and body); also from accept to the first request.
  std::chrono::milliseconds request_timeout{5'000};
  /// Between the answer to one request and the first byte of the next.
  std::chrono::milliseconds idle_timeout{30'000};
  /// For an answer to be taken by the client.
  std::chrono::milliseconds write_timeout{10'000};
  /// For the lock backend to answer a request (the local one answers at once).
  std::chrono::milliseconds answer_timeout{10'000};
  /// After the last answer, for the client to close its end before we do.
  std::chrono::milliseconds linger_timeout{2'000};
  /// How long the answer to a create, renew or release is kept from eviction: a client
  /// takes an answer at once (the kernel buffers it) unless its receive buffer is full,
  /// that is, unless it pipelines requests and reads no answer. Past this, such a
  /// connection is a last-resort eviction like a slow reader, or with the probes waiting
  /// for its write timeout a client could hold every slot.
  std::chrono::milliseconds protected_write{1'000};
  HttpRequestParser::Limits limits;
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  using Clock = std::chrono::steady_clock;

  /// What the connection is doing; the manager may evict it in the phases that have no
  /// request in progress (awaiting, head, closing) and, as a last resort, in the middle of one
  /// that changed nothing yet (body, or writing the answer to a read); never while answering.
  enum class Phase : std::uint8_t {
    awaiting,   ///< waiting for the first byte of a request (new, or keep-alive between requests)
    head,       ///< reading a request head
    body,       ///< reading a request body
    answering,  ///< a request is complete, its answer not there yet (the backend is at work)
    writing,    ///< writing an answer
    closing,    ///< answered for the last time: draining until the client closes
  };

  /// `peer` is "address:port" of the client (with a TLS client certificate, "CN@address:port"
  /// once the handshake is done).
  HttpConnection(MaybeTlsSocket socket, std::string peer, std::uint64_t id, HttpConnectionManager& manager,
                 HttpRequestGate& gate, const HttpConnectionSettings& settings);
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  /// Arms the first request's deadline and starts reading.
  void start();
  /// Ends the connection at once, unanswered (eviction, server stop).
  void stop();
  /// Unique for the server's lifetime.
  [[nodiscard]] std::uint64_t id() const { return id_; }
  /// "address:port" of the client, for logs.
  [[nodiscard]] const std::string& peer() const { return peer_; }
  [[nodiscard]] Phase phase() const { return phase_; }

 private:
  /// Reads more input (only when all input so far is parsed: input stays bounded).
  void read();
  void on_read(std::error_code error, std::size_t received);
  /// Parses buffered input until a request is complete (then answers it) or input runs out.
  void process();
  /// Enters `phase` with a deadline at `deadline`, telling the manager whether it may evict us.
  void enter(Phase phase, Clock::time_point deadline);
  /// Answers the request just parsed (now or once its answer comes: on_answer()).
  void answer(HttpMessage message);
  /// The answer to request number `request` came: written, unless the connection has
  /// ended or given up on it meanwhile (then dropped).
  void on_answer(std::uint64_t request, HttpResponse response, const HttpFraming& framing);
  /// Starts writing `response`; closes afterwards unless framing.keep_alive.
  void respond(const HttpResponse& response, const HttpFraming& framing);
  void on_write(std::error_code error);
  /// `Expect: 100-continue`: tells the client to send its body (best effort, non-blocking).
  void send_continue();
  /// After the last answer: FIN, then drain until the client closes or the linger time is up.
  void begin_close();
  void on_deadline();
  /// Ends the connection: closes the socket, forgets it.
  void end();

  MaybeTlsSocket socket_;
  SteadyTimer timer_;
  const std::uint64_t id_;
  HttpConnectionManager& manager_;
  HttpRequestGate& gate_;
  const HttpConnectionSettings& settings_;
  std::string peer_;
  HttpRequestParser parser_;
  /// Bytes read; [input_begin_, input_end_) not parsed yet. Nothing more is read until all
  /// of it is: a client that pipelines without reading cannot make us buffer without bound.
  std::array<char, 8192> input_{};
  std::size_t input_begin_ = 0;
  std::size_t input_end_ = 0;
  /// The answer being written (one at a time).
  std::string output_;
  /// Bumped with every new deadline, so that a wait for a replaced one does nothing.
  std::uint64_t deadline_generation_ = 0;
  /// Bumped with every request handed to the gate, and when its answer is given up on: an
  /// answer for another number is late, and dropped.
  std::uint64_t request_number_ = 0;
  /// What the request being answered was, for the logs ("POST /api/v1alpha1/lock").
  std::string answering_;
  Phase phase_ = Phase::awaiting;
  bool reading_ = false;
  bool close_after_write_ = false;
  /// The answer being written is to a create, renew or release, and has not waited for the
  /// client for protected_write yet: not evicted.
  bool answer_changed_locks_ = false;
  /// When the answer being written must have been taken.
  Clock::time_point write_deadline_{};
  bool ended_ = false;
};

}  // namespace tnl
