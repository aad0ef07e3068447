#include "pipeline/uv/tcp.h"

#include <fmt/format.h>

#include <array>
#include <memory>
#include <utility>

namespace pipeline::uv {

struct Tcp::Box : BoxBase {
  uv_tcp_t handle{};
  ConnectionCallback on_connection;
  ReadCallback on_data;
  EndCallback on_end;
};

namespace {

// A write or shutdown request and its completion callback; freed by its libuv callback, which
// libuv always runs (with UV_ECANCELED if the handle was closed first).
struct WriteRequest {
  uv_write_t req{};
  std::string data;
  Tcp::CompletionCallback done;
};

struct ShutdownRequest {
  uv_shutdown_t req{};
  Tcp::CompletionCallback done;
};

// libuv runs alloc_cb and read_cb back to back on the loop thread, so one buffer per thread is
// enough and saves a buffer per idle connection.
constexpr std::size_t kReadBufferBytes = 64 * 1024;
thread_local std::array<char, kReadBufferBytes> read_buffer;

// The wrapper detached (close() or destruction) before the request completed: its callbacks
// may refer to objects that no longer exist, so they must not run.
bool detached(uv_stream_t* stream) noexcept {
  auto* box = static_cast<BoxBase*>(stream->data);
  return box == nullptr || box->owner == nullptr;
}

std::string formatAddress(const sockaddr_storage& storage) {
  char ip[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    if (uv_ip4_name(in, ip, sizeof(ip)) != 0) return "";
    port = ntohs(in->sin_port);
    return fmt::format("{}:{}", ip, port);
  }
  if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    if (uv_ip6_name(in6, ip, sizeof(ip)) != 0) return "";
    port = ntohs(in6->sin6_port);
    return fmt::format("[{}]:{}", ip, port);
  }
  return "";
}

}  // namespace

Tcp::Tcp(Box* box) noexcept : HandleBase(box, reinterpret_cast<uv_handle_t*>(&box->handle)) {}

Tcp::Box* Tcp::box() const noexcept { return static_cast<Box*>(box_); }

Result<Tcp> Tcp::create(uv_loop_t& loop) {
  auto* box = new Box();
  if (int rc = uv_tcp_init(&loop, &box->handle); rc < 0) {
    delete box;  // never initialised: nothing to close
    return check(rc, "uv_tcp_init").error();
  }
  return Tcp(box);
}

Status Tcp::bind(const std::string& host, std::uint16_t port) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::bind on a closed handle");
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return Status(ErrorType::InvalidArgument,
                  fmt::format("'{}' is not a numeric IPv4 or IPv6 address", host));
  }
  return check(uv_tcp_bind(&box()->handle, reinterpret_cast<const sockaddr*>(&addr), 0),
               "uv_tcp_bind");
}

Status Tcp::listen(int backlog, ConnectionCallback on_connection) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::listen on a closed handle");
  box()->on_connection = std::move(on_connection);
  return check(uv_listen(reinterpret_cast<uv_stream_t*>(&box()->handle), backlog,
                         [](uv_stream_t* server, int status) noexcept {
                           auto* self = static_cast<Box*>(static_cast<BoxBase*>(server->data));
                           self->on_connection(check(status, "uv_listen"));
                         }),
               "uv_listen");
}

Result<Tcp> Tcp::accept() {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::accept on a closed handle");
  auto client = create(*box()->handle.loop);
  if (!client) return client;
  if (int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&box()->handle),
                         reinterpret_cast<uv_stream_t*>(&client->box()->handle));
      rc < 0) {
    return check(rc, "uv_accept").error();  // `client` closes itself on destruction
  }
  return client;
}

Result<std::uint16_t> Tcp::localPort() const {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::localPort on a closed handle");
  sockaddr_storage storage{};
  int length = sizeof(storage);
  if (int rc = uv_tcp_getsockname(&box()->handle, reinterpret_cast<sockaddr*>(&storage), &length);
      rc < 0) {
    return check(rc, "uv_tcp_getsockname").error();
  }
  if (storage.ss_family == AF_INET) {
    return static_cast<std::uint16_t>(ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port));
  }
  return static_cast<std::uint16_t>(ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port));
}

