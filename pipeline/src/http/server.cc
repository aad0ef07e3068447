#include "pipeline/http/server.h"

#include <fmt/format.h>
#include <http_parser.h>

#include <algorithm>
#include <exception>

#include "pipeline/json.h"

namespace pipeline::http {

namespace {

constexpr std::string_view kJsonType = "application/json";
constexpr std::string_view kTextType = "text/plain; charset=utf-8";

// After a response that ends the connection we send FIN and keep reading (discarding) until the
// peer closes or this passes: closing with unread input would send RST, which can destroy the
// response (e.g. a 413 while the client is still uploading) before the client reads it.
constexpr std::chrono::milliseconds kLingerTimeout{2'000};

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// CR or LF in a header would let handler-supplied values split the response.
bool safeHeaderText(std::string_view text) noexcept {
  return text.find_first_of("\r\n") == std::string_view::npos;
}

std::string reasonPhrase(int status) {
  std::string_view reason = http_status_str(static_cast<http_status>(status));
  if (reason.empty() || reason.front() == '<') return "Unknown";
  return std::string(reason);
}

double secondsSince(std::uint64_t start_ns) noexcept {
  return static_cast<double>(uv_hrtime() - start_ns) / 1e9;
}

// uv::check formats "uv_listen: address already in use"; the server names the address instead.
std::string_view withoutOperation(std::string_view message) noexcept {
  if (message.starts_with("uv_")) {
    if (auto colon = message.find(": "); colon != std::string_view::npos) {
      return message.substr(colon + 2);
    }
  }
  return message;
}

}  // namespace

void Headers::add(std::string name, std::string value) {
  entries_.emplace_back(std::move(name), std::move(value));
}

void Headers::set(std::string name, std::string value) {
  remove(name);
  add(std::move(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  std::erase_if(entries_, [&](const Entry& e) { return equalsIgnoreCase(e.first, name); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& [key, value] : entries_) {
    if (equalsIgnoreCase(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return lower(x) == lower(y); });
}

std::string percentDecode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hexValue(text[i + 1]);
      int lo = hexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      params.emplace_back(percentDecode(part, true), std::string());
    } else {
      params.emplace_back(percentDecode(part.substr(0, eq), true),
                          percentDecode(part.substr(eq + 1), true));
    }
  }
  return params;
}

std::optional<std::string_view> Request::queryParam(std::string_view name) const {
  for (const auto& [key, value] : query_params) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response response{.status = status, .headers = {}, .body = std::move(body)};
  response.headers.add("Content-Type", std::string(kJsonType));
  return response;
}

Response Response::text(int status, std::string body) {
  Response response{.status = status, .headers = {}, .body = std::move(body)};
  response.headers.add("Content-Type", std::string(kTextType));
  return response;
}

Response Response::error(int status, std::string_view message) {
  json::Writer writer;
  writer.beginObject().field("error", message).endObject();
  return json(status, std::move(writer).str());
}

/**
 * One accepted connection: parses requests with http-parser, dispatches them one at a time and
 * writes responses in order. Owned by Server::connections_ (shared so Responders can refer to it
 * weakly); after close() the Server keeps it until reap() so that no member function runs on a
 * freed object. Loop thread only.
 */
class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  ServerConnection(Server& server, std::uint64_t id, uv::Tcp tcp, uv::Timer timer)
      : server_(server), id_(id), tcp_(std::move(tcp)), timer_(std::move(timer)) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
  }

  Status start();
  void respond(std::uint64_t sequence, Response response) noexcept;
  void abort(std::uint64_t sequence, std::string raw_bytes) noexcept;
  bool pending(std::uint64_t sequence) const noexcept {
    return !closed_ && busy_ && sequence == sequence_;
  }
  // The server stops: close unless a request is being handled, which may still answer.
  void onServerStopping() noexcept;
  // reset: end with a TCP RST (Responder::abort) rather than a plain close.
  void close(bool reset = false) noexcept;

 private:
  enum class TimerMode { None, Request, Idle, Linger };

