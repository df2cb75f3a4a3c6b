#include "http_request_parser.hpp"

#include <http_parser.h>

#include <algorithm>
#include <cctype>

namespace tnl {

namespace {

std::string lower(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(), [](unsigned char c) { return std::tolower(c); });
  return result;
}

bool is_kept(std::string_view lower_name) {
  const auto& kept = HttpRequestParser::kept_headers;
  return std::find(std::begin(kept), std::end(kept), lower_name) != std::end(kept);
}

/// Optional white space around a header value (http_parser keeps trailing blanks).
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
  return text.substr(start);
}

}  // namespace

const std::string* HttpMessage::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

/// http_parser's callbacks, forwarding to the HttpRequestParser in parser->data.
struct HttpRequestParser::Callbacks {
  static HttpRequestParser& self(http_parser* parser) { return *static_cast<HttpRequestParser*>(parser->data); }

  static int on_message_begin(http_parser* parser) {
    HttpRequestParser& p = self(parser);
    p.state_ = State::head;
    p.message_ = HttpMessage{};
    p.field_.clear();
    p.value_.clear();
    p.in_value_ = false;
    p.header_count_ = 0;
    p.head_bytes_ = 0;
    p.body_bytes_ = 0;
    return 0;
  }

  static int on_url(http_parser* parser, const char* at, std::size_t length) {
    HttpRequestParser& p = self(parser);
    p.head_bytes_ += length;
    if (p.message_.target.size() + length > p.limits_.max_target) return p.fail(414, "request target too long");
    p.message_.target.append(at, length);
    return 0;
  }

  static int on_header_field(http_parser* parser, const char* at, std::size_t length) {
    HttpRequestParser& p = self(parser);
    if (p.in_value_ && p.finish_header() != 0) return 1;
    p.head_bytes_ += length;
    if (p.head_bytes_ > p.limits_.max_head) return p.fail(431, "request head too large");
    if (p.field_.size() + length > p.limits_.max_header_name) return p.fail(431, "header name too long");
    p.field_.append(at, length);
    return 0;
  }

  static int on_header_value(http_parser* parser, const char* at, std::size_t length) {
    HttpRequestParser& p = self(parser);
    if (!p.in_value_) {
      p.in_value_ = true;
      p.field_ = lower(p.field_);
      p.value_.clear();
      p.value_length_ = 0;
    }
    p.head_bytes_ += length;
    p.value_length_ += length;
    if (p.head_bytes_ > p.limits_.max_head) return p.fail(431, "request head too large");
    if (p.value_length_ > p.limits_.max_header_value) return p.fail(431, "header value too long");
    if (p.keeps(p.field_)) p.value_.append(at, length);  // the others are only measured
    return 0;
  }

  static int on_headers_complete(http_parser* parser) {
    HttpRequestParser& p = self(parser);
    if (p.in_value_ && p.finish_header() != 0) return -1;
    if (parser->http_major != 1) return p.fail(505, "only HTTP/1.0 and HTTP/1.1 are supported"), -1;
    p.message_.method = http_method_str(static_cast<http_method>(parser->method));
    p.message_.version_minor = parser->http_minor;
    p.message_.upgrade = parser->upgrade != 0;
    // Refused from the announced size, before any of the body is read.
    if ((parser->flags & F_CONTENTLENGTH) && parser->content_length > p.limits_.max_body) {
      return p.fail(413, "request body larger than " + std::to_string(p.limits_.max_body) + " bytes"), -1;
    }
    p.state_ = State::body;
    return 0;
  }

  static int on_body(http_parser* parser, const char* at, std::size_t length) {
    HttpRequestParser& p = self(parser);
    p.body_bytes_ += length;
    if (p.body_bytes_ > p.limits_.max_body) {  // chunked: no size announced
      return p.fail(413, "request body larger than " + std::to_string(p.limits_.max_body) + " bytes");
    }
    p.message_.body.append(at, length);
    return 0;
  }

  static int on_message_complete(http_parser* parser) {
    HttpRequestParser& p = self(parser);
    p.message_.keep_alive = http_should_keep_alive(parser) != 0 && !p.message_.upgrade;
    p.state_ = State::complete;
    // One request at a time: the rest of the data waits until this one is answered.
    http_parser_pause(parser, 1);
    return 0;
  }

  static const http_parser_settings& settings() {
    static const http_parser_settings value = [] {
      http_parser_settings s{};
      http_parser_settings_init(&s);
      s.on_message_begin = on_message_begin;
      s.on_url = on_url;
      s.on_header_field = on_header_field;
      s.on_header_value = on_header_value;
      s.on_headers_complete = on_headers_complete;
      s.on_body = on_body;
      s.on_message_complete = on_message_complete;
      return s;
    }();
    return value;
  }
};

HttpRequestParser::HttpRequestParser() : HttpRequestParser(Limits{}) {}

HttpRequestParser::HttpRequestParser(const Limits& limits) : limits_(limits), parser_(std::make_unique<http_parser>()) {
  http_parser_init(parser_.get(), HTTP_REQUEST);
  parser_->data = this;
}

HttpRequestParser::~HttpRequestParser() = default;

int HttpRequestParser::fail(int status, std::string message) {
  if (state_ != State::failed) error_ = Error{status, std::move(message)};
  state_ = State::failed;
  return 1;
}

bool HttpRequestParser::keeps(const std::string& field) const {
  // Trailer fields (after a chunked body) are counted and measured but never kept: a Host
  // or Authorization there must not count, nor override what the head said.
  return state_ != State::body && is_kept(field);
}

int HttpRequestParser::finish_header() {
  in_value_ = false;
  if (++header_count_ > limits_.max_headers) return fail(431, "too many headers");
  if (keeps(field_)) {
    // Two Hosts (or Origins, tokens...) would leave it open which one counts: refuse.
    if (message_.header(field_)) return fail(400, "repeated " + field_ + " header");
    message_.headers.emplace_back(field_, trimmed(std::move(value_)));
  }
  field_.clear();
  value_.clear();
  return 0;
}

std::size_t HttpRequestParser::feed(const char* data, std::size_t size) {
  if (state_ == State::complete || state_ == State::failed || size == 0) return 0;
  const std::size_t used = http_parser_execute(parser_.get(), &Callbacks::settings(), data, size);
  const auto error = HTTP_PARSER_ERRNO(parser_.get());
  if (error != HPE_OK && error != HPE_PAUSED && state_ != State::failed) {
    fail(400, std::string("malformed request: ") + http_errno_description(error));
  }
  return state_ == State::failed ? size : used;
}

bool HttpRequestParser::expects_continue() const {
  if (state_ != State::body || message_.version_minor < 1) return false;
  const std::string* expect = message_.header("expect");
  return expect && lower(*expect) == "100-continue";
}

HttpMessage HttpRequestParser::take() {
  HttpMessage message = std::move(message_);
  message_ = HttpMessage{};
  state_ = State::idle;
  http_parser_pause(parser_.get(), 0);
  return message;
}

}  // namespace tnl
