#include "pipeline/http/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/http/server.h"
#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

namespace pipeline::http {
namespace {

using namespace std::chrono_literals;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(runner_.loop(), ServerOptions{});
    server_->route("GET", "/hello", [](const Request& r) {
      auto response =
          Response::json(200, fmt::format(R"({{"q":"{}"}})", r.queryParam("q").value_or("")));
      response.headers.add("X-Reply", "yes");
      return response;
    });
    server_->route("POST", "/echo", [](const Request& r) {
      auto response = Response::text(201, r.body);
      response.headers.add("X-Seen-Token", std::string(r.header("x-token").value_or("")));
      return response;
    });
    server_->routeAsync("GET", "/hold", [this](const Request&, Responder responder) {
      held_.push_back(std::move(responder));
      const auto outstanding = static_cast<std::size_t>(std::count_if(
          held_.begin(), held_.end(), [](const Responder& r) { return r.pending(); }));
      max_held_ = std::max(max_held_, outstanding);
    });
    auto status = server_->listen();
    ASSERT_TRUE(status) << status.toString();
  }

  void TearDown() override {
    // Close the client before the loop goes: a client must not outlive its loop.
    if (client_) {
      bool closed = false;
      client_->close([&] { closed = true; });
      EXPECT_TRUE(runner_.runUntil([&] { return closed; }));
      client_.reset();
    }
  }

  Client& makeClient(ClientOptions options = {}) {
    auto client = Client::create(runner_.loop(), std::move(options));
    EXPECT_TRUE(client) << client.error().message;
    client_ = std::move(*client);
    return *client_;
  }

  std::string url(std::string_view path) const {
    return fmt::format("http://127.0.0.1:{}{}", server_->port(), path);
  }

  // Issues one request and turns the loop until it completes.
  std::optional<Result<Response>> fetch(Client::Request request) {
    std::optional<Result<Response>> result;
    client_->request(std::move(request), [&](Result<Response> r) { result.emplace(std::move(r)); });
    EXPECT_TRUE(runner_.runUntil([&] { return result.has_value(); }));
    return result;
  }

  testsupport::LoopRunner runner_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
  std::vector<Responder> held_;
  std::size_t max_held_ = 0;  // most requests outstanding at the server at once
};

// A GET against a server on the same loop returns status, headers (case-insensitive) and body.
// What may appear in logs and headers: host and port only, never user info, path or query.
TEST(HostAndPortTest, KeepsOnlyHostAndPort) {
  EXPECT_EQ("api.trongrid.io:443", hostAndPort("https://user:secret@api.trongrid.io/wallet?key=k"));
  EXPECT_EQ("127.0.0.1:8090", hostAndPort("http://127.0.0.1:8090"));
  EXPECT_EQ("node.example:80", hostAndPort("http://node.example/jsonrpc"));
  EXPECT_EQ("", hostAndPort("ftp://node.example/"));
  EXPECT_EQ("", hostAndPort("not a url"));
}

TEST_F(ClientTest, GetAgainstServerOnSameLoop) {
  makeClient();
  auto result = fetch({.method = "GET", .url = url("/hello?q=a%20b"), .headers = {}, .body = {}});
  ASSERT_TRUE(result);
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ(200, (*result)->status);
  EXPECT_EQ(R"({"q":"a b"})", (*result)->body);
  EXPECT_EQ("application/json", (*result)->headers.get("content-type").value_or(""));
  EXPECT_EQ("yes", (*result)->headers.get("x-reply").value_or(""));
}

// A POST sends body and headers; a large body is not delayed by Expect: 100-continue.
TEST_F(ClientTest, PostSendsBodyAndHeaders) {
  makeClient();
  Headers headers;
  headers.add("X-Token", "t0k");
  const std::string body(200 * 1024, 'p');
  auto result = fetch({.method = "POST", .url = url("/echo"), .headers = headers, .body = body,
                       .timeout = 2s});
  ASSERT_TRUE(result);
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ(201, (*result)->status);
  EXPECT_EQ(body, (*result)->body);
  EXPECT_EQ("t0k", (*result)->headers.get("X-Seen-Token").value_or(""));
}

