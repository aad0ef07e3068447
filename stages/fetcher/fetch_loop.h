#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "pipeline/http/client.h"
#include "pipeline/runtime.h"
#include "pipeline/uv/handle.h"
#include "stages/fetcher/block_parser.h"
#include "stages/fetcher/fetcher_config.h"
#include "stages/fetcher/fetcher_metrics.h"
#include "stages/fetcher/live_poll.h"
#include "stages/fetcher/node_pool.h"
#include "stages/fetcher/resume.h"
#include "stages/fetcher/sequencer.h"

namespace stages::fetcher {

/**
 * The fetcher's adapter: drives the pure Sequencer, NodePool and LivePoll with the runtime's
 * loop, an HTTP client and the producer. After every event (an answer, a delivery, the timer) it
 * publishes what the sequencer released, plans new requests and re-arms one timer for the
 * earliest due time; nothing polls on a fixed period.
 *
 * Lifecycle: create() (blocking: reads the tail of blocks.raw) -> start() -> drain(done) via the
 * runtime's drain hook. Owned by the runtime (Runtime::keep). Loop thread only.
 */
class FetchLoop {
 public:
  /**
   * Heights handed to the producer and not yet acknowledged, at most. Partitions acknowledge
   * independently, so after a crash the heights on blocks.raw can have gaps within this span;
   * reading back this many records per partition (plus the fork depth) finds every such gap.
   */
  static constexpr std::size_t kMaxUnacknowledged = 256;

  [[nodiscard]] static pipeline::Result<std::shared_ptr<FetchLoop>> create(pipeline::Runtime& rt,
                                                                           FetcherConfig config);
  void start();
  void drain(std::function<void()> done);

  /** Ready while some node is usable and nothing fatal happened. */
  pipeline::health::CheckResult readiness() const;

 private:
  FetchLoop(pipeline::Runtime& rt, FetcherConfig config, Tail tail);

  void pump() noexcept;
  void publish();
  void planRequests(TimePoint now);
  void sendRange(const FetchRequest& request, std::size_t node);
  void onRangeAnswer(std::uint64_t id, std::size_t node, TimePoint sent,
                     pipeline::Result<pipeline::http::Response> response);
  void pollHead();
  void onHeadAnswer(std::size_t node, TimePoint sent,
                    pipeline::Result<pipeline::http::Response> response);
  void armTimer(TimePoint now);
  NodeAnswer interpret(const pipeline::http::Response& response);
  /** During the drain an answer is dropped (its range is fetched again after the restart). */
  bool abandonWhileDraining(std::size_t node);
  void recordTransportFailure(std::size_t node, TimePoint now, const pipeline::Error& error);
  void recordNode(std::size_t node, TimePoint sent, TimePoint now, const NodeAnswer& answer);
  void updateMetrics();

  pipeline::Runtime& rt_;
  FetcherConfig config_;
  FetcherMetrics metrics_;
  std::string topic_;
  /** Per pool node, the `source` header of the blocks it answered: host:port, nothing secret. */
  std::vector<std::string> node_sources_;
  Tail tail_;
  BlockParser parser_;
  std::mt19937_64 random_;
  NodePool pool_;
  LivePoll live_;
  std::optional<Sequencer> sequencer_;
  std::unique_ptr<pipeline::http::Client> client_;
  pipeline::uv::Timer timer_;
  std::map<std::uint64_t, std::size_t> requests_;  // in-flight range request -> node
  std::deque<Output> backlog_;       // released by the sequencer, not yet handed to the producer
  std::size_t unacknowledged_ = 0;   // handed to the producer, not yet acknowledged
  bool head_poll_in_flight_ = false;
  std::int64_t next_head_poll_ms_ = 0;  // wall clock
  std::int64_t last_head_height_ = -1;
  std::uint64_t failovers_reported_ = 0;
  bool draining_ = false;
  bool failed_ = false;
  std::function<void()> drained_;
};

}  // namespace stages::fetcher
