#include "wait_status.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "human_duration.hpp"
#include "protocol.hpp"
#include "protocol_answers.hpp"
#include "protocol_requests.hpp"

namespace tnl {

std::string format_held_for(double seconds) { return human_duration(seconds); }

std::string describe_wait(std::string_view name, std::string_view locks_json) {
  std::string text = fmt::format("waiting for lock '{}'", name);
  const auto json = nlohmann::json::parse(locks_json, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("locks") || !json["locks"].is_array()) return text;
  for (const auto& lock : json["locks"]) {
    if (!lock.is_object() || lock.value("name", std::string{}) != name) continue;
    std::vector<std::string> holders;
    if (lock.contains("holders") && lock["holders"].is_array()) {
      for (const auto& holder : lock["holders"]) {
        if (!holder.is_object()) continue;
        const std::string client_id = holder.value("client_id", std::string{});
        const std::string peer = holder.value("peer", std::string{});
        std::string who = client_id.empty() ? peer : peer.empty() ? client_id : client_id + "@" + peer;
        if (who.empty()) who = "someone";
        std::string entry = fmt::format("{} for {}", who, format_held_for(holder.value("held_seconds", 0.0)));
        const std::string reason = holder.value("reason", std::string{});
        if (!reason.empty()) entry += fmt::format(" (reason: {})", reason);
        holders.push_back(std::move(entry));
      }
    }
    if (!holders.empty()) text += fmt::format(": held by {}", fmt::join(holders, ", "));
    if (lock.contains("waiters") && lock["waiters"].is_number_unsigned()) {
      text += fmt::format("{} {} waiting", holders.empty() ? ":" : ",", lock["waiters"].get<std::size_t>());
    }
    break;
  }
  return text;
}

struct WaitStatusLine::State {
  State(asio::io_context& io, asio::ip::tcp::endpoint server, std::string name, std::FILE* out)
      : timer(io), socket(io), server(std::move(server)), name(std::move(name)), out(out) {}
  asio::steady_timer timer;
  asio::ip::tcp::socket socket;
  asio::ip::tcp::endpoint server;
  std::string name;
  std::FILE* out;
  Duration every{};
  std::string request;
  std::string buffer;
  bool running = false;
  bool shown = false;
};

namespace {

/// Terminal width of `out`; 0 when unknown (a pseudo-terminal nobody sized).
std::size_t width_of(std::FILE* out) {
  winsize size{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) == 0) return size.ws_col;
  return 0;
}

void show(const std::shared_ptr<WaitStatusLine::State>& state, std::string text);

void schedule(const std::shared_ptr<WaitStatusLine::State>& state, WaitStatusLine::Duration after);

void query(const std::shared_ptr<WaitStatusLine::State>& state) {
  asio::error_code ignored;
  state->socket.close(ignored);
  state->buffer.clear();
  state->socket.async_connect(state->server, [state](const asio::error_code& ec) {
    if (!state->running) return;
    if (ec) return schedule(state, state->every);
    asio::async_write(state->socket, asio::buffer(state->request), [state](const asio::error_code& ec, std::size_t) {
      if (!state->running) return;
      if (ec) return schedule(state, state->every);
      asio::async_read_until(state->socket, asio::dynamic_buffer(state->buffer, 1024 * 1024), '\n',
                             [state](const asio::error_code& ec, std::size_t n) {
                               if (!state->running) return;
                               if (!ec) {
                                 const std::string_view line(state->buffer.data(), n);
                                 if (const auto json = parse_locks_answer(line)) {
                                   show(state, describe_wait(state->name, *json));
                                 }
                               }
                               asio::error_code ignored;
                               state->socket.close(ignored);
                               schedule(state, state->every);
                             });
    });
  });
}

void schedule(const std::shared_ptr<WaitStatusLine::State>& state, WaitStatusLine::Duration after) {
  asio::error_code ignored;
  state->socket.close(ignored);
  state->timer.expires_after(after);
  state->timer.async_wait([state](const asio::error_code& ec) {
    if (ec || !state->running) return;
    query(state);
  });
}

void show(const std::shared_ptr<WaitStatusLine::State>& state, std::string text) {
  // Longer than the terminal is wide, the line would wrap and "\r" could not redraw it.
  const std::size_t width = width_of(state->out);
  if (width > 1 && text.size() > width - 1) text.resize(width - 1);
  std::fprintf(state->out, "\r%s\x1b[K", text.c_str());
  std::fflush(state->out);
  state->shown = true;
}

}  // namespace

WaitStatusLine::WaitStatusLine(asio::io_context& io, asio::ip::tcp::endpoint server, std::string name,
                               std::FILE* out, Duration first, Duration every)
    : state_(std::make_shared<State>(io, std::move(server), std::move(name), out)) {
  state_->every = every;
  state_->request = format_locks_request(state_->name);
  first_ = first;
}

WaitStatusLine::~WaitStatusLine() { stop(); }

void WaitStatusLine::start() {
  if (state_->running) return;
  state_->running = true;
  schedule(state_, first_);
}

void WaitStatusLine::stop() {
  if (!state_->running) return;
  state_->running = false;
  state_->timer.cancel();
  asio::error_code ignored;
  state_->socket.close(ignored);
  if (state_->shown) {
    std::fputs("\r\x1b[K", state_->out);
    std::fflush(state_->out);
    state_->shown = false;
  }
}

bool WaitStatusLine::wanted(int fd) { return ::isatty(fd) == 1; }

}  // namespace tnl
