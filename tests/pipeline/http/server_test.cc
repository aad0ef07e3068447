#include "pipeline/http/server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/uv/handle.h"

#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

namespace pipeline::http {
namespace {

using namespace std::chrono_literals;
using testsupport::BackgroundTask;
using testsupport::RawConnection;
using testsupport::RawResponse;

std::string get(std::string_view target, std::string_view extra_headers = "") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: test\r\n{}\r\n", target, extra_headers);
}

std::string post(std::string_view target, std::string_view body) {
  return fmt::format("POST {} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{}", target,
                     body.size(), body);
}

class ServerTest : public ::testing::Test {
 protected:
  // Starts a server with a few standard routes; tests add their own before or after.
  void start(ServerOptions options = {}) {
    server_ = std::make_unique<Server>(runner_.loop(), std::move(options));
    server_->route("GET", "/hello", [](const Request&) { return Response::text(200, "hello"); });
    server_->route("POST", "/echo", [](const Request& request) {
      return Response::text(200, request.body);
    });
    server_->setObserver([this](const Request&, int status, double seconds) {
      ++statuses_[status];
      EXPECT_GE(seconds, 0.0);
    });
    auto status = server_->listen();
    ASSERT_TRUE(status) << status.toString();
    ASSERT_NE(0, server_->port());
  }

  // Runs `client` on a thread with a connection to the server while this thread turns the loop.
  bool runClient(const std::function<void(RawConnection&)>& client) {
    BackgroundTask task([&] {
      RawConnection connection(server_->port());
      ASSERT_TRUE(connection.connected());
      client(connection);
    });
    return runner_.runUntil([&] { return task.done(); });
  }

  // One request on a fresh connection.
  std::optional<RawResponse> exchange(const std::string& request) {
    std::optional<RawResponse> response;
    EXPECT_TRUE(runClient([&](RawConnection& c) {
      ASSERT_TRUE(c.send(request));
      response = c.readResponse();
    }));
    return response;
  }

