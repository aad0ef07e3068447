#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pipeline/status.h"
#include "pipeline/uv/handle.h"
#include "pipeline/uv/tcp.h"

namespace pipeline::http {

/**
 * HTTP header fields in arrival order, with case-insensitive lookup (RFC 9110 §5.1). Shared by
 * the server and the client (pipeline/http/client.h). A plain value type.
 */
class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;

  void add(std::string name, std::string value);
  /** Replaces every field called `name` with one field. */
  void set(std::string name, std::string value);
  void remove(std::string_view name);
  /** The first value of `name`, compared case-insensitively. */
  std::optional<std::string_view> get(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  std::vector<Entry>::const_iterator begin() const noexcept { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const noexcept { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
};

/** ASCII case-insensitive equality, as header names and tokens compare. */
bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

/** Percent-decodes `text`; `+` becomes a space when `plus_as_space` (form encoding). Malformed
 * escapes are kept literally rather than rejected. */
std::string percentDecode(std::string_view text, bool plus_as_space);

/** Splits "a=1&b=x%20y" into decoded pairs, in order; a key without '=' has an empty value. */
std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query);

/** One parsed HTTP request, as a handler sees it. */
struct Request {
  std::string method;  // "GET", as http-parser names it
  std::string target;  // the request-target as sent: "/api/blocks?limit=10"
  std::string path;    // target without query or fragment, not percent-decoded: routing key
  std::string query;   // raw query string without '?'
  std::vector<std::pair<std::string, std::string>> query_params;  // decoded, in order
  Headers headers;
  std::string body;
  int version_major = 1;
  int version_minor = 1;
  std::string remote_address;  // "ip:port" of the peer, for logs

  std::optional<std::string_view> header(std::string_view name) const { return headers.get(name); }
  /** The first decoded value of query parameter `name`. */
  std::optional<std::string_view> queryParam(std::string_view name) const;
};

/**
 * An HTTP response: what a handler returns and what the client (client.h) delivers. The server
 * always writes Content-Length itself and ignores Content-Length, Transfer-Encoding and
 * Connection set here.
 */
struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  /** A response with Content-Type: application/json; `body` must already be JSON. */
  static Response json(int status, std::string body);
  /** A response with Content-Type: text/plain; charset=utf-8. */
  static Response text(int status, std::string body);
  /** {"error":"<message>"} as JSON: the body of every error the server generates itself. */
  static Response error(int status, std::string_view message);
};

class ServerConnection;  // internal: one accepted connection (server.cc)

/**
 * Completes one request of an asynchronous handler, later, on the loop thread.
 *
 * Copyable; the first respond() wins and later calls are no-ops. If the connection was closed
 * meanwhile (peer gone, timeout, server stopped or destroyed), respond() is a harmless no-op:
 * the Responder refers to the connection weakly. Loop thread only.
 */
class Responder {
 public:
  Responder() = default;
  void respond(Response response) const noexcept;
  /**
   * Ends the request without a proper answer: writes `raw_bytes` as they are (e.g. a status line
   * and half a body), then resets the connection (TCP RST). For simulating broken servers; a
   * real handler answers with respond().
   */
  void abort(std::string raw_bytes = {}) const noexcept;
  /** False once the request was answered or its connection closed. */
  bool pending() const noexcept;

 private:
  friend class ServerConnection;
  Responder(std::weak_ptr<ServerConnection> connection, std::uint64_t sequence)
      : connection_(std::move(connection)), sequence_(sequence) {}