  static const http_parser_settings kSettings;
  static ServerConnection& self(http_parser* parser) noexcept {
    return *static_cast<ServerConnection*>(parser->data);
  }
  static int onMessageBegin(http_parser* parser) noexcept;
  static int onUrl(http_parser* parser, const char* at, std::size_t length) noexcept;
  static int onHeaderField(http_parser* parser, const char* at, std::size_t length) noexcept;
  static int onHeaderValue(http_parser* parser, const char* at, std::size_t length) noexcept;
  static int onHeadersComplete(http_parser* parser) noexcept;
  static int onBody(http_parser* parser, const char* at, std::size_t length) noexcept;
  static int onMessageComplete(http_parser* parser) noexcept;

  void onData(std::string_view data) noexcept;
  void onEnd(Status status) noexcept;
  void process() noexcept;
  void dispatch() noexcept;
  void finishHeader();
  bool countHeaderBytes(std::size_t length) noexcept;
  void fail(int status, std::string_view message) noexcept;
  void send(const Request& request, Response response, bool keep_alive) noexcept;
  void closeGracefully() noexcept;
  // Resumes reading if it was paused at the input cap; false (connection closed) on failure.
  bool resumeReading() noexcept;
  void afterResponse() noexcept;
  void setTimer(TimerMode mode) noexcept;
  void onTimer() noexcept;

  Server& server_;
  const std::uint64_t id_;
  uv::Tcp tcp_;
  uv::Timer timer_;
  TimerMode timer_mode_ = TimerMode::None;
  http_parser parser_{};
  std::string remote_address_;

  std::string inbuf_;               // received, not yet given to the parser (only while busy_)
  Request current_;                 // the request being parsed
  std::string header_field_;        // http-parser may deliver a field or value in pieces
  std::string header_value_;
  bool last_was_value_ = false;
  std::size_t header_bytes_ = 0;
  int error_status_ = 0;            // set by a parser callback that rejects the request
  bool in_message_ = false;         // a request has begun and is not complete
  std::uint64_t started_ns_ = 0;    // first byte of the current request

  Request active_;                  // the request being handled
  std::uint64_t active_started_ns_ = 0;
  bool head_ = false;               // active_ is a HEAD: no body in the response
  bool keep_alive_ = true;          // of active_
  bool busy_ = false;               // active_ awaits its response
  std::uint64_t sequence_ = 0;      // identifies active_ for Responders
  std::size_t served_ = 0;