// HTTP error statuses are responses, not transport errors.
TEST_F(ClientTest, ErrorStatusIsAResponse) {
  makeClient();
  auto result = fetch({.method = "DELETE", .url = url("/hello"), .headers = {}, .body = {}});
  ASSERT_TRUE(result);
  ASSERT_TRUE(*result) << result->error().message;
  EXPECT_EQ(405, (*result)->status);
  EXPECT_EQ("GET, HEAD", (*result)->headers.get("allow").value_or(""));
}

// A server that accepts but never answers yields a Timeout naming host and port, not the query.
TEST_F(ClientTest, TimeoutAgainstSilentServer) {
  makeClient();
  testsupport::SilentSocket silent(/*listening=*/true);
  ASSERT_NE(0, silent.port());
  const auto began = std::chrono::steady_clock::now();
  auto result = fetch({.method = "GET",
                       .url = fmt::format("http://127.0.0.1:{}/v1/x?api_key=secret", silent.port()),
                       .headers = {},
                       .body = {},
                       .timeout = 200ms});
  ASSERT_TRUE(result);
  ASSERT_FALSE(*result);
  EXPECT_GE(std::chrono::steady_clock::now() - began, 190ms);
  EXPECT_EQ(ErrorType::Timeout, result->error().type);
  const std::string& message = result->error().message;
  EXPECT_NE(std::string::npos, message.find(fmt::format("http GET 127.0.0.1:{}", silent.port())))
      << message;
  EXPECT_EQ(std::string::npos, message.find("secret")) << message;
  EXPECT_EQ(std::string::npos, message.find("/v1")) << message;
}

// A refused connection is an Http error without the query string.
TEST_F(ClientTest, ConnectionRefused) {
  makeClient();
  testsupport::SilentSocket closed(/*listening=*/false);
  ASSERT_NE(0, closed.port());
  auto result = fetch({.method = "GET",
                       .url = fmt::format("http://user:pw@127.0.0.1:{}/?token=secret",
                                          closed.port()),
                       .headers = {},
                       .body = {}});
  ASSERT_TRUE(result);
  ASSERT_FALSE(*result);
  EXPECT_EQ(ErrorType::Http, result->error().type);
  const std::string& message = result->error().message;
  EXPECT_NE(std::string::npos, message.find(fmt::format("127.0.0.1:{}", closed.port()))) << message;
  EXPECT_EQ(std::string::npos, message.find("secret")) << message;
  EXPECT_EQ(std::string::npos, message.find("pw")) << message;
}

// A URL curl cannot use is an InvalidArgument that does not echo the URL.
TEST_F(ClientTest, InvalidUrl) {
  makeClient();
  auto result = fetch({.method = "GET", .url = "ftp://host/?k=secret", .headers = {}, .body = {}});
  ASSERT_TRUE(result);
  ASSERT_FALSE(*result);
  EXPECT_EQ(ErrorType::InvalidArgument, result->error().type);
  EXPECT_EQ(std::string::npos, result->error().message.find("secret"));
}

