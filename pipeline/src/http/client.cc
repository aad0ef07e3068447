#include "pipeline/http/client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <utility>

namespace pipeline::http {

namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
struct UrlDeleter {
  void operator()(CURLU* url) const noexcept { curl_url_cleanup(url); }
};

// curl_global_init is not guaranteed thread-safe on every build; it runs once per process and
// is never undone, because other threads may still use curl when a Client is destroyed.
CURLcode globalInit() noexcept {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool safeHeaderText(std::string_view text) noexcept {
  return text.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

std::string hostAndPort(const std::string& url) {
  std::unique_ptr<CURLU, UrlDeleter> handle(curl_url());
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "";
  auto part = [&](CURLUPart which, unsigned flags) -> std::string {
    char* value = nullptr;
    if (curl_url_get(handle.get(), which, &value, flags) != CURLUE_OK || value == nullptr) {
      return "";
    }
    std::string copy(value);
    curl_free(value);
    return copy;
  };
  const std::string scheme = part(CURLUPART_SCHEME, 0);
  if (scheme != "http" && scheme != "https") return "";
  const std::string host = part(CURLUPART_HOST, 0);
  if (host.empty()) return "";
  return fmt::format("{}:{}", host, part(CURLUPART_PORT, CURLU_DEFAULT_PORT));
}

struct Client::Transfer {
  Request request;
  Done done;
  std::string target;  // "host:port", for messages
  std::unique_ptr<CURL, EasyDeleter> easy;
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  Response response;
  std::size_t max_response_bytes = 0;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {};

  Error makeError(ErrorType type, std::string_view detail) const {
    if (target.empty()) return Error{type, fmt::format("http {}: {}", request.method, detail)};
    return Error{type, fmt::format("http {} {}: {}", request.method, target, detail)};
  }
};

void Client::MultiDeleter::operator()(void* multi) const noexcept {
  curl_multi_cleanup(static_cast<CURLM*>(multi));
}

Client::Client(uv_loop_t& loop, ClientOptions options)
    : loop_(loop), options_(std::move(options)) {}

Result<std::unique_ptr<Client>> Client::create(uv_loop_t& loop, ClientOptions options) {
  if (CURLcode rc = globalInit(); rc != CURLE_OK) {
    return Error{ErrorType::Internal, fmt::format("curl_global_init: {}", curl_easy_strerror(rc))};
  }
  if (options.max_concurrent == 0) {
    return Error{ErrorType::InvalidArgument, "http client: max_concurrent must be > 0"};
  }
  std::unique_ptr<Client> client(new Client(loop, std::move(options)));
  auto curl_timer = uv::Timer::create(loop);
  if (!curl_timer) return curl_timer.error();
  auto deliver_timer = uv::Timer::create(loop);
  if (!deliver_timer) return deliver_timer.error();
  client->curl_timer_ = std::move(*curl_timer);
  client->deliver_timer_ = std::move(*deliver_timer);

  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return Error{ErrorType::Internal, "curl_multi_init failed"};
  client->multi_.reset(multi);
  Client* self = client.get();
  if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Client::onSocket) != CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, self) != CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Client::onTimer) != CURLM_OK ||
      curl_multi_setopt(multi, CURLMOPT_TIMERDATA, self) != CURLM_OK) {
    return Error{ErrorType::Internal, "curl_multi_setopt failed"};
  }
  return client;
}

Client::~Client() {
  // Dropping outstanding callbacks is the documented contract of destruction without close().
  releaseCurl();
  queue_.clear();
  deliveries_.clear();
}

void Client::releaseCurl() noexcept {
  // curl may call onSocket/onTimer while handles are removed and the multi is cleaned up, so
  // the polls and the timer outlive the multi handle.
  if (multi_) {
    for (auto& [easy, transfer] : active_) {
      curl_multi_remove_handle(static_cast<CURLM*>(multi_.get()), easy);
    }
  }
  active_.clear();
  multi_.reset();
  polls_.clear();
  curl_timer_.close();
}

void Client::request(Request request, Done done) {
  auto transfer = std::make_unique<Transfer>();
  transfer->target = hostAndPort(request.url);
  transfer->request = std::move(request);
  transfer->done = std::move(done);
  transfer->max_response_bytes = options_.max_response_bytes;
  if (closed_) {
    auto error = transfer->makeError(ErrorType::Unavailable, "client closed");
    finish(std::move(transfer), std::move(error));
    return;
  }
  if (transfer->target.empty()) {
    // Not echoing the URL: it may carry keys.
    Error error{ErrorType::InvalidArgument,
                fmt::format("http {}: invalid URL (need http:// or https:// and a host)",
                            transfer->request.method)};
    finish(std::move(transfer), std::move(error));
    return;
  }
  if (active_.size() < options_.max_concurrent) {
    start(transfer);
    return;
  }
  if (queue_.size() >= options_.max_queued) {
    auto error = transfer->makeError(ErrorType::Unavailable,
                                     fmt::format("queue full ({} waiting)", queue_.size()));
    finish(std::move(transfer), std::move(error));
    return;
  }
  queue_.push_back(std::move(transfer));
}