  bool processing_ = false;         // inside process(): guards re-entry from sync responses
  bool reading_paused_ = false;     // inbuf_ reached its cap while busy_
  bool peer_eof_ = false;           // the peer shut down its sending side
  bool closing_ = false;            // last response queued; input is discarded from now on
  bool shutdown_done_ = false;      // our FIN is out: every queued write completed
  bool closed_ = false;
};

const http_parser_settings ServerConnection::kSettings = [] {
  http_parser_settings settings{};
  settings.on_message_begin = &ServerConnection::onMessageBegin;
  settings.on_url = &ServerConnection::onUrl;
  settings.on_header_field = &ServerConnection::onHeaderField;
  settings.on_header_value = &ServerConnection::onHeaderValue;
  settings.on_headers_complete = &ServerConnection::onHeadersComplete;
  settings.on_body = &ServerConnection::onBody;
  settings.on_message_complete = &ServerConnection::onMessageComplete;
  return settings;
}();

Status ServerConnection::start() {
  remote_address_ = tcp_.peerAddress();
  tcp_.setNoDelay(true);
  // The first request must arrive within request_timeout, so idle sockets cannot hold slots.
  setTimer(TimerMode::Request);
  return tcp_.readStart([this](std::string_view data) { onData(data); },
                        [this](Status status) { onEnd(std::move(status)); });
}

void ServerConnection::onData(std::string_view data) noexcept {
  if (closed_ || closing_) return;  // lingering: discard until the peer closes
  inbuf_.append(data);
  if (busy_) {
    // Pipelined input waits until the active request is answered; bound what we hold.
    const auto& options = server_.options_;
    if (inbuf_.size() > options.max_header_bytes + options.max_body_bytes) {
      tcp_.readStop();
      reading_paused_ = true;
    }
    return;
  }
  process();
}

void ServerConnection::onEnd(Status status) noexcept {
  if (closed_) return;
  if (!status) {
    close();  // reset by peer: nothing can be delivered any more
    return;
  }
  peer_eof_ = true;
  if (closing_) {
    // The FIN we linger for. Closing before our own FIN went out would cancel queued writes.
    if (shutdown_done_) close();
    return;
  }
  if (busy_) {
    // Nearly every client that closes while waiting has given up (a scrape or proxy timeout),
    // so free the slot now; the handler's Responder becomes a no-op.
    close();
    return;
  }
  // Complete requests already received are still answered (a half-closed peer reads), then
  // the connection closes.
  afterResponse();
}

void ServerConnection::process() noexcept {
  if (processing_ || closed_) return;
  auto keep_alive_guard = shared_from_this();  // a handler may lead to close() and reap()
  processing_ = true;
  std::size_t offset = 0;
  while (!busy_ && !closing_ && !closed_ && offset < inbuf_.size()) {
    if (!in_message_ && timer_mode_ != TimerMode::Request) setTimer(TimerMode::Request);
    std::size_t parsed = http_parser_execute(&parser_, &kSettings, inbuf_.data() + offset,
                                             inbuf_.size() - offset);
    offset += parsed;
    auto error = HTTP_PARSER_ERRNO(&parser_);
    if (error == HPE_PAUSED) {
      // onMessageComplete paused the parser so that requests are handled one at a time.
      http_parser_pause(&parser_, 0);
      dispatch();
      continue;
    }
    if (error != HPE_OK) {
      if (error_status_ != 0) {
        fail(error_status_, error_status_ == 413 ? "request body too large"
                                                 : "request header fields too large");
      } else if (error == HPE_HEADER_OVERFLOW) {
        fail(431, "request header fields too large");
      } else {
        fail(400, http_errno_description(error));
      }
      break;
    }
  }
  if (!closed_) inbuf_.erase(0, std::min(offset, inbuf_.size()));
  processing_ = false;
  if (!closed_ && !closing_ && !busy_) afterResponse();
}

void ServerConnection::afterResponse() noexcept {
  if (closed_ || closing_ || busy_) return;
  if (!inbuf_.empty()) {
    process();
    return;
  }
  if (peer_eof_) {
    // Nothing more can arrive. A partial request can never complete, so just close.
    if (in_message_) {
      close();
    } else {
      closeGracefully();
    }
    return;
  }
  if (!resumeReading()) return;
  if (in_message_) {
    if (timer_mode_ != TimerMode::Request) setTimer(TimerMode::Request);
  } else if (served_ > 0) {
    setTimer(TimerMode::Idle);
  }
  // served_ == 0 and no input: the connection's first-request deadline keeps running.
}

int ServerConnection::onMessageBegin(http_parser* parser) noexcept {
  auto& self = ServerConnection::self(parser);
  self.current_ = Request{};
  self.current_.remote_address = self.remote_address_;
  self.header_field_.clear();
  self.header_value_.clear();
  self.last_was_value_ = false;
  self.header_bytes_ = 0;
  self.error_status_ = 0;
  self.in_message_ = true;
  self.started_ns_ = uv_hrtime();
  return 0;
}

bool ServerConnection::countHeaderBytes(std::size_t length) noexcept {
  header_bytes_ += length;
  if (header_bytes_ > server_.options_.max_header_bytes) {
    error_status_ = 431;
    return false;
  }
  return true;
}

int ServerConnection::onUrl(http_parser* parser, const char* at, std::size_t length) noexcept {
  auto& self = ServerConnection::self(parser);
  if (!self.countHeaderBytes(length)) return -1;
  self.current_.target.append(at, length);
  return 0;
}

void ServerConnection::finishHeader() {
  if (!header_field_.empty() || !header_value_.empty()) {
    current_.headers.add(std::move(header_field_), std::move(header_value_));
  }
  header_field_.clear();
  header_value_.clear();
}

int ServerConnection::onHeaderField(http_parser* parser, const char* at,
                                    std::size_t length) noexcept {
  auto& self = ServerConnection::self(parser);
  // ": " and CRLF count too, so many tiny headers cannot slip under the limit.
  if (!self.countHeaderBytes(length + (self.last_was_value_ ? 4 : 0))) return -1;
  if (self.last_was_value_) {
    self.finishHeader();
    self.last_was_value_ = false;
  }
  self.header_field_.append(at, length);
  return 0;
}

int ServerConnection::onHeaderValue(http_parser* parser, const char* at,
                                    std::size_t length) noexcept {
  auto& self = ServerConnection::self(parser);
  if (!self.countHeaderBytes(length)) return -1;
  self.header_value_.append(at, length);
  self.last_was_value_ = true;
  return 0;
}

int ServerConnection::onHeadersComplete(http_parser* parser) noexcept {
  auto& self = ServerConnection::self(parser);
  self.finishHeader();
  Request& request = self.current_;
  request.method = http_method_str(static_cast<http_method>(parser->method));
  request.version_major = parser->http_major;
  request.version_minor = parser->http_minor;

  if (request.target == "*") {
    request.path = request.target;
  } else {
    http_parser_url url;
    http_parser_url_init(&url);
    if (http_parser_parse_url(request.target.data(), request.target.size(),
                              parser->method == HTTP_CONNECT, &url) != 0) {
      return -1;  // answered 400
    }
    auto field = [&](http_parser_url_fields which) -> std::string_view {
      if ((url.field_set & (1U << which)) == 0) return {};
      return std::string_view(request.target).substr(url.field_data[which].off,
                                                     url.field_data[which].len);
    };
    request.path = field(UF_PATH);
    if (request.path.empty()) request.path = "/";
    request.query = field(UF_QUERY);
    request.query_params = parseQuery(request.query);
  }

  const auto max_body = self.server_.options_.max_body_bytes;
  if ((parser->flags & F_CONTENTLENGTH) != 0 && parser->content_length > max_body) {
    self.error_status_ = 413;  // refuse before the body is even sent
    return -1;
  }
  // Clients that wait for "100 Continue" before uploading would otherwise stall for seconds.
  if (parser->http_major == 1 && parser->http_minor >= 1) {
    auto expect = request.header("Expect");
    if (expect && equalsIgnoreCase(*expect, "100-continue")) {
      if (!self.tcp_.write("HTTP/1.1 100 Continue\r\n\r\n", nullptr)) return -1;
    }
  }
  return 0;
}

int ServerConnection::onBody(http_parser* parser, const char* at, std::size_t length) noexcept {
  auto& self = ServerConnection::self(parser);
  if (self.current_.body.size() + length > self.server_.options_.max_body_bytes) {
    self.error_status_ = 413;  // chunked bodies have no length up front
    return -1;
  }
  self.current_.body.append(at, length);
  return 0;
}

int ServerConnection::onMessageComplete(http_parser* parser) noexcept {
  auto& self = ServerConnection::self(parser);
  self.keep_alive_ = http_should_keep_alive(parser) != 0 && parser->upgrade == 0;
  // Pausing makes http_parser_execute return right after this message, so process() can
  // handle it before parsing the next pipelined one.
  http_parser_pause(parser, 1);
  return 0;
}

void ServerConnection::dispatch() noexcept {
  in_message_ = false;
  active_ = std::move(current_);
  current_ = Request{};
  active_started_ns_ = started_ns_;
  head_ = active_.method == "HEAD";
  if (server_.stopping_) keep_alive_ = false;
  busy_ = true;
  const std::uint64_t sequence = ++sequence_;
  setTimer(TimerMode::None);  // handlers are bounded by their own deadlines and by stop()

  Response error;
  const Server::Route* route = server_.findRoute(active_, error);
  if (route == nullptr) {
    respond(sequence, std::move(error));
    return;
  }
  try {
    if (route->handler) {
      respond(sequence, route->handler(active_));
    } else {
      route->async_handler(active_, Responder(weak_from_this(), sequence));
    }
  } catch (const std::exception&) {
    // No exception may escape into libuv; the handler's bug becomes this request's 500.
    respond(sequence, Response::error(500, "internal error"));
  } catch (...) {
    respond(sequence, Response::error(500, "internal error"));
  }
}

void ServerConnection::respond(std::uint64_t sequence, Response response) noexcept {
  if (!pending(sequence)) return;
  busy_ = false;
  ++served_;
  send(active_, std::move(response), keep_alive_);
  if (!keep_alive_) {
    closeGracefully();
    return;
  }
  if (!processing_) afterResponse();  // inside process(), its loop continues with the next one
}

void ServerConnection::abort(std::uint64_t sequence, std::string raw_bytes) noexcept {
  if (!pending(sequence)) return;
  busy_ = false;
  closing_ = true;  // input is discarded from now on
  inbuf_.clear();
  if (raw_bytes.empty() || !tcp_.write(std::move(raw_bytes), [this](Status) { close(/*reset=*/true); })) {
    close(/*reset=*/true);
    return;
  }
  setTimer(TimerMode::Linger);  // a peer that never reads cannot hold the connection
}

void ServerConnection::send(const Request& request, Response response, bool keep_alive) noexcept {
  const int status = response.status;
  try {
    std::string out;
    out.reserve(128 + response.body.size());
    fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", status, reasonPhrase(status));
    for (const auto& [name, value] : response.headers) {
      if (equalsIgnoreCase(name, "Content-Length") || equalsIgnoreCase(name, "Transfer-Encoding") ||
          equalsIgnoreCase(name, "Connection") || !safeHeaderText(name) ||
          !safeHeaderText(value)) {
        continue;
      }
      fmt::format_to(std::back_inserter(out), "{}: {}\r\n", name, value);
    }
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.body.size());
    if (!keep_alive) {
      out.append("Connection: close\r\n");
    } else if (request.version_major == 1 && request.version_minor == 0) {
      out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
    if (!head_) out.append(response.body);
    if (!tcp_.write(std::move(out), [this](Status written) {
          if (!written) close();  // peer gone: nothing else to send
        })) {
      close();
    }
  } catch (...) {
    close();  // out of memory while formatting
  }
  server_.observe(request, status, secondsSince(active_started_ns_));
}

void ServerConnection::fail(int status, std::string_view message) noexcept {
  // The request is unusable; answer what we can and end the connection.
  busy_ = false;
  in_message_ = false;
  active_ = std::move(current_);
  active_started_ns_ = started_ns_ != 0 ? started_ns_ : uv_hrtime();
  head_ = false;
  send(active_, Response::error(status, message), /*keep_alive=*/false);
  closeGracefully();
}

bool ServerConnection::resumeReading() noexcept {
  if (!reading_paused_) return true;
  reading_paused_ = false;
  if (tcp_.readResume()) return true;
  close();
  return false;
}

void ServerConnection::closeGracefully() noexcept {
  if (closed_ || closing_) return;
  closing_ = true;
  inbuf_.clear();
  // FIN goes out once every queued response is written; then we wait for the peer's FIN.
  if (!tcp_.shutdown([this](Status shut) {
        shutdown_done_ = true;
        if (!shut || peer_eof_) close();
      })) {
    close();
    return;
  }
  if (!resumeReading()) return;
  setTimer(TimerMode::Linger);
}

void ServerConnection::onServerStopping() noexcept {
  if (closed_ || closing_) return;
  if (busy_) {
    keep_alive_ = false;  // its response goes out with Connection: close
    return;
  }
  close();
}

void ServerConnection::close(bool reset) noexcept {
  if (closed_) return;
  closed_ = true;
  busy_ = false;
  if (reset) {
    tcp_.closeWithReset();
  } else {
    tcp_.close();
  }
  timer_.close();
  server_.onConnectionClosed(id_);
}

void ServerConnection::setTimer(TimerMode mode) noexcept {
  timer_mode_ = mode;
  const auto& options = server_.options_;
  std::chrono::milliseconds timeout{0};
  switch (mode) {
    case TimerMode::None:
      timer_.stop();
      return;
    case TimerMode::Request: timeout = options.request_timeout; break;
    case TimerMode::Idle: timeout = options.idle_timeout; break;
    case TimerMode::Linger: timeout = std::min(kLingerTimeout, options.request_timeout); break;
  }
  if (!timer_.start(static_cast<std::uint64_t>(timeout.count()), 0, [this] { onTimer(); })) {
    close();  // without its deadline the connection could be held forever
  }
}

void ServerConnection::onTimer() noexcept {
  switch (timer_mode_) {
    case TimerMode::Request:
      if (in_message_ || !inbuf_.empty()) {
        fail(408, "request timeout");
      } else {
        close();  // never said anything: no one to tell
      }
      return;
    case TimerMode::Idle:
    case TimerMode::Linger:
    case TimerMode::None:
      close();
      return;
  }
}

void Responder::respond(Response response) const noexcept {
  if (auto connection = connection_.lock()) connection->respond(sequence_, std::move(response));
}

void Responder::abort(std::string raw_bytes) const noexcept {
  if (auto connection = connection_.lock()) connection->abort(sequence_, std::move(raw_bytes));
}

bool Responder::pending() const noexcept {
  auto connection = connection_.lock();
  return connection != nullptr && connection->pending(sequence_);
}

Server::Server(uv_loop_t& loop, ServerOptions options)
    : loop_(loop), options_(std::move(options)) {}

Server::~Server() {
  // Handles close through their wrappers; Responders see expired connections.
  auto open = std::move(connections_);
  connections_.clear();
  for (auto& [id, connection] : open) connection->close();
  closed_.clear();
}

void Server::route(std::string method, std::string path, Handler handler) {
  addRoute(std::move(method), std::move(path), false, std::move(handler), nullptr);
}

void Server::routeAsync(std::string method, std::string path, AsyncHandler handler) {
  addRoute(std::move(method), std::move(path), false, nullptr, std::move(handler));
}

void Server::routePrefix(std::string method, std::string prefix, Handler handler) {
  addRoute(std::move(method), std::move(prefix), true, std::move(handler), nullptr);
}

void Server::routePrefixAsync(std::string method, std::string prefix, AsyncHandler handler) {
  addRoute(std::move(method), std::move(prefix), true, nullptr, std::move(handler));
}

void Server::addRoute(std::string method, std::string path, bool prefix, Handler handler,
                      AsyncHandler async_handler) {
  RouteList* list = nullptr;
  if (prefix) {
    auto it = std::find_if(prefix_routes_.begin(), prefix_routes_.end(),
                           [&](const auto& entry) { return entry.first == path; });
    if (it == prefix_routes_.end()) {
      prefix_routes_.emplace_back(std::move(path), RouteList{});
      std::stable_sort(prefix_routes_.begin(), prefix_routes_.end(),
                       [](const auto& a, const auto& b) {
                         return a.first.size() > b.first.size();
                       });
      it = std::find_if(prefix_routes_.begin(), prefix_routes_.end(),
                        [&](const auto& entry) { return entry.second.empty(); });
    }
    list = &it->second;
  } else {
    list = &exact_routes_[std::move(path)];
  }
  std::erase_if(*list, [&](const Route& r) { return r.method == method; });  // last one wins
  list->push_back(Route{std::move(method), std::move(handler), std::move(async_handler)});
}

const Server::Route* Server::findRoute(const Request& request, Response& error) const {
  const RouteList* list = nullptr;
  if (auto it = exact_routes_.find(request.path); it != exact_routes_.end()) {
    list = &it->second;
  } else {
    for (const auto& [prefix, routes] : prefix_routes_) {
      if (request.path.starts_with(prefix)) {
        list = &routes;
        break;
      }
    }
  }
  if (list == nullptr) {
    error = Response::error(404, "not found");
    return nullptr;
  }
  const Route* get = nullptr;
  for (const auto& route : *list) {
    if (route.method == request.method) return &route;
    if (route.method == "GET") get = &route;
  }
  if (request.method == "HEAD" && get != nullptr) return get;

  std::string allow;
  for (const auto& route : *list) {
    if (!allow.empty()) allow += ", ";
    allow += route.method;
    if (route.method == "GET") allow += ", HEAD";
  }
  error = Response::error(405, "method not allowed");
  error.headers.add("Allow", std::move(allow));
  return nullptr;
}

Status Server::listen() {
  if (listening_ || stopping_) return Status(ErrorType::Internal, "http.listen: already started");
  const std::string address = options_.host.find(':') != std::string::npos
                                  ? fmt::format("[{}]:{}", options_.host, options_.port)
                                  : fmt::format("{}:{}", options_.host, options_.port);
  auto named = [&](const Status& status) {
    return Status(status.error().type,
                  fmt::format("http.listen {}: {}", address,
                              withoutOperation(status.error().message)));
  };
  auto listener = uv::Tcp::create(loop_);
  if (!listener) return named(listener.status());
  auto reaper = uv::Timer::create(loop_);
  if (!reaper) return named(reaper.status());
  auto deadline = uv::Timer::create(loop_);
  if (!deadline) return named(deadline.status());
  if (auto status = listener->bind(options_.host, options_.port); !status) return named(status);
  auto on_connection = [this](Status accepted) { onConnection(std::move(accepted)); };
  if (auto status = listener->listen(options_.backlog, std::move(on_connection)); !status) {
    return named(status);
  }
  auto port = listener->localPort();
  if (!port) return named(port.status());
  listener_ = std::move(*listener);
  reaper_ = std::move(*reaper);
  stop_deadline_ = std::move(*deadline);
  port_ = *port;
  listening_ = true;
  return Status::ok();
}

void Server::onConnection(Status status) noexcept {
  if (!status || stopping_) return;  // e.g. EMFILE: the kernel keeps the connection queued
  auto tcp = listener_.accept();
  if (!tcp) return;
  if (connections_.size() >= options_.max_connections) {
    rejectConnection(std::move(*tcp));
    return;
  }
  auto timer = uv::Timer::create(loop_);
  if (!timer) return;  // `tcp` closes on destruction
  const std::uint64_t id = next_connection_id_++;
  std::shared_ptr<ServerConnection> connection;
  try {
    connection = std::make_shared<ServerConnection>(*this, id, std::move(*tcp), std::move(*timer));
    connections_.emplace(id, connection);
  } catch (...) {
    return;  // out of memory: the wrappers close the handles
  }
  if (!connection->start()) connection->close();
}

void Server::rejectConnection(uv::Tcp tcp) noexcept {
  // Rejected sockets are bounded too, or a flood would just move to this map.
  if (rejected_.size() >= options_.max_connections) return;  // `tcp` closes on destruction
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Content-Length: 37\r\nConnection: close\r\n\r\n{\"error\":\"too many open connections\"}";
  static_assert(std::string_view("{\"error\":\"too many open connections\"}").size() == 37);
  const std::uint64_t id = next_connection_id_++;
  try {
    auto& stored = rejected_.emplace(id, std::move(tcp)).first->second;
    auto forget = [this, id](Status) { rejected_.erase(id); };
    if (!stored.write(std::string(kBusy), nullptr) || !stored.shutdown(forget)) {
      rejected_.erase(id);
    }
  } catch (...) {
    rejected_.erase(id);
  }
}

void Server::observe(const Request& request, int status, double seconds) noexcept {
  if (!observer_) return;
  try {
    observer_(request, status, seconds);
  } catch (...) {
    // Metrics must never take a connection down; the observer contract says it does not throw.
  }
}

void Server::onConnectionClosed(std::uint64_t id) noexcept {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  closed_.push_back(std::move(it->second));
  connections_.erase(it);
  scheduleReap();
}

void Server::scheduleReap() noexcept {
  if (!reaper_.valid()) {
    closed_.clear();  // destructor or a failed listen(): no callback can be running
    return;
  }
  if (!reaper_.start(0, 0, [this] { reap(); })) {
    // Keeping them until the next reap is harmless; they are already closed.
  }
}

void Server::reap() noexcept {
  closed_.clear();
  if (stopping_ && connections_.empty() && on_stopped_) {
    stop_deadline_.close();
    auto done = std::move(on_stopped_);
    on_stopped_ = nullptr;
    done();  // may destroy the Server: nothing after this line
  }
}

void Server::stop(std::function<void()> on_stopped) {
  on_stopped_ = std::move(on_stopped);
  if (!stopping_) {
    stopping_ = true;
    listener_.close();
    rejected_.clear();
    std::vector<std::shared_ptr<ServerConnection>> open;
    open.reserve(connections_.size());
    for (auto& [id, connection] : connections_) open.push_back(connection);
    for (auto& connection : open) connection->onServerStopping();
    if (stop_deadline_.valid() &&
        !stop_deadline_.start(static_cast<std::uint64_t>(options_.stop_timeout.count()), 0, [this] {
          std::vector<std::shared_ptr<ServerConnection>> left;
          for (auto& [id, connection] : connections_) left.push_back(connection);
          for (auto& connection : left) connection->close();
        })) {
      for (auto& connection : open) connection->close();  // no deadline: do not wait
    }
  }
  if (!reaper_.valid()) {
    auto timer = uv::Timer::create(loop_);  // never listened: still call back from the loop
    if (timer) reaper_ = std::move(*timer);
  }
  scheduleReap();
}

}  // namespace pipeline::http
