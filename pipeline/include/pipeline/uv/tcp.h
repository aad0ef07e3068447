#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "pipeline/status.h"
#include "pipeline/uv/handle.h"

namespace pipeline::uv {

/**
 * Owning wrapper over one uv_tcp_t: a listening socket or one accepted connection.
 *
 * Lifecycle: create(loop) -> bind() + listen() -> accept() per connection, or (for an accepted
 * stream) readStart() / write() / shutdown() -> close() or destruction. Like every wrapper in
 * handle.h, the uv handle and its callbacks live in a heap box derived from BoxBase that is freed
 * only from uv_close's callback, so closeLoop() can close it and the wrapper may be destroyed at
 * any point on the loop thread. After close() or destruction no callback of this handle runs
 * again, including the completion callbacks of writes and shutdowns still queued (libuv cancels
 * them; the cancellation is swallowed). Loop thread only; movable, not copyable.
 *
 * Callbacks must not throw: they are invoked from noexcept libuv trampolines.
 */
class Tcp : public HandleBase {
 public:
  /** Data read from the peer; valid only during the callback. */
  using ReadCallback = std::function<void(std::string_view data)>;
  /** End of the stream (peer shut down its side: `status` ok) or a read error. */
  using EndCallback = std::function<void(Status status)>;
  using CompletionCallback = std::function<void(Status status)>;
  using ConnectionCallback = std::function<void(Status status)>;

  Tcp() = default;
  Tcp(Tcp&&) noexcept = default;
  Tcp& operator=(Tcp&&) noexcept = default;

  /** Errors: ErrorType::Io if uv_tcp_init fails. */
  [[nodiscard]] static Result<Tcp> create(uv_loop_t& loop);

  /**
   * Binds to a numeric IPv4 or IPv6 address (no name resolution). Port 0 picks a free port.
   * Errors: InvalidArgument for an address that is not a numeric literal; Io from uv_tcp_bind.
   * Note that EADDRINUSE is usually reported by listen(), not here.
   */
  [[nodiscard]] Status bind(const std::string& host, std::uint16_t port);

  /** Starts listening; `on_connection` runs once per pending connection. Errors: Io. */
  [[nodiscard]] Status listen(int backlog, ConnectionCallback on_connection);

  /**
   * Accepts one pending connection of this listening socket into a new Tcp on the same loop.
   * Call from the connection callback. Errors: Io (e.g. EAGAIN when nothing is pending).
   */
  [[nodiscard]] Result<Tcp> accept();

  /** The locally bound port. Errors: Io, or Internal on a closed handle. */
  [[nodiscard]] Result<std::uint16_t> localPort() const;

  /** The peer's address as "ip:port", or "" if unknown. */
  std::string peerAddress() const;

  /** Disables Nagle's algorithm: responses are written whole, so batching only adds latency. */
  void setNoDelay(bool enable) noexcept;

  /**
   * Delivers incoming data to `on_data` and the end of the stream or a read error to `on_end`
   * (after which reading has stopped). Must not be called from inside those callbacks, because
   * it replaces them; use readStop() / readResume() to pause. Errors: Io.
   */
  [[nodiscard]] Status readStart(ReadCallback on_data, EndCallback on_end);
  /** Resumes reading with the callbacks given to readStart(); idempotent. Errors: Io. */
  [[nodiscard]] Status readResume();
  void readStop() noexcept;

  /**
   * Queues `data` for writing; writes complete in order. `done` (may be empty) gets ok once the
   * kernel took every byte, or an Io error. Not called after close(). Errors: Io if the write
   * cannot be queued (then `done` is not called).
   */
  [[nodiscard]] Status write(std::string data, CompletionCallback done);

  /** Bytes queued but not yet handed to the kernel. */
  std::size_t writeQueueSize() const noexcept;

  /**
   * Sends FIN after every queued write completed; `done` (may be empty) gets the outcome.
   * Errors: Io if the shutdown cannot be queued (then `done` is not called).
   */
  [[nodiscard]] Status shutdown(CompletionCallback done);

  /**
   * Closes at once with a TCP reset (RST) instead of an orderly FIN: queued writes are dropped,
   * and the peer sees "connection reset". For aborting a response; close() otherwise.
   */
  void closeWithReset() noexcept;

 private:
  struct Box;
  explicit Tcp(Box* box) noexcept;
  Box* box() const noexcept;
};

}  // namespace pipeline::uv