bool Client::start(std::unique_ptr<Transfer>& transfer) noexcept {
  Transfer& t = *transfer;
  t.easy.reset(curl_easy_init());
  if (!t.easy) {
    auto error = t.makeError(ErrorType::Internal, "curl_easy_init failed");
    finish(std::move(transfer), std::move(error));
    return false;
  }
  CURL* easy = t.easy.get();
  const Request& request = t.request;
  const auto timeout = request.timeout.count() > 0 ? request.timeout : options_.default_timeout;
  const auto connect_timeout = std::min(timeout, options_.connect_timeout);

  curl_slist* headers = nullptr;
  bool ok = true;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers, line.c_str());
    if (next == nullptr) {
      ok = false;
      return;
    }
    headers = next;
  };
  try {
    for (const auto& [name, value] : request.headers) {
      if (!safeHeaderText(name) || !safeHeaderText(value)) continue;
      // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
      append(value.empty() ? name + ";" : name + ": " + value);
    }
    // Without this curl waits up to a second for "100 Continue" before sending larger bodies.
    if (!request.headers.contains("Expect")) append("Expect:");
  } catch (...) {
    ok = false;
  }
  t.headers.reset(headers);

  using WriteFn = std::size_t (*)(char*, std::size_t, std::size_t, void*);
  WriteFn on_body = [](char* data, std::size_t size, std::size_t count, void* user) -> std::size_t {
    auto* self = static_cast<Transfer*>(user);
    const std::size_t length = size * count;
    if (self->response.body.size() + length > self->max_response_bytes) {
      self->too_large = true;
      return 0;  // curl aborts with CURLE_WRITE_ERROR
    }
    try {
      self->response.body.append(data, length);
    } catch (...) {
      return 0;
    }
    return length;
  };
  WriteFn on_header = [](char* data, std::size_t size, std::size_t count,
                         void* user) -> std::size_t {
    auto* self = static_cast<Transfer*>(user);
    const std::size_t length = size * count;
    std::string_view line(data, length);
    try {
      if (line.starts_with("HTTP/")) {
        self->response.headers = Headers{};  // a new response (after 100 Continue or similar)
      } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
        self->response.headers.add(std::string(trim(line.substr(0, colon))),
                                   std::string(trim(line.substr(colon + 1))));
      }
    } catch (...) {
      return 0;
    }
    return length;
  };

  auto set = [&](CURLoption option, auto value) {
    if (curl_easy_setopt(easy, option, value) != CURLE_OK) ok = false;
  };
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  set(CURLOPT_USERAGENT, options_.user_agent.c_str());
  set(CURLOPT_HTTPHEADER, t.headers.get());
  set(CURLOPT_ERRORBUFFER, t.error);
  set(CURLOPT_PRIVATE, static_cast<void*>(&t));
  set(CURLOPT_WRITEFUNCTION, on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
  set(CURLOPT_HEADERFUNCTION, on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
  if (request.method == "GET" && request.body.empty()) {
    set(CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else {
    // The body lives in the Transfer for the whole transfer, so curl need not copy it.
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set(CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST") set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (!ok) {
    auto error = t.makeError(ErrorType::Internal, "cannot configure the curl transfer");
    finish(std::move(transfer), std::move(error));
    return false;
  }
  if (CURLMcode rc = curl_multi_add_handle(static_cast<CURLM*>(multi_.get()), easy);
      rc != CURLM_OK) {
    auto error = t.makeError(ErrorType::Internal, curl_multi_strerror(rc));
    finish(std::move(transfer), std::move(error));
    return false;
  }
  // curl now asks for a timeout of 0 through onTimer; the transfer starts from that timer.
  active_.emplace(easy, std::move(transfer));
  return true;
}

int Client::onSocket(void* /*easy*/, int fd, int what, void* user, void* /*socket_data*/) noexcept {
  auto* self = static_cast<Client*>(user);
  if (what == CURL_POLL_REMOVE) {
    self->polls_.erase(fd);  // closes the uv_poll before curl closes the socket
    return 0;
  }
  auto it = self->polls_.find(fd);
  if (it == self->polls_.end()) {
    auto poll = uv::Poll::create(self->loop_, fd);
    if (!poll) return -1;
    it = self->polls_.emplace(fd, std::move(*poll)).first;
  }
  int events = 0;
  if ((what & CURL_POLL_IN) != 0) events |= UV_READABLE;
  if ((what & CURL_POLL_OUT) != 0) events |= UV_WRITABLE;
  // The callback copies only trivially copyable captures, so replacing it while it runs (curl
  // calls this from inside onSocketReady) is harmless.
  if (!it->second.start(events, [self, fd](int status, int ready) {
        self->onSocketReady(fd, status, ready);
      })) {
    return -1;
  }
  return 0;
}

int Client::onTimer(void* /*multi*/, long timeout_ms, void* user) noexcept {
  auto* self = static_cast<Client*>(user);
  if (timeout_ms < 0) {
    self->curl_timer_.stop();
    return 0;
  }
  // Even a 0 timeout goes through the loop: curl forbids calling back into it from here.
  if (!self->curl_timer_.start(static_cast<std::uint64_t>(timeout_ms), 0,
                               [self] { self->onTimeout(); })) {
    return -1;
  }
  return 0;
}

void Client::onSocketReady(int fd, int status, int events) noexcept {
  if (!multi_) return;
  int flags = 0;
  if (status < 0) flags |= CURL_CSELECT_ERR;
  if ((events & UV_READABLE) != 0) flags |= CURL_CSELECT_IN;
  if ((events & UV_WRITABLE) != 0) flags |= CURL_CSELECT_OUT;
  int running = 0;
  curl_multi_socket_action(static_cast<CURLM*>(multi_.get()), fd, flags, &running);
  collectDone();
}

void Client::onTimeout() noexcept {
  if (!multi_) return;
  int running = 0;
  curl_multi_socket_action(static_cast<CURLM*>(multi_.get()), CURL_SOCKET_TIMEOUT, 0, &running);
  collectDone();
}

void Client::collectDone() noexcept {
  auto* multi = static_cast<CURLM*>(multi_.get());
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    const CURLcode code = message->data.result;  // `message` is invalid after removal
    curl_multi_remove_handle(multi, easy);
    auto it = active_.find(easy);
    if (it == active_.end()) continue;
    auto transfer = std::move(it->second);
    active_.erase(it);

    Transfer& t = *transfer;
    if (code == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      t.response.status = static_cast<int>(status);
      Response response = std::move(t.response);
      finish(std::move(transfer), std::move(response));
      continue;
    }
    ErrorType type = ErrorType::Http;
    std::string detail = curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      type = ErrorType::Timeout;
    } else if (code == CURLE_WRITE_ERROR && t.too_large) {
      detail = fmt::format("response body exceeds {} bytes", t.max_response_bytes);
    } else if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
      type = ErrorType::InvalidArgument;
    }
    // curl's own message is more specific ("Connection refused") but is kept only when it
    // cannot contain a path, query or credentials.
    std::string_view specific(t.error);
    if (!specific.empty() && specific.find_first_of("/?@") == std::string_view::npos &&
        !(code == CURLE_WRITE_ERROR && t.too_large)) {
      detail = fmt::format("{} ({})", detail, trim(specific));
    }
    auto error = t.makeError(type, detail);
    finish(std::move(transfer), std::move(error));
  }
  startQueued();
}

void Client::startQueued() noexcept {
  while (!closed_ && active_.size() < options_.max_concurrent && !queue_.empty()) {
    auto transfer = std::move(queue_.front());
    queue_.pop_front();
    start(transfer);
  }
}

void Client::finish(std::unique_ptr<Transfer> transfer, Result<Response> result) noexcept {
  if (transfer->done) deliveries_.emplace_back(std::move(transfer->done), std::move(result));
  transfer.reset();  // frees the easy handle (already removed from the multi)
  scheduleDeliveries();
}

void Client::scheduleDeliveries() noexcept {
  if (!deliver_timer_.valid()) return;
  if (!deliver_timer_.start(0, 0, [this] { deliver(); })) {
    // Only fails on a closed timer, which happens only in the destructor.
  }
}

void Client::deliver() noexcept {
  auto batch = std::move(deliveries_);
  deliveries_.clear();
  for (auto& [done, result] : batch) done(std::move(result));
  if (!deliveries_.empty()) {
    scheduleDeliveries();  // callbacks issued new requests that failed at once, or closed us
    return;
  }
  if (closed_ && on_closed_) {
    auto on_closed = std::move(on_closed_);
    on_closed_ = nullptr;
    on_closed();  // may destroy the Client: nothing after this line
  }
}

void Client::close(std::function<void()> on_closed) {
  on_closed_ = std::move(on_closed);
  if (!closed_) {
    closed_ = true;
    std::vector<std::unique_ptr<Transfer>> cancelled;
    for (auto& [easy, transfer] : active_) {
      curl_multi_remove_handle(static_cast<CURLM*>(multi_.get()), easy);
      cancelled.push_back(std::move(transfer));
    }
    active_.clear();
    for (auto& transfer : queue_) cancelled.push_back(std::move(transfer));
    queue_.clear();
    releaseCurl();
    for (auto& transfer : cancelled) {
      auto error = transfer->makeError(ErrorType::Unavailable, "cancelled: client closed");
      finish(std::move(transfer), std::move(error));
    }
  }
  scheduleDeliveries();
}

}  // namespace pipeline::http
