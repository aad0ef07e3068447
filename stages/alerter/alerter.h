#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "pipeline/kafka/record.h"
#include "pipeline/kafka/tail.h"
#include "pipeline/runtime.h"
#include "pipeline/uv/handle.h"
#include "stages/alerter/alerter_config.h"
#include "stages/alerter/evaluator.h"
#include "stages/alerter/notify/dispatcher.h"
#include "stages/alerter/notify/sender.h"
#include "stages/alerter/series_store.h"

namespace stages::alerter {

/** The rules to evaluate: the shipped ones (unless turned off) and every alerter.rules_files
 * file, as one set. Errors: InvalidConfig naming the file, rule and field. */
[[nodiscard]] pipeline::Result<RuleSet> loadRuleSet(const AlerterConfig& config);

/** An alert state change as `alert.v1` (schemas/alert.v1.schema.json). */
std::string alertEvent(const Alert& alert, std::int64_t now_ms);

/**
 * The alerter process: `metrics` → SeriesStore → Evaluator (on a timer) → state changes to the
 * `alerts` topic and, firing or resolved, to the Dispatcher → Sender → receivers. Its state (the
 * evaluator's alerts and the dispatcher's notification log) is written to the compacted
 * `alerter.state` topic when it changed, at most every alerter.state_interval_ms and on drain,
 * and restored at start, so a restart neither fires again what was firing nor loses a resolve.
 *
 * Admin HTTP: GET /alerts (active alerts and every rule's last evaluation); health check `rules`
 * (degraded while a rule's evaluation fails).
 *
 * Lifecycle: create() → start() → drain. Loop thread only.
 */
class Alerter {
 public:
  using WallClock = std::function<std::int64_t()>;
  /** Reads the latest snapshot of alerter.state (kafka::readTail), empty when there is none. */
  using StateReader = std::function<pipeline::Result<std::optional<std::string>>()>;
  /** The end offset of every partition of the metrics topic now (kafka::offsetRanges). */
  using MetricsEnd = std::function<pipeline::Result<std::vector<pipeline::kafka::OffsetRange>>()>;

  /** Rules are not evaluated until the metrics written before the start were read (or
   * kMaxCatchUpMs passed): evaluating a backlog of old batches as if it were now would fire
   * absence and staleness alerts for stages that are running. */
  static constexpr std::int64_t kMaxCatchUpMs = 120'000;

  [[nodiscard]] static pipeline::Result<std::shared_ptr<Alerter>> create(
      pipeline::Runtime& rt, AlerterConfig config, StateReader read_state, MetricsEnd metrics_end,
      WallClock wall_clock);
  ~Alerter();

  [[nodiscard]] pipeline::Status start();

 private:
  struct Metrics;
  Alerter(pipeline::Runtime& rt, AlerterConfig config, RuleSet rules, WallClock wall_clock);
  bool caughtUp();
  void evaluate();
  void dispatch();
  void saveState();
  void continueDrain();
  static constexpr std::int64_t kDrainDeliveryMs = 10'000;
  static constexpr std::uint64_t kDrainPollMs = 100;
  std::string stateSnapshot() const;
  pipeline::http::Response alertsPage() const;

  pipeline::Runtime& rt_;
  AlerterConfig config_;
  WallClock wall_clock_;
  SeriesStore store_;
  Evaluator evaluator_;
  std::optional<notify::Dispatcher> dispatcher_;
  std::unique_ptr<notify::Sender> sender_;
  std::unique_ptr<Metrics> metrics_;
  pipeline::uv::Timer evaluation_timer_;
  std::map<std::int32_t, std::int64_t> catch_up_ends_;  // partition → end offset at start, until read
  std::int64_t started_ms_ = 0;
  bool caught_up_ = false;
  std::function<void()> drained_;
  std::int64_t drain_started_ms_ = 0;
  bool state_changed_ = false;
  bool state_in_flight_ = false;
  std::int64_t last_state_write_ms_ = 0;
  // Producer callbacks may run after this object is gone (at shutdown): they check it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace stages::alerter