// No more than max_concurrent transfers run; the rest wait in order and run as slots free up.
TEST_F(ClientTest, ConcurrencyLimitQueues) {
  Client& client = makeClient(ClientOptions{.max_concurrent = 2});
  std::vector<int> completed;
  for (int i = 0; i < 5; ++i) {
    client.request({.method = "GET", .url = url("/hold"), .headers = {}, .body = {}},
                   [&completed, i](Result<Response> r) {
                     EXPECT_TRUE(r);
                     completed.push_back(i);
                   });
  }
  EXPECT_EQ(2u, client.activeCount());
  EXPECT_EQ(3u, client.queuedCount());
  ASSERT_TRUE(runner_.runUntil([&] { return held_.size() == 2; }));
  // Give the loop time to (wrongly) start more: nothing else may arrive meanwhile.
  EXPECT_FALSE(runner_.runUntil([&] { return held_.size() > 2; }, 100ms));

  std::size_t answered = 0;
  ASSERT_TRUE(runner_.runUntil([&] {
    while (answered < held_.size()) held_[answered++].respond(Response::text(200, "ok"));
    return completed.size() == 5;
  }));
  EXPECT_EQ(2u, max_held_);
  EXPECT_EQ(5u, held_.size());
  EXPECT_EQ(0u, client.activeCount());
  EXPECT_EQ(0u, client.queuedCount());
}

// close() cancels running and queued transfers: each callback gets an error, then close calls
// back; requests after close fail too.
TEST_F(ClientTest, CloseCancelsInFlight) {
  Client& client = makeClient(ClientOptions{.max_concurrent = 2});
  std::vector<Error> errors;
  for (int i = 0; i < 3; ++i) {
    client.request({.method = "GET", .url = url("/hold?key=secret"), .headers = {}, .body = {}},
                   [&](Result<Response> r) {
                     ASSERT_FALSE(r);
                     errors.push_back(r.error());
                   });
  }
  ASSERT_TRUE(runner_.runUntil([&] { return held_.size() == 2; }));
  bool closed = false;
  std::size_t errors_at_close = 0;
  client.close([&] {
    closed = true;
    errors_at_close = errors.size();
  });
  EXPECT_TRUE(errors.empty());  // never called from inside close()
  ASSERT_TRUE(runner_.runUntil([&] { return closed; }));
  ASSERT_EQ(3u, errors.size());
  EXPECT_EQ(3u, errors_at_close);
  for (const auto& error : errors) {
    EXPECT_EQ(ErrorType::Unavailable, error.type);
    EXPECT_EQ(std::string::npos, error.message.find("secret")) << error.message;
  }

  std::optional<Result<Response>> late;
  client.request({.method = "GET", .url = url("/hello"), .headers = {}, .body = {}},
                 [&](Result<Response> r) { late.emplace(std::move(r)); });
  EXPECT_FALSE(late);  // never called from inside request()
  ASSERT_TRUE(runner_.runUntil([&] { return late.has_value(); }));
  ASSERT_FALSE(*late);
  EXPECT_EQ(ErrorType::Unavailable, late->error().type);

  // The server saw the cancelled connections go away.
  ASSERT_TRUE(runner_.runUntil([&] { return server_->connectionCount() == 0; }));
  for (auto& responder : held_) EXPECT_FALSE(responder.pending());
}

// Bodies beyond max_response_bytes fail the request instead of growing without bound.
TEST_F(ClientTest, OversizedResponseFails) {
  server_->route("GET", "/big",
                 [](const Request&) { return Response::text(200, std::string(4096, 'x')); });
  makeClient(ClientOptions{.max_response_bytes = 1024});
  auto result = fetch({.method = "GET", .url = url("/big"), .headers = {}, .body = {}});
  ASSERT_TRUE(result);
  ASSERT_FALSE(*result);
  EXPECT_EQ(ErrorType::Http, result->error().type);
  EXPECT_NE(std::string::npos, result->error().message.find("exceeds 1024 bytes"))
      << result->error().message;
}

// Destroying a client with transfers in flight drops their callbacks safely.
TEST_F(ClientTest, DestroyWithoutClose) {
  makeClient();
  bool called = false;
  client_->request({.method = "GET", .url = url("/hold"), .headers = {}, .body = {}},
                   [&](Result<Response>) { called = true; });
  ASSERT_TRUE(runner_.runUntil([&] { return held_.size() == 1; }));
  client_.reset();
  ASSERT_TRUE(runner_.runUntil([&] { return server_->connectionCount() == 0; }));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace pipeline::http
