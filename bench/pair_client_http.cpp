// HTTP's create and release (Tracker's REST API) on one keep-alive connection per client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "line_connection.hpp"
#include "pair_client.hpp"

namespace bench {

namespace {

constexpr int receive_timeout_seconds = 10;
/// Longest answer accepted (a lock record is a few hundred bytes).
constexpr std::size_t max_answer = 64 * 1024;

/// The string value of `"key"` in a JSON object, whitespace allowed around the ':'; empty if absent.
std::string json_string(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return {};
  const auto open = json.find('"', json.find(':', at + key.size() + 2));
  if (open == std::string::npos) return {};
  const auto close = json.find('"', open + 1);
  return close == std::string::npos ? std::string{} : json.substr(open + 1, close - open - 1);
}

class HttpPairClient final : public PairClient {
 public:
  HttpPairClient(std::uint16_t port, bool spin) : spin_(spin ? LineConnection::spin_limit : std::chrono::microseconds(0)), host_("127.0.0.1:" + std::to_string(port)) {
    fd_ = connect_loopback(port, receive_timeout_seconds, "HTTP " + host_);
  }
  HttpPairClient(const HttpPairClient&) = delete;
  HttpPairClient& operator=(const HttpPairClient&) = delete;
  ~HttpPairClient() override { ::close(fd_); }

  void pair(const std::string& name) override {
    const std::string body = "{\"service\":\"" + name + "\",\"who\":\"bench\"}";
    exchange("POST /api/v1alpha1/lock HTTP/1.1\r\nHost: " + host_ +
                 "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
             201);
    const std::string id = json_string(body_, "id");
    if (id.empty()) throw std::runtime_error("no id in the answer to POST: " + body_);
    exchange("DELETE /api/v1alpha1/lock/" + id + " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n", 200);
  }

 private:
  /// Sends `request` and reads its whole answer into body_; throws unless its status is `status`.
  void exchange(const std::string& request, int status) {
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      throw std::runtime_error(std::string("HTTP send failed: ") + std::strerror(errno));
    }
    std::size_t head_end;
    while ((head_end = input_.find("\r\n\r\n")) == std::string::npos) receive();
    const std::string head = input_.substr(0, head_end + 2);
    // "HTTP/1.1 201 Created"
    if (head.size() < 12 || head.compare(0, 9, "HTTP/1.1 ") != 0 || std::atoi(head.c_str() + 9) != status) {
      throw std::runtime_error("expected HTTP " + std::to_string(status) + ", got: " + input_.substr(0, 300));
    }
    std::size_t length = 0;
    bool has_length = false;
    for (std::size_t line = head.find("\r\n") + 2; line < head.size(); line = head.find("\r\n", line) + 2) {
      if (strncasecmp(head.c_str() + line, "content-length:", 15) == 0) {
        length = std::strtoul(head.c_str() + line + 15, nullptr, 10);
        has_length = true;
      }
      if (strncasecmp(head.c_str() + line, "connection: close", 17) == 0) {
        throw std::runtime_error("the server closes the keep-alive connection");
      }
    }
    if (!has_length) throw std::runtime_error("HTTP answer without Content-Length: " + head);
    while (input_.size() < head_end + 4 + length) receive();
    body_.assign(input_, head_end + 4, length);
    input_.erase(0, head_end + 4 + length);
  }

  /// Appends what the socket has to input_; throws on EOF, error, timeout or an oversized answer.
  void receive() {
    char chunk[16384];
    const ssize_t got = recv_spinning(fd_, chunk, sizeof chunk, spin_);
    if (got == 0) throw std::runtime_error("HTTP connection closed by the server");
    if (got < 0) throw std::runtime_error(std::string("HTTP receive failed: ") + std::strerror(errno));
    input_.append(chunk, static_cast<std::size_t>(got));
    if (input_.size() > max_answer) throw std::runtime_error("HTTP answer too long");
  }

  int fd_ = -1;
  std::chrono::microseconds spin_;  ///< how long to poll for an answer before sleeping
  std::string host_;   ///< the Host header
  std::string input_;  ///< received, not yet consumed
  std::string body_;   ///< the last answer's body
};

}  // namespace

std::unique_ptr<PairClient> make_http_pair_client(std::uint16_t port, bool spin) {
  return std::make_unique<HttpPairClient>(port, spin);
}

}  // namespace bench
