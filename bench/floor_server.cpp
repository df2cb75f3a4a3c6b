// bench_floor: the benchmark's floor. It speaks the tcpnetlock line protocol on the same
// kind of single-threaded Asio event loop as our server, with TCP_NODELAY like it, but
// keeps no lock table at all, so what it costs is the kernel and the event loop alone:
//
//   lock,...  -> ok (always granted at once; the connection then "holds")
//   release   -> released, then close      (while holding; .keepalive -> alive)
//   .stats    -> stats,{}, then close
//   .locks    -> locks,{"locks":[]}, then close
//   .ping     -> pong, then close
//   anything else -> bad-action (closes unless holding), an empty action -> bad-request
//
// Closing is as in our server: write the answer, shut down sending, read until the
// client's EOF, close. No timers: a client that never closes keeps its connection.
//
// With --threads N it runs N such loops, each on its own thread with its own listening
// socket on the one port (SO_REUSEPORT: the kernel spreads new connections over them). The
// floor shares nothing between connections, so that is the most a second thread could give
// any server on this machine (docs/BENCHMARKS.md, "One thread or two?").
//
//   bench_floor [--listen 127.0.0.1] [--port 0] [--port-file FILE] [--threads 1]
#include <sys/socket.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using asio::ip::tcp;

/// Longest request line, as our server's default (plus "\r\n").
constexpr std::size_t max_line = 1024 + 2;

/// The action of a request line: what precedes the first ',', white space stripped.
std::string_view action_of(std::string_view line) {
  line = line.substr(0, line.find(','));
  const auto first = line.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string_view::npos) return {};
  const auto last = line.find_last_not_of(" \t\r\n\f\v");
  return line.substr(first, last - first + 1);
}

/// One client connection: reads a line, answers it, and either reads the next or closes.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(tcp::socket socket) : socket_(std::move(socket)) {}

  /// Starts reading requests.
  void start() { read(); }

 private:
  void read() {
    asio::async_read_until(socket_, asio::dynamic_buffer(input_, max_line), '\n',
                           [self = shared_from_this()](std::error_code error, std::size_t line_end) {
                             self->on_line(error, line_end);
                           });
  }

  void on_line(std::error_code error, std::size_t line_end) {
    if (error == asio::error::not_found) return answer("err,line too long", true);
    if (error) return;  // EOF or broken: dropping the last reference closes the socket
    const std::string_view action = action_of(std::string_view(input_).substr(0, line_end - 1));
    const bool holding = holding_;
    if (action.empty()) {
      answer("bad-request", true);
    } else if (!holding && action == "lock") {
      holding_ = true;
      answer("ok", false);
    } else if (holding && action == "release") {
      answer("released", true);
    } else if (holding && action == ".keepalive") {
      answer("alive", false);
    } else if (!holding && action == ".stats") {
      answer("stats,{}", true);
    } else if (!holding && action == ".locks") {
      answer("locks,{\"locks\":[]}", true);
    } else if (!holding && action == ".ping") {
      answer("pong", true);
    } else {
      answer("bad-action", !holding);
    }
    input_.erase(0, line_end);
  }

  /// Writes `line`; then reads the next request, or with `close` shuts down sending and drains.
  void answer(std::string_view line, bool close) {
    output_.assign(line).push_back('\n');
    asio::async_write(socket_, asio::buffer(output_), [self = shared_from_this(), close](std::error_code error, std::size_t) {
      if (error) return;
      if (!close) return self->read();
      std::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

  /// Reads and discards until the client's EOF, so that closing never turns into a reset.
  void drain() {
    socket_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](std::error_code error, std::size_t) {
      if (!error) self->drain();
    });
  }

  tcp::socket socket_;
  std::string input_;
  std::string output_;
  char scratch_[512] = {};
  bool holding_ = false;
};

/// Accepts connections forever; on running out of descriptors, pauses instead of spinning.
class Acceptor {
 public:
  /// With `share_port`, other acceptors may listen on the same port (SO_REUSEPORT).
  Acceptor(asio::io_context& io, const tcp::endpoint& endpoint, bool share_port) : acceptor_(io), retry_(io) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    if (share_port) {
      const int one = 1;
      if (setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
      }
    }
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  [[nodiscard]] unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void start() { accept(); }
  void stop() {
    std::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](std::error_code error, tcp::socket socket) {
      if (error == asio::error::operation_aborted) return;
      if (error) {
        retry_.expires_after(std::chrono::milliseconds(100));
        return retry_.async_wait([this](std::error_code wait_error) {
          if (!wait_error) accept();
        });
      }
      std::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Connection>(std::move(socket))->start();
      accept();
    });
  }

  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
};

/// Raises the soft open-file limit to the hard limit, as our server does.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

/// Writes the port to `path` through a rename, so a reader never sees half a number.
bool write_port_file(const std::string& path, unsigned short port) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << '\n';
    if (!out) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1";
  unsigned short port = 0;
  std::string port_file;
  CLI::App app{"bench_floor: the tcpnetlock line protocol with no lock table (the benchmark's floor)"};
  app.add_option("--listen", listen, "Numeric address to listen on")->capture_default_str();
  app.add_option("--port", port, "TCP port; 0 picks a free one")->capture_default_str();
  app.add_option("--port-file", port_file, "Write the bound port to this file once listening");
  int threads = 1;
  app.add_option("--threads", threads, "Event loops, each on its own thread and listening socket (SO_REUSEPORT)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  raise_open_file_limit();
  try {
    /// One event loop and its listening socket.
    struct Loop {
      asio::io_context io{1};
      std::unique_ptr<Acceptor> acceptor;
    };
    std::vector<std::unique_ptr<Loop>> loops;
    const auto address = asio::ip::make_address(listen);
    for (int i = 0; i < threads; ++i) {
      auto loop = std::make_unique<Loop>();
      const unsigned short loop_port = i == 0 ? port : loops.front()->acceptor->port();
      loop->acceptor = std::make_unique<Acceptor>(loop->io, tcp::endpoint(address, loop_port), threads > 1);
      loop->acceptor->start();
      loops.push_back(std::move(loop));
    }
    asio::signal_set signals(loops.front()->io, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
      for (auto& loop : loops) loop->io.stop();
    });
    if (!port_file.empty() && !write_port_file(port_file, loops.front()->acceptor->port())) {
      std::fprintf(stderr, "bench_floor: cannot write %s\n", port_file.c_str());
      return 2;
    }
    std::vector<std::thread> others;
    for (std::size_t i = 1; i < loops.size(); ++i) others.emplace_back([&io = loops[i]->io] { io.run(); });
    loops.front()->io.run();
    for (auto& thread : others) thread.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_floor: %s\n", e.what());
    return 2;
  }
  return 0;
}
