// The HTTP server's request path (http-parser, header/body limits, pipelining, keep-alive, HEAD,
// Expect, chunked bodies) on arbitrary bytes from a real loopback client: it must answer or close,
// never crash, and leave no connection behind.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "pipeline/http/server.h"

namespace {

using pipeline::http::Request;
using pipeline::http::Responder;
using pipeline::http::Response;

struct Harness {
  uv_loop_t loop{};
  std::unique_ptr<pipeline::http::Server> server;

  Harness() {
    std::signal(SIGPIPE, SIG_IGN);  // as pipeline::runStage does for every process
    uv_loop_init(&loop);
    pipeline::http::ServerOptions options;
    options.max_header_bytes = 2048;  // small limits, so inputs reach them
    options.max_body_bytes = 4096;
    options.request_timeout = std::chrono::milliseconds(200);
    options.idle_timeout = std::chrono::milliseconds(200);
    server = std::make_unique<pipeline::http::Server>(loop, options);
    server->route("GET", "/hello", [](const Request&) { return Response::text(200, "hello"); });
    server->route("POST", "/echo", [](const Request& request) {
      return Response::text(200, request.body);
    });
    server->routeAsync("GET", "/async", [](const Request& request, Responder responder) {
      if (request.queryParam("abort")) {
        responder.abort("HTTP/1.1 200 OK\r\n");
      } else {
        responder.respond(Response::text(200, std::string(request.query)));
      }
    });
    if (!server->listen()) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness harness;
  if (size > 64 * 1024) return 0;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(harness.server->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Non-blocking, so libFuzzer's timer signals cannot interrupt a blocking connect; on loopback
  // it completes at once or is in progress.
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  if (fd < 0 || (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 &&
                 errno != EINPROGRESS)) {
    std::fprintf(stderr, "cannot connect to the server: %s\n", std::strerror(errno));
    std::abort();
  }
  std::string_view pending(reinterpret_cast<const char*>(data), size);
  bool peer_closed = false;
  char sink[16 * 1024];
  // Send what the socket takes, let the server run, read what it answered; until it closed or
  // everything was said and it went quiet.
  for (int idle_rounds = 0; !peer_closed && idle_rounds < 50;) {
    if (!pending.empty()) {
      const ssize_t sent = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (sent > 0) pending.remove_prefix(static_cast<std::size_t>(sent));
      if (pending.empty()) ::shutdown(fd, SHUT_WR);
    }
    const bool worked = uv_run(&harness.loop, UV_RUN_NOWAIT) != 0;
    const ssize_t got = ::recv(fd, sink, sizeof(sink), 0);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) peer_closed = true;
    idle_rounds = (got > 0 || worked) && !pending.empty() ? 0 : idle_rounds + 1;
  }
  ::close(fd);
  // Let the server notice the close, so connections do not pile up across inputs.
  for (int round = 0; round < 20 && harness.server->connectionCount() > 0; ++round) {
    uv_run(&harness.loop, UV_RUN_NOWAIT);
  }
  return 0;
}
