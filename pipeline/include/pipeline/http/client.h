#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pipeline/http/server.h"  // Headers and Response are shared by server and client
#include "pipeline/status.h"
#include "pipeline/uv/handle.h"

namespace pipeline::http {

/**
 * "host:port" of an http(s) URL (the scheme's default port when none is given): never the path,
 * query or user info, which may carry secrets, so it is safe in logs, errors and headers. Empty if
 * the URL cannot be parsed or its scheme is not http(s).
 */
std::string hostAndPort(const std::string& url);

/** Limits of a Client. */
struct ClientOptions {
  /** Transfers running at once; further requests wait in a FIFO queue. */
  std::size_t max_concurrent = 8;
  /** Requests waiting beyond this fail at once with ErrorType::Unavailable. */
  std::size_t max_queued = 10'000;
  /** Whole-request deadline when Client::Request::timeout is 0. */
  std::chrono::milliseconds default_timeout{30'000};
  /** Connect phase deadline (also bounded by the request's deadline). */
  std::chrono::milliseconds connect_timeout{10'000};
  /** Larger response bodies fail the request with ErrorType::Http. */
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  std::string user_agent = "point-tron/" POINTTRON_VERSION;
};

/**
 * Asynchronous HTTP/1.1 client (http and https) on a libuv loop, using libcurl's multi-socket
 * interface: curl's sockets are watched with uv::Poll, its timeout with a uv::Timer, and
 * completions are collected with curl_multi_info_read. At most max_concurrent transfers run; the
 * rest are queued in order. Redirects are not followed.
 *
 * Lifecycle: create() -> request()* -> close(on_closed) -> destroy after on_closed ran. Destroying
 * without close() is allowed outside Client callbacks: outstanding callbacks are then dropped
 * without being called. Owned by its creator; loop thread only; not copyable or movable.
 *
 * Error messages name the method and the URL's host and port only, never its path or query
 * (which may carry keys) nor user info.
 */
class Client {
 public:
  struct Request {
    std::string method = "GET";
    std::string url;
    Headers headers;
    std::string body;
    /** Whole-request deadline; 0 means ClientOptions::default_timeout. */
    std::chrono::milliseconds timeout{0};
  };
  /** Any HTTP status (including 4xx/5xx) is a Response; only transport failures are errors. */
  using Done = std::function<void(Result<Response>)>;

  /** Errors: Internal if libcurl cannot be initialised; Io if a loop handle cannot be created. */
  [[nodiscard]] static Result<std::unique_ptr<Client>> create(uv_loop_t& loop,
                                                              ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /**
   * Starts (or queues) `request`; `done` runs exactly once on the loop thread, never from inside
   * request(). Errors passed to `done`: Timeout when the deadline passed; Http for connection,
   * DNS, TLS and protocol failures and oversized responses; InvalidArgument for a URL curl cannot
   * parse; Unavailable when the queue is full or the client was closed (cancelled).
   */
  void request(Request request, Done done);

  /**
   * Cancels every running and queued transfer (each `done` gets Unavailable "cancelled"), frees
   * curl's state and handles, then calls `on_closed` from the loop. Later request() calls fail
   * with Unavailable. Idempotent; a second call only replaces the callback.
   */
  void close(std::function<void()> on_closed);

  std::size_t activeCount() const noexcept { return active_.size(); }
  std::size_t queuedCount() const noexcept { return queue_.size(); }

 private:
  struct Transfer;
  struct MultiDeleter {
    void operator()(void* multi) const noexcept;
  };

  Client(uv_loop_t& loop, ClientOptions options);

  static int onSocket(void* easy, int fd, int what, void* user, void* socket_data) noexcept;
  static int onTimer(void* multi, long timeout_ms, void* user) noexcept;
  void onSocketReady(int fd, int status, int events) noexcept;
  void onTimeout() noexcept;
  void collectDone() noexcept;
  void startQueued() noexcept;
  bool start(std::unique_ptr<Transfer>& transfer) noexcept;
  void finish(std::unique_ptr<Transfer> transfer, Result<Response> result) noexcept;
  void scheduleDeliveries() noexcept;
  void deliver() noexcept;
  void releaseCurl() noexcept;

  uv_loop_t& loop_;
  ClientOptions options_;
  std::unique_ptr<void, MultiDeleter> multi_;  // CURLM, kept opaque so <curl/curl.h> stays private
  uv::Timer curl_timer_;                       // curl's requested timeout
  uv::Timer deliver_timer_;                    // runs callbacks outside curl and request()
  std::unordered_map<int, uv::Poll> polls_;    // by socket, as curl asks
  std::unordered_map<void*, std::unique_ptr<Transfer>> active_;  // by CURL easy handle
  std::deque<std::unique_ptr<Transfer>> queue_;
  std::vector<std::pair<Done, Result<Response>>> deliveries_;
  std::function<void()> on_closed_;
  bool closed_ = false;
};

}  // namespace pipeline::http
