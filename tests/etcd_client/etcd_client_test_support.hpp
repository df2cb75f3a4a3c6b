// Shared by the etcd client's tests: a call run to completion on the test's event loop,
// and small request builders.
#pragma once

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "etcd/etcd_client.hpp"
#include "io_run.hpp"

namespace tnl::test {

using namespace std::chrono_literals;

/// Options for a client of `endpoints` with deadlines short enough for tests.
inline etcd::ClientOptions test_options(std::vector<std::string> endpoints,
                                        std::chrono::milliseconds call_timeout = 1500ms) {
  etcd::ClientOptions options;
  options.endpoints = std::move(endpoints);
  options.call_timeout = call_timeout;
  options.backoff_min = 20ms;
  options.backoff_max = 300ms;
  return options;
}

/// Starts a call with `start(done)` and runs `io` until its result arrives.
template <class Response, class Start>
std::pair<grpc::Status, Response> await(asio::io_context& io, Start start,
                                        std::chrono::steady_clock::duration timeout = 20s) {
  std::optional<std::pair<grpc::Status, Response>> result;
  start([&](const grpc::Status& status, Response& response) { result.emplace(status, response); });
  REQUIRE(run_until(io, [&] { return result.has_value(); }, timeout));
  return std::move(*result);
}

inline etcdserverpb::PutRequest put_request(std::string key, std::string value, std::int64_t lease = 0) {
  etcdserverpb::PutRequest request;
  request.set_key(std::move(key));
  request.set_value(std::move(value));
  request.set_lease(lease);
  return request;
}

/// Puts key=value; returns the revision it was written at (REQUIREs success).
inline std::int64_t put(asio::io_context& io, etcd::Client& client, const std::string& key, const std::string& value,
                        std::int64_t lease = 0) {
  auto [status, response] = await<etcdserverpb::PutResponse>(
      io, [&](auto done) { client.put(put_request(key, value, lease), done); });
  INFO(status.error_message());
  REQUIRE(status.ok());
  return response.header().revision();
}

/// The end of the range of every key starting with `prefix` (etcd's "prefix + 1").
inline std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace tnl::test