std::string Tcp::peerAddress() const {
  if (box_ == nullptr) return "";
  sockaddr_storage storage{};
  int length = sizeof(storage);
  if (uv_tcp_getpeername(&box()->handle, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return "";
  }
  return formatAddress(storage);
}

void Tcp::setNoDelay(bool enable) noexcept {
  // Best effort: a failure only costs latency, and the socket stays usable.
  if (box_ != nullptr) static_cast<void>(uv_tcp_nodelay(&box()->handle, enable ? 1 : 0));
}

Status Tcp::readStart(ReadCallback on_data, EndCallback on_end) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::readStart on a closed handle");
  box()->on_data = std::move(on_data);
  box()->on_end = std::move(on_end);
  return readResume();
}

Status Tcp::readResume() {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::readResume on a closed handle");
  auto* stream = reinterpret_cast<uv_stream_t*>(&box()->handle);
  // uv_read_start on a stream that is already reading fails with EALREADY; stopping first
  // makes resuming idempotent.
  uv_read_stop(stream);
  return check(uv_read_start(
                   stream,
                   [](uv_handle_t*, std::size_t, uv_buf_t* buf) noexcept {
                     buf->base = read_buffer.data();
                     buf->len = read_buffer.size();
                   },
                   [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
                     auto* self = static_cast<Box*>(static_cast<BoxBase*>(s->data));
                     if (nread > 0) {
                       self->on_data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
                     } else if (nread == UV_EOF) {
                       uv_read_stop(s);
                       self->on_end(Status::ok());
                     } else if (nread < 0) {
                       uv_read_stop(s);
                       self->on_end(check(static_cast<int>(nread), "uv_read"));
                     }
                     // nread == 0 is EAGAIN: nothing to do.
                   }),
               "uv_read_start");
}

void Tcp::readStop() noexcept {
  if (box_ != nullptr) uv_read_stop(reinterpret_cast<uv_stream_t*>(&box()->handle));
}

Status Tcp::write(std::string data, CompletionCallback done) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::write on a closed handle");
  auto request = std::make_unique<WriteRequest>();
  request->data = std::move(data);
  request->done = std::move(done);
  uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
  int rc = uv_write(&request->req, reinterpret_cast<uv_stream_t*>(&box()->handle), &buf, 1,
                    [](uv_write_t* req, int status) noexcept {
                      std::unique_ptr<WriteRequest> owned(reinterpret_cast<WriteRequest*>(req));
                      if (owned->done && !detached(req->handle)) {
                        owned->done(check(status, "uv_write"));
                      }
                    });
  if (rc < 0) return check(rc, "uv_write");
  static_cast<void>(request.release());  // owned by libuv until the write callback
  return Status::ok();
}

std::size_t Tcp::writeQueueSize() const noexcept {
  if (box_ == nullptr) return 0;
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&box()->handle));
}

Status Tcp::shutdown(CompletionCallback done) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Tcp::shutdown on a closed handle");
  auto request = std::make_unique<ShutdownRequest>();
  request->done = std::move(done);
  int rc = uv_shutdown(&request->req, reinterpret_cast<uv_stream_t*>(&box()->handle),
                       [](uv_shutdown_t* req, int status) noexcept {
                         std::unique_ptr<ShutdownRequest> owned(
                             reinterpret_cast<ShutdownRequest*>(req));
                         if (owned->done && !detached(req->handle)) {
                           owned->done(check(status, "uv_shutdown"));
                         }
                       });
  if (rc < 0) return check(rc, "uv_shutdown");
  static_cast<void>(request.release());  // owned by libuv until the shutdown callback
  return Status::ok();
}

void Tcp::closeWithReset() noexcept {
  if (box_ == nullptr) return;
  box_->owner = nullptr;
  uv_handle_t* handle = std::exchange(handle_, nullptr);
  box_ = nullptr;
  if (uv_is_closing(handle)) return;
  // uv_tcp_close_reset refuses a socket whose write side was already shut down: close it plainly.
  if (uv_tcp_close_reset(reinterpret_cast<uv_tcp_t*>(handle), &onBoxedHandleClosed) != 0) {
    uv_close(handle, &onBoxedHandleClosed);
  }
}

}  // namespace pipeline::uv
