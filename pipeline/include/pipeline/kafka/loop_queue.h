#pragma once

#include <uv.h>

#include <functional>
#include <memory>

#include "pipeline/status.h"
#include "pipeline/uv/handle.h"

struct rd_kafka_queue_s;

namespace pipeline::kafka {

/**
 * Serves a librdkafka queue on the libuv loop. librdkafka writes to a pipe only when the queue
 * goes from empty to non-empty, so each wake-up serves until `serveOne` reports the queue empty,
 * or, after `budget` events, yields to the loop and continues from an idle handle so HTTP and
 * timers are not starved. A periodic tick also serves the queue, so an idle consumer keeps its
 * group membership and statistics/errors are delivered without traffic.
 *
 * Lifecycle: create() -> ... -> destruction (disables the I/O event, closes handles and the pipe,
 * and releases the queue reference it was given). Loop thread only.
 */
class LoopQueue {
 public:
  /** Serves one event; returns false when the queue was empty. Must not throw. */
  using ServeOne = std::function<bool()>;

  /** Takes ownership of one reference to `queue` (rd_kafka_queue_get_*), even on error. */
  [[nodiscard]] static Result<std::unique_ptr<LoopQueue>> create(uv_loop_t& loop,
                                                                 rd_kafka_queue_s* queue,
                                                                 ServeOne serve_one,
                                                                 int tick_ms = 200,
                                                                 int budget = 512);
  ~LoopQueue();
  LoopQueue(const LoopQueue&) = delete;
  LoopQueue& operator=(const LoopQueue&) = delete;

  /** Serves now (e.g. after something was enqueued from the loop thread itself). */
  void serve() noexcept;

 private:
  LoopQueue(rd_kafka_queue_s* queue, ServeOne serve_one, int budget);
  void discardWakeBytes() noexcept;

  rd_kafka_queue_s* queue_;
  ServeOne serve_one_;
  int budget_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  uv::Poll wake_;
  uv::Idle continue_;
  uv::Timer tick_;
};

}  // namespace pipeline::kafka
