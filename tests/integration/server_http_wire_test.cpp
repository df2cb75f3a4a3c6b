// HTTP/1.1 itself, as clients and proxies use it: keep-alive, pipelining, HEAD,
// `Connection: close`, HTTP/1.0, `Expect: 100-continue`, chunked bodies.
#include <catch2/catch.hpp>

#include <string>

#include "http_client.hpp"
#include "http_port.hpp"
#include "server_http_helpers.hpp"

namespace TNL_UNITY_ID {  // this file's names, apart in a unity build (tests/CMakeLists.txt)

using namespace tnl::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {
const std::string host = "Host: 127.0.0.1\r\n";
}  // namespace

TEST_CASE("http: HEAD /healthz then GET on the same connection: the GET's answer is intact", "[http][wire]") {
  HttpServerProcess server;
  HttpStream stream(server.http_port(), 5s);
  REQUIRE(stream.send("HEAD /healthz HTTP/1.1\r\n" + host + "\r\n"));
  const HttpReply head = stream.read_reply(true);
  REQUIRE_STATUS(head, 200);
  CHECK(head.header("content-length") == "15");  // the GET's
  CHECK(head.body.empty());
  REQUIRE(stream.send("GET /healthz HTTP/1.1\r\n" + host + "\r\n"));
  const HttpReply get = stream.read_reply();
  REQUIRE_STATUS(get, 200);
  CHECK(get.json() == json{{"status", "ok"}});
  // Nothing else came: a body sent for HEAD would be here, or would have broken the GET.
  CHECK(!stream.wait_closed(200ms));
  CHECK(stream.unread().empty());

  // The same, pipelined in one write, and HEAD of the page.
  REQUIRE(stream.send("HEAD / HTTP/1.1\r\n" + host + "\r\nGET /readyz HTTP/1.1\r\n" + host + "\r\n"));
  const HttpReply page = stream.read_reply(true);
  REQUIRE_STATUS(page, 200);
  CHECK(std::stoul(page.header("content-length").value_or("0")) > 1000);
  CHECK(page.header("content-type").value_or("").rfind("text/html", 0) == 0);
  const HttpReply ready = stream.read_reply();
  REQUIRE_STATUS(ready, 200);
  CHECK(ready.json() == json{{"status", "ready"}});
}

TEST_CASE("http: pipelined requests are answered in order on one connection", "[http][wire]") {
  HttpServerProcess server;
  HttpStream stream(server.http_port(), 5s);
  const std::string body = R"({"service":"pipelined","who":"ci"})";
  REQUIRE(stream.send("GET /healthz HTTP/1.1\r\n" + host + "\r\n" +
                      "POST /api/v1alpha1/lock HTTP/1.1\r\n" + host +
                      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                      body + "GET /api/v1alpha1/locks/list HTTP/1.1\r\n" + host + "\r\n" +
                      "GET /nowhere HTTP/1.1\r\n" + host + "\r\n" + "GET /readyz HTTP/1.1\r\n" + host + "\r\n"));
  CHECK(stream.read_reply().json() == json{{"status", "ok"}});
  const HttpReply created = stream.read_reply();
  REQUIRE_STATUS(created, 201);
  const HttpReply listed = stream.read_reply();
  REQUIRE_STATUS(listed, 200);
  CHECK(listed.json()["locks"][0]["id"] == created.json()["id"]);
  CHECK_STATUS(stream.read_reply(), 404);
  CHECK(stream.read_reply().json() == json{{"status", "ready"}});
}

TEST_CASE("http: Connection: close is honoured", "[http][wire]") {
  HttpServerProcess server;
  HttpStream stream(server.http_port(), 5s);
  REQUIRE(stream.send("GET /healthz HTTP/1.1\r\n" + host + "Connection: close\r\n\r\nGET /readyz HTTP/1.1\r\n" + host +
                      "\r\n"));
  const HttpReply reply = stream.read_reply();
  REQUIRE_STATUS(reply, 200);
  CHECK(reply.header("connection") == "close");
  CHECK(stream.wait_closed(5s));
  CHECK(stream.unread().empty());  // the request after the close is not answered
}

TEST_CASE("http: HTTP/1.0 closes after the answer unless it asks for keep-alive", "[http][wire]") {
  HttpServerProcess server;
  HttpStream plain(server.http_port(), 5s);
  REQUIRE(plain.send("GET /healthz HTTP/1.0\r\n\r\n"));  // no Host: HTTP/1.0 had none
  const HttpReply once = plain.read_reply();
  REQUIRE_STATUS(once, 200);
  CHECK(once.header("connection") == "close");
  CHECK(plain.wait_closed(5s));

  HttpStream kept(server.http_port(), 5s);
  REQUIRE(kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  const HttpReply first = kept.read_reply();
  REQUIRE_STATUS(first, 200);
  CHECK(first.header("connection") == "keep-alive");
  REQUIRE(kept.send("GET /readyz HTTP/1.0\r\n\r\n"));
  CHECK_STATUS(kept.read_reply(), 200);
  CHECK(kept.wait_closed(5s));
}

TEST_CASE("http: an HTTP/1.1 request without Host is 400", "[http][wire]") {
  HttpServerProcess server;
  HttpStream stream(server.http_port(), 5s);
  REQUIRE(stream.send("GET /healthz HTTP/1.1\r\n\r\n"));
  const HttpReply reply = stream.read_reply();
  CHECK_STATUS(reply, 400);
  CHECK(reply.json() == json{{"error", "missing Host header"}});
}

TEST_CASE("http: Expect: 100-continue gets 100 Continue, then the answer - chunked bodies work", "[http][wire]") {
  HttpServerProcess server;
  HttpStream stream(server.http_port(), 5s);
  const std::string body = R"({"service":"expecting","who":"curl"})";
  REQUIRE(stream.send("POST /api/v1alpha1/lock HTTP/1.1\r\n" + host +
                      "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n"));
  CHECK(stream.read_reply(true).status == 100);
  REQUIRE(stream.send(body));
  CHECK_STATUS(stream.read_reply(), 201);

  REQUIRE(stream.send("POST /api/v1alpha1/lock HTTP/1.1\r\n" + host +
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "10\r\n{\"service\":\"chun\r\n"
                      "14\r\nked\",\"who\":\"chunks\"}\r\n0\r\n\r\n"));
  const HttpReply chunked = stream.read_reply();
  REQUIRE_STATUS(chunked, 201);
  CHECK(chunked.json()["service"] == "chunked");
}

}  // namespace TNL_UNITY_ID
