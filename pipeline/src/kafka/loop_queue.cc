#include "pipeline/kafka/loop_queue.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace pipeline::kafka {

LoopQueue::LoopQueue(rd_kafka_queue_t* queue, ServeOne serve_one, int budget)
    : queue_(queue), serve_one_(std::move(serve_one)), budget_(budget) {}

Result<std::unique_ptr<LoopQueue>> LoopQueue::create(uv_loop_t& loop, rd_kafka_queue_t* queue,
                                                     ServeOne serve_one, int tick_ms,
                                                     int budget) {
  std::unique_ptr<LoopQueue> self(new LoopQueue(queue, std::move(serve_one), budget));
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return Error{ErrorType::Io, fmt::format("pipe2: {}", std::strerror(errno))};
  }
  self->read_fd_ = fds[0];
  self->write_fd_ = fds[1];
  auto wake = uv::Poll::create(loop, self->read_fd_);
  if (!wake) return wake.error();
  self->wake_ = std::move(*wake);
  auto idle = uv::Idle::create(loop);
  if (!idle) return idle.error();
  self->continue_ = std::move(*idle);
  auto tick = uv::Timer::create(loop);
  if (!tick) return tick.error();
  self->tick_ = std::move(*tick);

  LoopQueue* raw = self.get();
  if (auto status = self->wake_.start(UV_READABLE,
                                      [raw](int, int) {
                                        raw->discardWakeBytes();
                                        raw->serve();
                                      });
      !status) {
    return status.error();
  }
  const auto tick_interval = static_cast<std::uint64_t>(tick_ms);
  if (auto status = self->tick_.start(tick_interval, tick_interval, [raw] { raw->serve(); });
      !status) {
    return status.error();
  }
  // The tick alone must not keep a finished loop alive.
  self->tick_.setReferenced(false);
  static constexpr char kWakeByte = 'k';
  rd_kafka_queue_io_event_enable(queue, self->write_fd_, &kWakeByte, 1);
  self->serve();  // events may have been queued before the pipe existed
  return self;
}

LoopQueue::~LoopQueue() {
  rd_kafka_queue_io_event_enable(queue_, -1, nullptr, 0);
  // uv_poll requires the handle to stop watching before the descriptor is closed; close()
  // stops it immediately even though freeing happens in the close callback.
  wake_.close();
  continue_.close();
  tick_.close();
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  rd_kafka_queue_destroy(queue_);
}

void LoopQueue::discardWakeBytes() noexcept {
  char buffer[64];
  while (::read(read_fd_, buffer, sizeof(buffer)) > 0) {
  }
}

void LoopQueue::serve() noexcept {
  for (int served = 0; served < budget_; ++served) {
    if (!serve_one_()) {
      continue_.stop();
      return;
    }
  }
  if (!continue_.active()) {
    (void)continue_.start([this] { serve(); });
  }
}

}  // namespace pipeline::kafka
