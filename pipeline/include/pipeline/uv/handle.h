#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <utility>

#include "pipeline/status.h"

namespace pipeline::uv {

/** Maps a libuv return code to a Status naming the operation ("uv_timer_start: invalid argument"). */
Status check(int rc, const char* operation);

class HandleBase;

// Heap state of one handle: freed only from uv_close's callback. handle.data points here.
struct BoxBase {
  virtual ~BoxBase() = default;
  HandleBase* owner = nullptr;
};

/** Close callback for every handle created by these wrappers (handle->data is a BoxBase). */
void onBoxedHandleClosed(uv_handle_t* handle) noexcept;

/** Untyped part of Handle: ownership of the box and closing. */
class HandleBase {
 public:
  HandleBase(const HandleBase&) = delete;
  HandleBase& operator=(const HandleBase&) = delete;

  bool valid() const noexcept { return box_ != nullptr; }

  /** Closes the handle; its callback is never invoked afterwards. Idempotent. */
  void close() noexcept;

  /** Keeps the loop from exiting while active (the default) or not (housekeeping timers). */
  void setReferenced(bool referenced) noexcept;

 protected:
  HandleBase() = default;
  explicit HandleBase(BoxBase* box, uv_handle_t* handle) noexcept : box_(box), handle_(handle) {
    handle_->data = box_;
    box_->owner = this;
  }
  HandleBase(HandleBase&& other) noexcept { take(other); }
  HandleBase& operator=(HandleBase&& other) noexcept {
    if (this != &other) {
      close();
      take(other);
    }
    return *this;
  }
  ~HandleBase() { close(); }

  BoxBase* box_ = nullptr;
  uv_handle_t* handle_ = nullptr;

 private:
  friend void onBoxedHandleClosed(uv_handle_t* handle) noexcept;
  void take(HandleBase& other) noexcept {
    box_ = std::exchange(other.box_, nullptr);
    handle_ = std::exchange(other.handle_, nullptr);
    if (box_ != nullptr) box_->owner = this;
  }
};

/**
 * Owning wrapper over one libuv handle of type T with a callback of signature Signature.
 *
 * Lifecycle: create(loop) -> start(...) any number of times -> close() or destruction. The uv
 * handle and its callback live in a heap box freed only from uv_close's callback, so the wrapper
 * may be destroyed at any point on the loop thread: after that, the callback never runs again.
 * If closeLoop() closes the handle first, the box tells its owner, so the wrapper never touches
 * freed memory. Invariant: every handle on a pipeline loop is created through these wrappers.
 * Loop thread only; movable, not copyable.
 */
template <typename T, typename Signature>
class Handle : public HandleBase {
 public:
  Handle() = default;
  Handle(Handle&&) noexcept = default;
  Handle& operator=(Handle&&) noexcept = default;

  T* raw() noexcept { return box_ != nullptr ? &box()->handle : nullptr; }

 protected:
  struct Box : BoxBase {
    T handle{};
    std::function<Signature> callback;
  };

  explicit Handle(Box* box) noexcept
      : HandleBase(box, reinterpret_cast<uv_handle_t*>(&box->handle)) {}

  Box* box() noexcept { return static_cast<Box*>(box_); }
  static Box* boxOf(T* handle) noexcept {
    return static_cast<Box*>(static_cast<BoxBase*>(handle->data));
  }
};

/** A one-shot or repeating timer. Times are milliseconds of the loop's clock. */
class Timer : public Handle<uv_timer_t, void()> {
 public:
  Timer() = default;
  [[nodiscard]] static Result<Timer> create(uv_loop_t& loop);
  [[nodiscard]] Status start(std::uint64_t timeout_ms, std::uint64_t repeat_ms,
                             std::function<void()> callback);
  void stop() noexcept;

 private:
  using Handle::Handle;
};

/** Runs its callback once per loop iteration while started: used to continue bounded work. */
class Idle : public Handle<uv_idle_t, void()> {
 public:
  Idle() = default;
  [[nodiscard]] static Result<Idle> create(uv_loop_t& loop);
  [[nodiscard]] Status start(std::function<void()> callback);
  void stop() noexcept;
  bool active() noexcept;

 private:
  using Handle::Handle;
};

/** Watches a file descriptor the wrapper does not own. The callback gets (status, events). */
class Poll : public Handle<uv_poll_t, void(int, int)> {
 public:
  Poll() = default;
  [[nodiscard]] static Result<Poll> create(uv_loop_t& loop, int fd);
  [[nodiscard]] Status start(int events, std::function<void(int status, int events)> callback);
  void stop() noexcept;

 private:
  using Handle::Handle;
};

/** Delivers a signal on the loop thread. The callback gets the signal number. */
class Signal : public Handle<uv_signal_t, void(int)> {
 public:
  Signal() = default;
  [[nodiscard]] static Result<Signal> create(uv_loop_t& loop);
  [[nodiscard]] Status start(int signum, std::function<void(int signum)> callback);
  void stop() noexcept;

 private:
  using Handle::Handle;
};

/** Wakes the loop from another thread: send() is the only thread-safe method. */
class Async : public Handle<uv_async_t, void()> {
 public:
  Async() = default;
  [[nodiscard]] static Result<Async> create(uv_loop_t& loop, std::function<void()> callback);
  [[nodiscard]] Status send() noexcept;

 private:
  using Handle::Handle;
};

/**
 * Closes every handle still open on the loop (all created by these wrappers), runs the loop until
 * empty, then closes it. Returns the error of uv_loop_close, if any.
 */
Status closeLoop(uv_loop_t& loop);

}  // namespace pipeline::uv