  testsupport::LoopRunner runner_;
  std::unique_ptr<Server> server_;
  std::map<int, int> statuses_;
};

// A GET and a POST reach their handlers; responses carry Content-Type and Content-Length.
TEST_F(ServerTest, RoutesByMethodAndPath) {
  start();
  auto hello = exchange(get("/hello"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(200, hello->status);
  EXPECT_EQ("hello", hello->body);
  EXPECT_EQ("5", hello->header("Content-Length"));
  EXPECT_EQ("text/plain; charset=utf-8", hello->header("Content-Type"));

  auto echo = exchange(post("/echo", R"({"a":1})"));
  ASSERT_TRUE(echo);
  EXPECT_EQ(200, echo->status);
  EXPECT_EQ(R"({"a":1})", echo->body);
  EXPECT_EQ(2, statuses_[200]);  // both counted by the observer
}

// An unknown path is a JSON 404.
TEST_F(ServerTest, UnknownPathIs404Json) {
  start();
  auto response = exchange(get("/nope"));
  ASSERT_TRUE(response);
  EXPECT_EQ(404, response->status);
  EXPECT_EQ("application/json", response->header("Content-Type"));
  EXPECT_EQ(R"({"error":"not found"})", response->body);
  EXPECT_EQ(1, statuses_[404]);
}

// A known path with the wrong method is 405 and lists the allowed methods.
TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  start();
  auto response = exchange(post("/hello", "x"));
  ASSERT_TRUE(response);
  EXPECT_EQ(405, response->status);
  EXPECT_EQ("GET, HEAD", response->header("Allow"));
}

// Prefix routes match below their prefix, the longest prefix wins, and exact routes win over both.
TEST_F(ServerTest, PrefixRoutesUseLongestMatch) {
  start();
  server_->routePrefix("GET", "/api/",
                       [](const Request& r) { return Response::text(200, "api " + r.path); });
  server_->routePrefix("GET", "/api/v2/", [](const Request&) { return Response::text(200, "v2"); });
  server_->route("GET", "/api/exact", [](const Request&) { return Response::text(200, "exact"); });

  auto api = exchange(get("/api/blocks/5?x=1"));
  ASSERT_TRUE(api);
  EXPECT_EQ("api /api/blocks/5", api->body);
  auto v2 = exchange(get("/api/v2/blocks"));
  ASSERT_TRUE(v2);
  EXPECT_EQ("v2", v2->body);
  auto exact = exchange(get("/api/exact"));
  ASSERT_TRUE(exact);
  EXPECT_EQ("exact", exact->body);
  auto outside = exchange(get("/apix"));
  ASSERT_TRUE(outside);
  EXPECT_EQ(404, outside->status);
}

// The query string is split and percent-decoded; the path excludes it.
TEST_F(ServerTest, ParsesQueryString) {
  start();
  Request seen;
  server_->route("GET", "/q", [&](const Request& r) {
    seen = r;
    return Response::text(200, "ok");
  });
  auto response = exchange(get("/q?limit=10&name=a%20b&plus=x+y&flag&enc%3D=%3d"));
  ASSERT_TRUE(response);
  EXPECT_EQ(200, response->status);
  EXPECT_EQ("/q", seen.path);
  EXPECT_EQ("limit=10&name=a%20b&plus=x+y&flag&enc%3D=%3d", seen.query);
  EXPECT_EQ("10", seen.queryParam("limit").value_or("?"));
  EXPECT_EQ("a b", seen.queryParam("name").value_or("?"));
  EXPECT_EQ("x y", seen.queryParam("plus").value_or("?"));
  EXPECT_EQ("", seen.queryParam("flag").value_or("?"));
  EXPECT_EQ("=", seen.queryParam("enc=").value_or("?"));
  EXPECT_FALSE(seen.queryParam("missing"));
}

// parseQuery keeps malformed escapes literally instead of failing.
TEST(QueryTest, KeepsMalformedEscapes) {
  auto params = parseQuery("a=%zz&b=%4&&c=%41");
  ASSERT_EQ(3u, params.size());
  EXPECT_EQ("%zz", params[0].second);
  EXPECT_EQ("%4", params[1].second);
  EXPECT_EQ("A", params[2].second);
}

// Request headers are looked up case-insensitively and the body is delivered whole.
TEST_F(ServerTest, ExposesHeadersAndBody) {
  start();
  std::string token;
  std::string body;
  server_->route("PUT", "/h", [&](const Request& r) {
    token = std::string(r.header("x-token").value_or(""));
    body = r.body;
    return Response::json(200, "{}");
  });
  auto response = exchange(
      "PUT /h HTTP/1.1\r\nHost: t\r\nX-TOKEN: abc\r\nContent-Length: 4\r\n\r\nbody");
  ASSERT_TRUE(response);
  EXPECT_EQ(200, response->status);
  EXPECT_EQ("abc", token);
  EXPECT_EQ("body", body);
}

// HTTP/1.1 keeps the connection open: two requests are answered on one connection.
TEST_F(ServerTest, KeepAliveServesTwoRequests) {
  start();
  std::set<std::string> peers;
  server_->route("GET", "/peer", [&](const Request& r) {
    peers.insert(r.remote_address);
    return Response::text(200, "ok");
  });
  int answered = 0;
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c.send(get("/peer")));
      auto response = c.readResponse();
      ASSERT_TRUE(response);
      EXPECT_EQ(200, response->status);
      EXPECT_EQ("", response->header("Connection"));
      ++answered;
    }
  }));
  EXPECT_EQ(2, answered);
  ASSERT_EQ(1u, peers.size());  // both requests came over the same connection
  EXPECT_TRUE(peers.begin()->starts_with("127.0.0.1:")) << *peers.begin();
}

// Pipelined requests are answered in request order even when the first one answers later.
TEST_F(ServerTest, PipelinedRequestsAnsweredInOrder) {
  start();
  std::vector<std::unique_ptr<uv::Timer>> timers;
  server_->routeAsync("GET", "/slow", [&](const Request&, Responder responder) {
    auto timer = uv::Timer::create(runner_.loop());
    ASSERT_TRUE(timer);
    timers.push_back(std::make_unique<uv::Timer>(std::move(*timer)));
    ASSERT_TRUE(timers.back()->start(30, 0, [responder] {
      responder.respond(Response::text(200, "slow"));
    }));
  });
  std::vector<std::string> bodies;
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/slow") + get("/hello") + post("/echo", "third")));
    for (int i = 0; i < 3; ++i) {
      auto response = c.readResponse();
      ASSERT_TRUE(response);
      bodies.push_back(response->body);
    }
  }));
  EXPECT_EQ((std::vector<std::string>{"slow", "hello", "third"}), bodies);
}

