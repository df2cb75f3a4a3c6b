// The line protocol's closest equivalents of a CreateLock + UnLock pair, and the factory.
#include <stdexcept>

#include "line_connection.hpp"
#include "pair_client.hpp"

namespace bench {

std::unique_ptr<PairClient> make_grpc_pair_client(std::uint16_t port);
std::unique_ptr<PairClient> make_http_pair_client(std::uint16_t port, bool spin);

namespace {

/// A detached lock (`ttl:inf`, no expiry, as a Tracker lock): the server answers `ok,id:ID`
/// and closes, so the release is `unlock,id:ID` on a second connection.
class LineTtlPairClient final : public PairClient {
 public:
  LineTtlPairClient(std::uint16_t port, LineConnection::Wait wait) : port_(port), wait_(wait) {}

  void pair(const std::string& name) override {
    std::string id;
    {
      LineConnection connection(port_);
      connection.send("lock,name:" + name + ",ttl:inf\n");
      const std::string answer = connection.read_line(wait_);
      if (answer.rfind("ok,id:", 0) != 0) throw std::runtime_error("expected 'ok,id:ID', got '" + answer + "'");
      id = answer.substr(6);
      connection.read_to_eof();
    }
    LineConnection connection(port_);
    connection.send("unlock,id:" + id + "\n");
    connection.expect("released", wait_);
    connection.read_to_eof();
  }

 private:
  std::uint16_t port_;
  LineConnection::Wait wait_;  ///< how answers are awaited
};

/// A connection lock: connect, `lock`, `ok`, `release`, `released`, the server's EOF, close.
class LineCyclePairClient final : public PairClient {
 public:
  LineCyclePairClient(std::uint16_t port, LineConnection::Wait wait) : port_(port), wait_(wait) {}

  void pair(const std::string& name) override {
    LineConnection connection(port_);
    connection.send("lock,name:" + name + "\n");
    connection.expect("ok", wait_);
    connection.send("release\n");
    connection.expect("released", wait_);
    connection.read_to_eof();
  }

 private:
  std::uint16_t port_;
  LineConnection::Wait wait_;  ///< how answers are awaited
};

}  // namespace

std::string transport_name(Transport transport) {
  switch (transport) {
    case Transport::grpc: return "grpc";
    case Transport::http: return "http";
    case Transport::line_ttl: return "line-ttl";
    case Transport::line_cycle: return "line-cycle";
  }
  return "?";
}

std::vector<Transport> all_transports() {
  return {Transport::grpc, Transport::http, Transport::line_ttl, Transport::line_cycle};
}

std::unique_ptr<PairClient> make_pair_client(Transport transport, const Ports& ports, bool spin) {
  const auto wait = spin ? LineConnection::Wait::spin : LineConnection::Wait::block;
  switch (transport) {
    case Transport::grpc: return make_grpc_pair_client(ports.grpc);
    case Transport::http: return make_http_pair_client(ports.http, spin);
    case Transport::line_ttl: return std::make_unique<LineTtlPairClient>(ports.line, wait);
    case Transport::line_cycle: return std::make_unique<LineCyclePairClient>(ports.line, wait);
  }
  throw std::logic_error("unknown transport");
}

}  // namespace bench
