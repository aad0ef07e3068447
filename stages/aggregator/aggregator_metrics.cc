#include "stages/aggregator/aggregator_metrics.h"

namespace stages::aggregator {

AggregatorMetrics AggregatorMetrics::create(pipeline::metrics::Registry& registry) {
  constexpr std::string_view kDropped = "point_tron_aggregator_dropped_records_total";
  constexpr std::string_view kDroppedHelp =
      "blocks records that changed nothing and were dropped, by reason.";
  constexpr std::string_view kDeferred = "point_tron_aggregator_deferred_records_total";
  constexpr std::string_view kDeferredHelp =
      "blocks records sent back to the consumer to come again later (their partition pauses), "
      "by reason.";
  constexpr std::string_view kOutputs = "point_tron_aggregator_outputs_total";
  constexpr std::string_view kOutputsHelp = "stats records acknowledged, by kind.";
  return AggregatorMetrics{
      .folded_blocks = registry.counter("point_tron_aggregator_folded_blocks_total",
                                        "Blocks folded into the statistics, re-folds after a "
                                        "rollback included."),
      .folded_height = registry.gauge("point_tron_aggregator_folded_height",
                                      "Height of the last folded block (0 before the first)."),
      .gap_height = registry.gauge("point_tron_aggregator_gap_height",
                                   "The missing height the fold waits for while later blocks are "
                                   "buffered; 0 when it waits for nothing."),
      .gap_age = registry.gauge("point_tron_aggregator_gap_age_seconds",
                                "How long the fold has been waiting for the missing height; 0 "
                                "without a gap."),
      .reorder_buffer = registry.gauge("point_tron_aggregator_reorder_buffer_blocks",
                                       "Blocks received ahead of the fold and buffered."),
      .rollbacks = registry.counter("point_tron_aggregator_rollbacks_total",
                                    "Forks undone by rolling the fold back."),
      .rolled_back_blocks = registry.counter("point_tron_aggregator_rolled_back_blocks_total",
                                             "Folded blocks removed by rollbacks."),
      .fold_duration = registry.histogram("point_tron_aggregator_fold_duration_seconds",
                                          "Time to parse and offer one blocks record to the "
                                          "fold, including every block it released.",
                                          pipeline::metrics::latencyBuckets()),
      .parity_z_score = registry.gauge("point_tron_aggregator_parity_z_score",
                                       "z-score of the odd count over the parity window at the "
                                       "folded tip (parity:<W>)."),
      .score = registry.gauge("point_tron_aggregator_score",
                              "Running score (+1 per even digit, -1 per odd) at the folded tip."),
      .day_odd_blocks = registry.gauge("point_tron_aggregator_day_blocks",
                                       "Blocks of the open day (aggregator.utc_offset), by "
                                       "parity of the digit.",
                                       {{"parity", "odd"}}),
      .day_even_blocks = registry.gauge("point_tron_aggregator_day_blocks",
                                        "Blocks of the open day (aggregator.utc_offset), by "
                                        "parity of the digit.",
                                        {{"parity", "even"}}),
      .day_witnesses = registry.gauge("point_tron_aggregator_day_witnesses",
                                      "Witnesses that produced a block on the open day."),
      .day_missed_slots = registry.gauge("point_tron_aggregator_day_missed_slots",
                                         "Missed slots of the open day."),
      .checkpoint_age = registry.gauge("point_tron_aggregator_checkpoint_age_seconds",
                                       "Age of the oldest fold change not yet in an "
                                       "acknowledged checkpoint; 0 when everything is saved."),
      .checkpoint_bytes = registry.gauge("point_tron_aggregator_checkpoint_bytes",
                                         "Size of the last checkpoint written."),
      .checkpoints = registry.counter("point_tron_aggregator_checkpoints_total",
                                      "Checkpoints acknowledged on aggregator.state."),
      .dropped_duplicate = registry.counter(kDropped, kDroppedHelp, {{"reason", "duplicate"}}),
      .dropped_too_old = registry.counter(kDropped, kDroppedHelp, {{"reason", "too_old"}}),
      .dropped_stale_retraction =
          registry.counter(kDropped, kDroppedHelp, {{"reason", "stale_retraction"}}),
      .deferred_buffer_full = registry.counter(kDeferred, kDeferredHelp, {{"reason", "buffer_full"}}),
      .deferred_not_owner = registry.counter(kDeferred, kDeferredHelp, {{"reason", "not_owner"}}),
      .output_values = registry.counter(kOutputs, kOutputsHelp, {{"kind", "value"}}),
      .output_tombstones = registry.counter(kOutputs, kOutputsHelp, {{"kind", "tombstone"}}),
  };
}

}  // namespace stages::aggregator
