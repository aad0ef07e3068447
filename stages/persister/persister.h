#pragma once

#include <memory>

#include "pipeline/health/health.h"
#include "pipeline/kafka/record.h"
#include "pipeline/runtime.h"
#include "pipeline/uv/handle.h"
#include "stages/persister/backup/backup_service.h"
#include "stages/persister/batch_writer.h"
#include "stages/persister/persister_config.h"
#include "stages/persister/persister_metrics.h"
#include "stages/persister/query_api.h"
#include "stages/persister/sqlite_store.h"

namespace stages::persister {

/**
 * The persister process: the database (one write connection, one read-only connection), the
 * consumer of blocks, stats and metrics feeding a BatchWriter, the batch timer, the `sqlite`
 * health check, the query API on the runtime's HTTP server and the backups (BackupService).
 *
 * Batches: a batch is written when it holds persister.batch_max_records records, or
 * persister.batch_max_delay_ms after its first record arrived, whichever comes first; the
 * consumer's max_in_flight is twice the batch size, so a full batch never waits on backpressure.
 * While draining the timer keeps running, so records in flight are finished before the consumer
 * close deadline.
 *
 * Lifecycle: create() (blocking: opens and migrates the database, resolves the API token) →
 * start() (subscribes) → drain; kept alive by Runtime::keep. Loop thread only.
 */
class Persister {
 public:
  /** Errors: InvalidConfig (newer schema, token file readable by others), Io (data directory or
   * database unusable), the runtime's (timer). */
  [[nodiscard]] static pipeline::Result<std::shared_ptr<Persister>> create(pipeline::Runtime& rt,
                                                                           PersisterConfig config);

  /** Adds the API routes and the health check and starts consuming. */
  [[nodiscard]] pipeline::Status start();

 private:
  Persister(pipeline::Runtime& rt, PersisterConfig config);
  void add(const pipeline::kafka::Record& record, BatchWriter::Finish finish);
  void flush();
  // Database health and the free space of its file system, as gauges (every kGaugeIntervalMs).
  void updateGauges();
  static constexpr std::uint64_t kGaugeIntervalMs = 5000;

  pipeline::Runtime& rt_;
  PersisterConfig config_;
  PersisterMetrics metrics_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<SqliteQueries> queries_;
  std::unique_ptr<BatchWriter> writer_;
  std::unique_ptr<QueryApi> api_;
  std::unique_ptr<backup::BackupService> backups_;
  pipeline::uv::Timer batch_timer_;
  pipeline::uv::Timer gauge_timer_;
  bool timer_armed_ = false;
};

}  // namespace stages::persister
