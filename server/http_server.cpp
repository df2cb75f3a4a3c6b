#include "http_server.hpp"

#include <restinio/all.hpp>
#include <spdlog/spdlog.h>

#include "socket_options.hpp"

namespace tnl {

namespace {

/// One event loop, no strands; at most this many HTTP connections at once.
struct HttpTraits : restinio::single_thread_traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t> {
  static constexpr bool use_connection_count_limiter = true;
};
constexpr std::size_t max_http_connections = 256;
/// Largest body RESTinio reads at all; past it the connection is dropped unanswered.
/// Bodies between HttpApi::max_body_bytes and this get a 413 from HttpApi.
constexpr std::uint64_t max_read_body_bytes = 64 * 1024;

/// The reason phrase of every status HttpApi answers with.
const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

/// Our request from RESTinio's; nullopt when the target's percent-encoding is broken.
std::optional<HttpRequest> to_request(const restinio::request_handle_t& request) {
  HttpRequest ours;
  ours.method = request->header().method().c_str();
  auto path = restinio::utils::try_unescape_percent_encoding<restinio::utils::relaxed_unescape_traits>(
      request->header().path());
  if (!path) return std::nullopt;
  ours.path = std::move(*path);
  if (const auto text = request->header().query(); !text.empty()) {
    const auto query = restinio::try_parse_query<restinio::parse_query_traits::javascript_compatible>(text);
    if (!query) return std::nullopt;
    for (const auto& [key, value] : *query) ours.query.emplace_back(std::string(key), std::string(value));
  }
  ours.body = request->body();
  ours.authorization = request->header().get_field_or(restinio::http_field::authorization, "");
  ours.peer = format_endpoint(request->remote_endpoint());
  return ours;
}

/// Sends `response` as the answer to `request`.
restinio::request_handling_status_t reply(const restinio::request_handle_t& request, HttpResponse response) {
  auto reply = request->create_response(restinio::http_status_line_t{
      restinio::http_status_code_t{static_cast<std::uint16_t>(response.status)}, reason_phrase(response.status)});
  reply.append_header(restinio::http_field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) reply.append_header(name, value);
  reply.set_body(std::move(response.body));
  return reply.done();
}

}  // namespace

struct HttpServer::Impl {
  restinio::http_server_t<HttpTraits> server;

  Impl(asio::io_context& io, HttpApi& api, const std::string& address, std::uint16_t port, std::uint16_t& bound)
      : server(restinio::external_io_context(io), [&](auto& settings) {
          settings.address(address)
              .port(port)
              .max_parallel_connections(max_http_connections)
              .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                            .max_body_size(max_read_body_bytes)
                                            .max_url_size(8 * 1024)
                                            .max_field_name_size(1024)
                                            .max_field_value_size(8 * 1024)
                                            .max_field_count(100))
              .read_next_http_message_timelimit(std::chrono::seconds(30))
              .write_http_response_timelimit(std::chrono::seconds(10))
              .acceptor_post_bind_hook([&bound](asio::ip::tcp::acceptor& acceptor) {
                bound = acceptor.local_endpoint().port();
              })
              .request_handler([&api](const restinio::request_handle_t& request) {
                auto ours = to_request(request);
                if (!ours) return reply(request, HttpResponse{400, "application/json", R"({"error":"malformed URL"})", {}});
                return reply(request, api.handle(*ours));
              });
        }) {}
};

HttpServer::HttpServer(asio::io_context& io, HttpApi& api, const std::string& address, std::uint16_t port)
    : impl_(std::make_unique<Impl>(io, api, address, port, port_)) {
  impl_->server.open_sync();
  spdlog::info("HTTP admin API on {}:{}", address, port_);
}

HttpServer::~HttpServer() = default;

void HttpServer::close() { impl_->server.close_sync(); }

}  // namespace tnl