// Connection: close is honoured: the response says so and the server closes.
TEST_F(ServerTest, ConnectionCloseEndsConnection) {
  start();
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/hello", "Connection: close\r\n")));
    auto response = c.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(200, response->status);
    EXPECT_EQ("close", response->header("Connection"));
    EXPECT_TRUE(c.waitClosed());
  }));
}

// abort() writes the given bytes as they are and then resets the connection: the client gets half
// a response and ECONNRESET, not a clean end. Without bytes, only the reset.
TEST_F(ServerTest, AbortSendsRawBytesThenResets) {
  start();
  const std::string half = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly half";
  server_->routeAsync("GET", "/broken", [&](const Request&, Responder responder) {
    responder.abort(half);
    EXPECT_FALSE(responder.pending());
  });
  server_->routeAsync("GET", "/reset", [](const Request&, Responder responder) { responder.abort(); });
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/broken")));
    EXPECT_TRUE(c.waitClosed());
    EXPECT_TRUE(c.resetByPeer());
    EXPECT_EQ(half, c.unread());
  }));
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/reset")));
    EXPECT_TRUE(c.waitClosed());
    EXPECT_TRUE(c.resetByPeer());
    EXPECT_EQ("", c.unread());
  }));
  // A normal close is not a reset.
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/hello", "Connection: close\r\n")));
    ASSERT_TRUE(c.readResponse());
    EXPECT_TRUE(c.waitClosed());
    EXPECT_FALSE(c.resetByPeer());
  }));
}

// HTTP/1.0 closes by default, and keeps alive only when asked to.
TEST_F(ServerTest, Http10ClosesUnlessKeepAlive) {
  start();
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto kept = c.readResponse();
    ASSERT_TRUE(kept);
    EXPECT_EQ("keep-alive", kept->header("Connection"));
    ASSERT_TRUE(c.send("GET /hello HTTP/1.0\r\n\r\n"));
    auto last = c.readResponse();
    ASSERT_TRUE(last);
    EXPECT_EQ("hello", last->body);
    EXPECT_EQ("close", last->header("Connection"));
    EXPECT_TRUE(c.waitClosed());
  }));
}

