#include "admin_http.hpp"
#include "tls_options.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace tnl::admin {

namespace {

/// What the write callback collects.
struct Sink {
  std::string body;
  bool too_large = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto& sink = *static_cast<Sink*>(user);
  const std::size_t bytes = size * count;
  if (sink.body.size() + bytes > HttpClient::max_body_size) {
    sink.too_large = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  sink.body.append(data, bytes);
  return bytes;
}

HttpError::Kind kind_of(CURLcode code) {
  switch (code) {
    case CURLE_URL_MALFORMAT:
      return HttpError::Kind::bad_url;
    // The scheme was checked before (http or https): this is an answer that is not HTTP
    // (e.g. "Received HTTP/0.9 when not allowed" from the lock port).
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WRITE_ERROR:
      return HttpError::Kind::bad_answer;
    default:
      return HttpError::Kind::unreachable;
  }
}

/// Sets a curl option, turning a failure (an option this libcurl lacks) into an exception.
template <typename Value>
void set(CURL* curl, CURLoption option, Value value) {
  if (const CURLcode code = curl_easy_setopt(curl, option, value); code != CURLE_OK) {
    throw std::runtime_error(fmt::format("libcurl: cannot set option {}: {}", static_cast<int>(option),
                                         curl_easy_strerror(code)));
  }
}

}  // namespace

CurlGlobal::CurlGlobal() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("libcurl: cannot initialise");
}

CurlGlobal::~CurlGlobal() { curl_global_cleanup(); }

HttpClient::HttpClient(std::string base_url, std::optional<std::string> token, std::chrono::milliseconds timeout)
    : curl_(curl_easy_init()), base_url_(std::move(base_url)), token_(std::move(token)), timeout_(timeout) {
  if (!curl_) throw std::runtime_error("libcurl: cannot create a handle");
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

HttpResponse HttpClient::request(HttpMethod method, const std::string& target, const std::string& body) {
  CURL* curl = curl_.get();
  // A clean slate for every request; the connection cache survives it.
  curl_easy_reset(curl);

  const ClientTls& tls = client_tls();
  std::string url = base_url_ + target;
  if (tls.enabled && url.rfind("http://", 0) == 0) url.insert(4, "s");  // --tls: https
  if (!tls.ca_file.empty()) set(curl, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) {
    set(curl, CURLOPT_SSLCERT, tls.cert_file.c_str());
    set(curl, CURLOPT_SSLKEY, tls.key_file.c_str());
  }
  char error_text[CURL_ERROR_SIZE] = "";
  Sink sink;
  set(curl, CURLOPT_URL, url.c_str());
  set(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  set(curl, CURLOPT_FOLLOWLOCATION, 0L);
  set(curl, CURLOPT_NOSIGNAL, 1L);
  set(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  set(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  set(curl, CURLOPT_USERAGENT, "tcpnetlock_admin");
  set(curl, CURLOPT_ERRORBUFFER, error_text);
  set(curl, CURLOPT_WRITEFUNCTION, &collect);
  set(curl, CURLOPT_WRITEDATA, static_cast<void*>(&sink));

  std::unique_ptr<curl_slist, ListDeleter> headers;
  const auto add_header = [&headers](const std::string& header) {
    curl_slist* extended = curl_slist_append(headers.get(), header.c_str());
    if (!extended) throw std::runtime_error("libcurl: out of memory");
    (void)headers.release();  // the same list, now longer
    headers.reset(extended);
  };
  add_header("Accept: application/json");
  add_header("Expect:");  // no 100-continue round trip for our small bodies
  if (token_) add_header("Authorization: Bearer " + *token_);

  switch (method) {
    case HttpMethod::get:
      set(curl, CURLOPT_HTTPGET, 1L);
      break;
    case HttpMethod::post:
      add_header("Content-Type: application/json");
      set(curl, CURLOPT_POST, 1L);
      set(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      set(curl, CURLOPT_POSTFIELDS, body.c_str());
      break;
    case HttpMethod::del:
      set(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
      break;
  }
  set(curl, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode code = curl_easy_perform(curl);
  // The handle keeps pointers to these; drop them before they go away.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  if (code != CURLE_OK) {
    if (sink.too_large) {
      throw HttpError(HttpError::Kind::bad_answer,
                      fmt::format("the answer from {} is larger than {} bytes", url, max_body_size));
    }
    const std::string detail = error_text[0] != '\0' ? error_text : curl_easy_strerror(code);
    throw HttpError(kind_of(code), fmt::format("{}: {}", url, detail));
  }
  HttpResponse response;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  response.body = std::move(sink.body);
  return response;
}

}  // namespace tnl::admin
