#include "pipeline/uv/handle.h"

#include <fmt/format.h>

namespace pipeline::uv {

Status check(int rc, const char* operation) {
  if (rc >= 0) return Status::ok();
  return Status(ErrorType::Io, fmt::format("{}: {}", operation, uv_strerror(rc)));
}

void onBoxedHandleClosed(uv_handle_t* handle) noexcept {
  auto* box = static_cast<BoxBase*>(handle->data);
  if (box->owner != nullptr) {
    box->owner->box_ = nullptr;
    box->owner->handle_ = nullptr;
  }
  delete box;
}

void HandleBase::close() noexcept {
  if (box_ == nullptr) return;
  box_->owner = nullptr;
  uv_handle_t* handle = std::exchange(handle_, nullptr);
  box_ = nullptr;
  if (!uv_is_closing(handle)) uv_close(handle, &onBoxedHandleClosed);
}

void HandleBase::setReferenced(bool referenced) noexcept {
  if (handle_ == nullptr) return;
  referenced ? uv_ref(handle_) : uv_unref(handle_);
}

Result<Timer> Timer::create(uv_loop_t& loop) {
  auto* box = new Box();
  if (int rc = uv_timer_init(&loop, &box->handle); rc < 0) {
    delete box;  // never initialised: nothing to close
    return check(rc, "uv_timer_init").error();
  }
  return Timer(box);
}

Status Timer::start(std::uint64_t timeout_ms, std::uint64_t repeat_ms,
                    std::function<void()> callback) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Timer::start on a closed timer");
  box()->callback = std::move(callback);
  return check(uv_timer_start(
                   &box()->handle, [](uv_timer_t* h) { boxOf(h)->callback(); }, timeout_ms,
                   repeat_ms),
               "uv_timer_start");
}

void Timer::stop() noexcept {
  if (box_ != nullptr) uv_timer_stop(&box()->handle);
}

Result<Idle> Idle::create(uv_loop_t& loop) {
  auto* box = new Box();
  if (int rc = uv_idle_init(&loop, &box->handle); rc < 0) {
    delete box;
    return check(rc, "uv_idle_init").error();
  }
  return Idle(box);
}

Status Idle::start(std::function<void()> callback) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Idle::start on a closed handle");
  box()->callback = std::move(callback);
  return check(uv_idle_start(&box()->handle, [](uv_idle_t* h) { boxOf(h)->callback(); }),
               "uv_idle_start");
}

void Idle::stop() noexcept {
  if (box_ != nullptr) uv_idle_stop(&box()->handle);
}

bool Idle::active() noexcept {
  return handle_ != nullptr && uv_is_active(handle_) != 0;
}

Result<Poll> Poll::create(uv_loop_t& loop, int fd) {
  auto* box = new Box();
  if (int rc = uv_poll_init(&loop, &box->handle, fd); rc < 0) {
    delete box;
    return check(rc, "uv_poll_init").error();
  }
  return Poll(box);
}

Status Poll::start(int events, std::function<void(int, int)> callback) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Poll::start on a closed handle");
  box()->callback = std::move(callback);
  return check(uv_poll_start(&box()->handle, events,
                             [](uv_poll_t* h, int status, int ev) { boxOf(h)->callback(status, ev); }),
               "uv_poll_start");
}

void Poll::stop() noexcept {
  if (box_ != nullptr) uv_poll_stop(&box()->handle);
}

Result<Signal> Signal::create(uv_loop_t& loop) {
  auto* box = new Box();
  if (int rc = uv_signal_init(&loop, &box->handle); rc < 0) {
    delete box;
    return check(rc, "uv_signal_init").error();
  }
  return Signal(box);
}

Status Signal::start(int signum, std::function<void(int)> callback) {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Signal::start on a closed handle");
  box()->callback = std::move(callback);
  return check(
      uv_signal_start(&box()->handle, [](uv_signal_t* h, int sig) { boxOf(h)->callback(sig); },
                      signum),
      "uv_signal_start");
}

void Signal::stop() noexcept {
  if (box_ != nullptr) uv_signal_stop(&box()->handle);
}

Result<Async> Async::create(uv_loop_t& loop, std::function<void()> callback) {
  auto* box = new Box();
  box->callback = std::move(callback);
  if (int rc = uv_async_init(&loop, &box->handle, [](uv_async_t* h) { boxOf(h)->callback(); });
      rc < 0) {
    delete box;
    return check(rc, "uv_async_init").error();
  }
  return Async(box);
}

Status Async::send() noexcept {
  if (box_ == nullptr) return Status(ErrorType::Internal, "Async::send on a closed handle");
  return check(uv_async_send(&box()->handle), "uv_async_send");
}

Status closeLoop(uv_loop_t& loop) {
  uv_walk(
      &loop,
      [](uv_handle_t* handle, void*) {
        if (!uv_is_closing(handle)) uv_close(handle, &onBoxedHandleClosed);
      },
      nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  return check(uv_loop_close(&loop), "uv_loop_close");
}

}  // namespace pipeline::uv
