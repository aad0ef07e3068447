#pragma once

#include "pipeline/metrics/registry.h"

namespace stages::aggregator {

/**
 * Aggregator-only metrics (the runtime already has the point_tron_stage_* set with
 * stage="aggregator"; sent events there are acknowledged `stats`, `aggregator.state` and `dlq`
 * records). Labels are bounded: `reason` and `kind` take the values listed at each field.
 * Resolved once at start-up; the references stay valid as long as the registry.
 */
struct AggregatorMetrics {
  pipeline::metrics::Counter& folded_blocks;       // point_tron_aggregator_folded_blocks_total
  pipeline::metrics::Gauge& folded_height;         // point_tron_aggregator_folded_height
  pipeline::metrics::Gauge& gap_height;            // point_tron_aggregator_gap_height
  pipeline::metrics::Gauge& gap_age;               // point_tron_aggregator_gap_age_seconds
  pipeline::metrics::Gauge& reorder_buffer;        // point_tron_aggregator_reorder_buffer_blocks
  pipeline::metrics::Counter& rollbacks;           // point_tron_aggregator_rollbacks_total
  pipeline::metrics::Counter& rolled_back_blocks;  // point_tron_aggregator_rolled_back_blocks_total
  pipeline::metrics::Histogram& fold_duration;     // point_tron_aggregator_fold_duration_seconds
  pipeline::metrics::Gauge& parity_z_score;        // point_tron_aggregator_parity_z_score
  pipeline::metrics::Gauge& score;                 // point_tron_aggregator_score
  /** point_tron_aggregator_day_blocks{parity}: odd, even — blocks of the open day. */
  pipeline::metrics::Gauge& day_odd_blocks;
  pipeline::metrics::Gauge& day_even_blocks;
  pipeline::metrics::Gauge& day_witnesses;         // point_tron_aggregator_day_witnesses
  pipeline::metrics::Gauge& day_missed_slots;      // point_tron_aggregator_day_missed_slots
  pipeline::metrics::Gauge& checkpoint_age;        // point_tron_aggregator_checkpoint_age_seconds
  pipeline::metrics::Gauge& checkpoint_bytes;      // point_tron_aggregator_checkpoint_bytes
  pipeline::metrics::Counter& checkpoints;         // point_tron_aggregator_checkpoints_total
  /** point_tron_aggregator_dropped_records_total{reason}: duplicate, too_old, stale_retraction. */
  pipeline::metrics::Counter& dropped_duplicate;
  pipeline::metrics::Counter& dropped_too_old;
  pipeline::metrics::Counter& dropped_stale_retraction;
  /** point_tron_aggregator_deferred_records_total{reason}: buffer_full, not_owner. */
  pipeline::metrics::Counter& deferred_buffer_full;
  pipeline::metrics::Counter& deferred_not_owner;
  /** point_tron_aggregator_outputs_total{kind}: value, tombstone. */
  pipeline::metrics::Counter& output_values;
  pipeline::metrics::Counter& output_tombstones;

  static AggregatorMetrics create(pipeline::metrics::Registry& registry);
};

}  // namespace stages::aggregator