  std::weak_ptr<ServerConnection> connection_;
  std::uint64_t sequence_ = 0;
};

/** Limits and addresses of a Server. Defaults suit an admin or API endpoint. */
struct ServerOptions {
  /** Numeric IPv4 or IPv6 address to bind. */
  std::string host = "127.0.0.1";
  /** 0 picks a free port; Server::port() tells which. */
  std::uint16_t port = 0;
  /** Request line plus headers above this are answered 431 and the connection closed. */
  std::size_t max_header_bytes = 16 * 1024;
  /** Bodies above this are answered 413 and the connection closed. */
  std::size_t max_body_bytes = 1024 * 1024;
  /** A request (or a new connection's first request) not complete by then gets 408 (slowloris). */
  std::chrono::milliseconds request_timeout{10'000};
  /** A keep-alive connection idle this long is closed. */
  std::chrono::milliseconds idle_timeout{60'000};
  /** Accepted connections beyond this get 503 and are closed. */
  std::size_t max_connections = 1024;
  /** stop() closes connections still busy after this long. */
  std::chrono::milliseconds stop_timeout{5'000};
  int backlog = 511;
};

/**
 * HTTP/1.1 server on a libuv loop: routes by method and exact path (or longest path prefix) to
 * synchronous or asynchronous handlers. Parsing is http-parser's; keep-alive and pipelining are
 * supported, and responses on one connection go out in request order (one request per
 * connection is handled at a time; later pipelined ones wait buffered). Every limit of
 * ServerOptions applies per connection, so a slow or oversized request is cut off without
 * delaying other clients.
 *
 * Lifecycle: construct -> route*() -> listen() -> ... -> stop(on_stopped) -> destroy (or destroy
 * directly: handlers are then never called again and pending Responders become no-ops).
 * Routes may be added after listen(). The Server owns its listening socket, connections and
 * timers, and is owned by its creator, which destroys it on the loop thread before the loop is
 * closed (outside the Server's own callbacks, except on_stopped). Neither copyable nor movable,
 * because connections and handle callbacks point back at it. Loop thread only.
 *
 * Handlers must not throw; if one does, the exception is caught at the trampoline and answered
 * 500. The request passed to a handler stays valid until its response is sent.
 */
class Server {
 public:
  using Handler = std::function<Response(const Request&)>;
  using AsyncHandler = std::function<void(const Request&, Responder)>;
  /** Called after each response is queued: the request (possibly partial for 4xx the server
   * generated itself), the status, and seconds since the request's first byte. */
  using Observer = std::function<void(const Request&, int status, double seconds)>;

  Server(uv_loop_t& loop, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /** Routes `method` (e.g. "GET") on exactly `path`. A GET route also answers HEAD. */
  void route(std::string method, std::string path, Handler handler);
  void routeAsync(std::string method, std::string path, AsyncHandler handler);
  /** Routes every path starting with `prefix` (e.g. "/api/") not routed exactly; the longest
   * matching prefix wins. */
  void routePrefix(std::string method, std::string prefix, Handler handler);
  void routePrefixAsync(std::string method, std::string prefix, AsyncHandler handler);

  void setObserver(Observer observer) { observer_ = std::move(observer); }

  /**
   * Binds and starts accepting. Errors: InvalidArgument for a host that is not a numeric
   * address; Io naming the address, e.g. "http.listen 127.0.0.1:3000: address already in use";
   * Internal if already listening or stopped.
   */
  [[nodiscard]] Status listen();

  /** The bound port (useful with port 0); 0 before listen(). */
  std::uint16_t port() const noexcept { return port_; }

  /**
   * Stops accepting, closes idle connections and connections still receiving a request, lets
   * requests already being handled answer (with Connection: close), closes whatever is left after
   * ServerOptions::stop_timeout, then calls `on_stopped` from the loop (never from inside
   * stop()). Calling it again only replaces the callback.
   */
  void stop(std::function<void()> on_stopped);

  /** Connections currently open (including ones being closed). */
  std::size_t connectionCount() const noexcept { return connections_.size(); }

 private:
  friend class ServerConnection;
  struct Route {
    std::string method;
    Handler handler;             // set for synchronous routes
    AsyncHandler async_handler;  // set for asynchronous routes
  };
  using RouteList = std::vector<Route>;

  void addRoute(std::string method, std::string path, bool prefix, Handler handler,
                AsyncHandler async_handler);
  void onConnection(Status status) noexcept;
  void rejectConnection(uv::Tcp tcp) noexcept;
  // Finds the route for `request`, or fills `error` with the 404/405 to send.
  const Route* findRoute(const Request& request, Response& error) const;
  void observe(const Request& request, int status, double seconds) noexcept;
  void onConnectionClosed(std::uint64_t id) noexcept;
  void scheduleReap() noexcept;
  void reap() noexcept;

  uv_loop_t& loop_;
  ServerOptions options_;
  uv::Tcp listener_;
  uv::Timer reaper_;         // frees closed connections outside their own callbacks
  uv::Timer stop_deadline_;  // bounds stop()
  std::uint16_t port_ = 0;
  bool listening_ = false;
  bool stopping_ = false;
  std::function<void()> on_stopped_;
  std::uint64_t next_connection_id_ = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<ServerConnection>> connections_;
  std::vector<std::shared_ptr<ServerConnection>> closed_;  // awaiting reap()
  std::unordered_map<std::uint64_t, uv::Tcp> rejected_;    // answering 503 before closing
  std::map<std::string, RouteList, std::less<>> exact_routes_;
  std::vector<std::pair<std::string, RouteList>> prefix_routes_;  // longest prefix first
  Observer observer_;
};

}  // namespace pipeline::http
