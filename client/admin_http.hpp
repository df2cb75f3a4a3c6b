// HttpClient: the HTTP requests of tcpnetlock_admin, with libcurl.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "admin_transport.hpp"

namespace tnl::admin {

/// libcurl's global state, set up for as long as this object lives (one, in main()).
class CurlGlobal {
 public:
  CurlGlobal();
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

/// Requests to one server: `base_url` (e.g. "http://127.0.0.1:7655") followed by each
/// request's target. One curl handle, reused, so paging keeps its connection open.
class HttpClient : public HttpTransport {
 public:
  /// Largest answer body accepted.
  static constexpr std::size_t max_body_size = 64 * 1024 * 1024;

  /// `token`: sent as `Authorization: Bearer TOKEN` with every request. `timeout`
  /// bounds each request as a whole, connecting included.
  HttpClient(std::string base_url, std::optional<std::string> token, std::chrono::milliseconds timeout);

  HttpResponse get(const std::string& target) { return request(HttpMethod::get, target, {}); }
  HttpResponse post(const std::string& target, const std::string& body) {
    return request(HttpMethod::post, target, body);
  }
  HttpResponse del(const std::string& target) { return request(HttpMethod::del, target, {}); }

  HttpResponse request(HttpMethod method, const std::string& target, const std::string& body) override;

 private:
  struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
  };
  struct ListDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
  };

  std::unique_ptr<CURL, CurlDeleter> curl_;
  std::string base_url_;
  std::optional<std::string> token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace tnl::admin