// A HEAD on a GET route gets the headers (with the GET's Content-Length) but no body.
TEST_F(ServerTest, HeadUsesGetRouteWithoutBody) {
  start();
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + get("/hello")));
    auto head = c.readResponse(/*head=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(200, head->status);
    EXPECT_EQ("5", head->header("Content-Length"));
    auto next = c.readResponse();  // would be garbled if the HEAD had sent a body
    ASSERT_TRUE(next);
    EXPECT_EQ("hello", next->body);
  }));
}

// Headers beyond max_header_bytes are answered 431 and the connection is closed.
TEST_F(ServerTest, OversizedHeaderIs431) {
  start(ServerOptions{.max_header_bytes = 1024});
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n")));
    auto response = c.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(431, response->status);
    EXPECT_EQ("close", response->header("Connection"));
    EXPECT_TRUE(c.waitClosed());
  }));
  EXPECT_EQ(1, statuses_[431]);
}

// Many small headers count too, not only one long one.
TEST_F(ServerTest, ManySmallHeadersAre431) {
  start(ServerOptions{.max_header_bytes = 1024});
  std::string headers;
  for (int i = 0; i < 200; ++i) headers += fmt::format("X-{}: v\r\n", i);
  auto response = exchange(get("/hello", headers));
  ASSERT_TRUE(response);
  EXPECT_EQ(431, response->status);
}

// A declared body beyond max_body_bytes is refused with 413 even while the client uploads it.
TEST_F(ServerTest, OversizedBodyIs413) {
  start(ServerOptions{.max_body_bytes = 1024});
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(post("/echo", std::string(64 * 1024, 'b'))));
    auto response = c.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(413, response->status);
    EXPECT_TRUE(c.waitClosed());
  }));
  EXPECT_EQ(1, statuses_[413]);
}

// A chunked body (no length up front) is cut off with 413 once it passes the limit.
TEST_F(ServerTest, OversizedChunkedBodyIs413) {
  start(ServerOptions{.max_body_bytes = 1024});
  std::string chunk = fmt::format("{:x}\r\n{}\r\n", 800, std::string(800, 'c'));
  auto response = exchange("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           chunk + chunk + "0\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(413, response->status);
}

// A body within the limit still works when chunked.
TEST_F(ServerTest, ChunkedBodyWithinLimit) {
  start();
  auto response = exchange(
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ("abcde", response->body);
}

// A client sending Expect: 100-continue is told to go on before it uploads the body.
TEST_F(ServerTest, AnswersExpectContinue) {
  start();
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                       "Expect: 100-continue\r\n\r\n"));
    auto interim = c.readResponse();
    ASSERT_TRUE(interim);
    EXPECT_EQ(100, interim->status);
    ASSERT_TRUE(c.send("abc"));
    auto final_response = c.readResponse();
    ASSERT_TRUE(final_response);
    EXPECT_EQ(200, final_response->status);
    EXPECT_EQ("abc", final_response->body);
  }));
}

// Garbage is a 400.
TEST_F(ServerTest, MalformedRequestIs400) {
  start();
  auto response = exchange("NOT HTTP AT ALL\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(400, response->status);
}

// Acceptance: a client that sends half a request is cut off with 408 after request_timeout, while
// a well-behaved client on another connection is served normally during that time.
TEST_F(ServerTest, SlowClientIsCutOffWithoutHurtingOthers) {
  constexpr auto kDeadline = 600ms;
  start(ServerOptions{.request_timeout = kDeadline});
  std::atomic<bool> slow_sent{false};
  std::atomic<bool> slow_cut{false};
  std::atomic<bool> good_done_before_cut{false};
  std::optional<RawResponse> slow_response;
  bool slow_closed = false;
  std::chrono::steady_clock::duration slow_elapsed{};
  int good_answers = 0;

  BackgroundTask slow([&] {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.connected());
    const auto began = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Partial: "));
    slow_sent = true;
    slow_response = c.readResponse();
    slow_elapsed = std::chrono::steady_clock::now() - began;
    slow_cut = true;
    slow_closed = c.waitClosed();
  });
  ASSERT_TRUE(
      runner_.runUntil([&] { return slow_sent.load() && server_->connectionCount() == 1; }));

  BackgroundTask good([&] {
    for (int connection = 0; connection < 2; ++connection) {
      RawConnection c(server_->port());
      ASSERT_TRUE(c.connected());
      for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.send(get("/hello")));
        auto response = c.readResponse();
        ASSERT_TRUE(response);
        if (response->status == 200) ++good_answers;
      }
    }
    good_done_before_cut = !slow_cut.load();
  });
  ASSERT_TRUE(runner_.runUntil([&] { return slow.done() && good.done(); }));

  EXPECT_EQ(6, good_answers);
  EXPECT_TRUE(good_done_before_cut) << "the good client was not served while the slow one hung";
  ASSERT_TRUE(slow_response);
  EXPECT_EQ(408, slow_response->status);
  EXPECT_EQ("close", slow_response->header("Connection"));
  EXPECT_TRUE(slow_closed);
  EXPECT_GE(slow_elapsed, kDeadline - 50ms);  // cut by the deadline, not by anything else
  EXPECT_EQ(1, statuses_[408]);
}

// A connection that never sends anything is closed silently after request_timeout.
TEST_F(ServerTest, SilentConnectionIsClosed) {
  start(ServerOptions{.request_timeout = 100ms});
  bool closed = false;
  std::optional<RawResponse> response;
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    response = c.readResponse();
    closed = c.waitClosed();
  }));
  EXPECT_FALSE(response);
  EXPECT_TRUE(closed);
}

// An idle keep-alive connection is closed after idle_timeout.
TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  start(ServerOptions{.idle_timeout = 100ms});
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    ASSERT_TRUE(c.send(get("/hello")));
    auto response = c.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(200, response->status);
    EXPECT_TRUE(c.waitClosed());
  }));
  EXPECT_TRUE(runner_.runUntil([&] { return server_->connectionCount() == 0; }));
}

// An asynchronous handler answers later through its Responder, from the loop thread.
TEST_F(ServerTest, AsyncResponderAnswersLater) {
  start();
  std::optional<Responder> held;
  server_->routeAsync("GET", "/later", [&](const Request&, Responder responder) {
    held = responder;
  });
  std::optional<RawResponse> response;
  BackgroundTask client([&] {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(get("/later")));
    response = c.readResponse();
  });
  ASSERT_TRUE(runner_.runUntil([&] { return held.has_value(); }));
  EXPECT_TRUE(held->pending());
  held->respond(Response::json(202, R"({"queued":true})"));
  EXPECT_FALSE(held->pending());
  held->respond(Response::text(500, "second answer is ignored"));
  ASSERT_TRUE(runner_.runUntil([&] { return client.done(); }));
  ASSERT_TRUE(response);
  EXPECT_EQ(202, response->status);
  EXPECT_EQ(R"({"queued":true})", response->body);
  EXPECT_EQ(1, statuses_[202]);
  EXPECT_EQ(0, statuses_[500]);
}

// A client that disconnects while its request is handled frees the connection at once, and
// responding afterwards is a harmless no-op.
TEST_F(ServerTest, ResponderAfterDisconnectIsNoop) {
  start();
  std::optional<Responder> held;
  server_->routeAsync("GET", "/later", [&](const Request&, Responder r) { held = r; });
  {
    BackgroundTask client([&] {
      RawConnection c(server_->port());
      ASSERT_TRUE(c.connected());
      ASSERT_TRUE(c.send(get("/later")));
    });  // closes the connection without reading
    ASSERT_TRUE(runner_.runUntil([&] { return client.done() && held.has_value(); }));
  }
  ASSERT_TRUE(runner_.runUntil([&] { return server_->connectionCount() == 0; }));
  EXPECT_FALSE(held->pending());
  held->respond(Response::text(200, "too late"));
  EXPECT_EQ(0, statuses_[200]);
}

// A throwing handler becomes a 500 and the connection keeps working.
TEST_F(ServerTest, HandlerExceptionIs500) {
  start();
  server_->route("GET", "/throw", [](const Request&) -> Response {
    throw std::runtime_error("handler bug");
  });
  server_->routeAsync("GET", "/throw-async", [](const Request&, Responder) {
    throw 42;  // not even a std::exception
  });
  std::vector<int> statuses;
  ASSERT_TRUE(runClient([&](RawConnection& c) {
    for (const char* path : {"/throw", "/throw-async", "/hello"}) {
      ASSERT_TRUE(c.send(get(path)));
      auto response = c.readResponse();
      ASSERT_TRUE(response);
      statuses.push_back(response->status);
    }
  }));
  EXPECT_EQ((std::vector<int>{500, 500, 200}), statuses);
  EXPECT_EQ(2, statuses_[500]);
}

// Connections beyond max_connections get 503 and are closed; a freed slot is reusable.
TEST_F(ServerTest, MaxConnectionsRejectsExtra) {
  start(ServerOptions{.max_connections = 2});
  std::atomic<int> stage{0};
  std::optional<RawResponse> rejected;
  bool rejected_closed = false;
  std::optional<RawResponse> after_free;
  BackgroundTask clients([&] {
    auto first = std::make_unique<RawConnection>(server_->port());
    RawConnection second(server_->port());
    ASSERT_TRUE(first->connected() && second.connected());
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();  // until the server holds both
    RawConnection third(server_->port());
    ASSERT_TRUE(third.connected());
    rejected = third.readResponse();
    rejected_closed = third.waitClosed();
    first.reset();
    stage = 3;
    while (stage.load() != 4) std::this_thread::yield();  // until the server saw it go
    RawConnection fourth(server_->port());
    ASSERT_TRUE(fourth.send(get("/hello")));
    after_free = fourth.readResponse();
  });
  ASSERT_TRUE(
      runner_.runUntil([&] { return stage.load() == 1 && server_->connectionCount() == 2; }));
  stage = 2;
  ASSERT_TRUE(
      runner_.runUntil([&] { return stage.load() == 3 && server_->connectionCount() == 1; }));
  stage = 4;
  ASSERT_TRUE(runner_.runUntil([&] { return clients.done(); }));
  ASSERT_TRUE(rejected);
  EXPECT_EQ(503, rejected->status);
  EXPECT_TRUE(rejected_closed);
  ASSERT_TRUE(after_free);
  EXPECT_EQ(200, after_free->status);
}

// stop() closes idle connections, lets an in-flight request answer, refuses new connections,
// and calls back once everything is closed.
TEST_F(ServerTest, GracefulStopFinishesInFlight) {
  start();
  std::optional<Responder> held;
  server_->routeAsync("GET", "/later", [&](const Request&, Responder r) { held = r; });
  std::atomic<bool> idle_ready{false};
  bool idle_closed = false;
  std::optional<RawResponse> in_flight;
  bool in_flight_closed = false;
  BackgroundTask idle([&] {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.send(get("/hello")));
    ASSERT_TRUE(c.readResponse());
    idle_ready = true;
    idle_closed = c.waitClosed();
  });
  BackgroundTask busy([&] {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.send(get("/later")));
    in_flight = c.readResponse();
    in_flight_closed = c.waitClosed();
  });
  ASSERT_TRUE(runner_.runUntil([&] { return idle_ready.load() && held.has_value(); }));
  const std::uint16_t port = server_->port();

  bool stopped = false;
  server_->stop([&] { stopped = true; });
  ASSERT_TRUE(runner_.runUntil([&] { return idle.done(); }));
  EXPECT_TRUE(idle_closed);
  EXPECT_FALSE(stopped);  // the in-flight request still holds it open
  EXPECT_FALSE(RawConnection(port).connected());

  held->respond(Response::text(200, "finished"));
  ASSERT_TRUE(runner_.runUntil([&] { return stopped && busy.done(); }));
  ASSERT_TRUE(in_flight);
  EXPECT_EQ("finished", in_flight->body);
  EXPECT_EQ("close", in_flight->header("Connection"));
  EXPECT_TRUE(in_flight_closed);
  EXPECT_EQ(0u, server_->connectionCount());
}

// stop() does not wait forever for a handler that never answers: stop_timeout bounds it.
TEST_F(ServerTest, StopDeadlineClosesStuckRequests) {
  start(ServerOptions{.stop_timeout = 100ms});
  bool called = false;
  server_->routeAsync("GET", "/never", [&](const Request&, Responder) { called = true; });
  bool closed = false;
  BackgroundTask client([&] {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.send(get("/never")));
    closed = c.waitClosed();
  });
  ASSERT_TRUE(runner_.runUntil([&] { return called; }));
  bool stopped = false;
  server_->stop([&] { stopped = true; });
  ASSERT_TRUE(runner_.runUntil([&] { return stopped && client.done(); }));
  EXPECT_TRUE(closed);
}

// Binding a port in use fails with a Status naming the address.
TEST_F(ServerTest, ListenErrorNamesAddress) {
  start();
  Server second(runner_.loop(), ServerOptions{.port = server_->port()});
  auto status = second.listen();
  ASSERT_FALSE(status);
  EXPECT_EQ(ErrorType::Io, status.error().type);
  EXPECT_EQ(fmt::format("http.listen 127.0.0.1:{}: address already in use", server_->port()),
            status.error().message);

  Server bad(runner_.loop(), ServerOptions{.host = "localhost"});
  auto bad_status = bad.listen();
  ASSERT_FALSE(bad_status);
  EXPECT_EQ(ErrorType::InvalidArgument, bad_status.error().type);
  EXPECT_NE(std::string::npos, bad_status.error().message.find("http.listen localhost:0"));
}

// Destroying a server with open connections and a pending Responder is safe.
TEST_F(ServerTest, DestroyWithOpenConnections) {
  start();
  std::optional<Responder> held;
  server_->routeAsync("GET", "/later", [&](const Request&, Responder r) { held = r; });
  bool closed = false;
  BackgroundTask client([&] {
    RawConnection c(server_->port());
    ASSERT_TRUE(c.send(get("/later")));
    closed = c.waitClosed();
  });
  ASSERT_TRUE(runner_.runUntil([&] { return held.has_value(); }));
  server_.reset();
  held->respond(Response::text(200, "nobody listens"));
  EXPECT_FALSE(held->pending());
  ASSERT_TRUE(runner_.runUntil([&] { return client.done(); }));
  EXPECT_TRUE(closed);
}

// Response helpers set the content type; the server drops headers that could split a response.
TEST_F(ServerTest, ResponseHelpersAndHeaderSafety) {
  start();
  server_->route("GET", "/inject", [](const Request&) {
    auto response = Response::error(418, "teapot \"quoted\"");
    response.headers.add("X-Evil", "a\r\nSet-Cookie: x=1");
    response.headers.add("X-Fine", "yes");
    response.headers.add("Content-Length", "999");
    return response;
  });
  auto response = exchange(get("/inject"));
  ASSERT_TRUE(response);
  EXPECT_EQ(418, response->status);
  EXPECT_EQ(R"({"error":"teapot \"quoted\""})", response->body);
  EXPECT_EQ("application/json", response->header("Content-Type"));
  EXPECT_EQ("yes", response->header("X-Fine"));
  EXPECT_EQ("", response->header("X-Evil"));
  EXPECT_EQ("", response->header("Set-Cookie"));
  EXPECT_EQ(std::to_string(response->body.size()), response->header("Content-Length"));
}

}  // namespace
}  // namespace pipeline::http
