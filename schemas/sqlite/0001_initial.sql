-- point-tron persister schema, version 1. Applied by stages/persister/sqlite_store.cc inside one
-- transaction together with its schema_version row. Every table the query API reads has the
-- index its queries need (docs/api.md); none of them scans a table.

CREATE TABLE schema_version (
  version       INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  applied_at_ms INTEGER NOT NULL
);

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per height of the current chain, from block.v1 on `blocks`. A retraction deletes the
-- row if it still holds the retracted block_id; a later block at the same height replaces it.
CREATE TABLE blocks (
  height              INTEGER PRIMARY KEY,
  block_id            TEXT    NOT NULL,
  parent_id           TEXT    NOT NULL,
  timestamp_ms        INTEGER NOT NULL,
  witness             TEXT    NOT NULL,
  witness_hex         TEXT    NOT NULL,
  version             INTEGER NOT NULL,
  tx_count            INTEGER NOT NULL,
  tx_by_type          TEXT    NOT NULL,  -- JSON object, as block.v1 carries it
  tx_failed           INTEGER NOT NULL,
  trx_transferred_sun TEXT    NOT NULL,  -- exact decimal
  trc20_transfers     INTEGER NOT NULL,
  usdt_transfers      INTEGER NOT NULL,
  usdt_volume         TEXT    NOT NULL,  -- exact decimal (uint256-sized)
  last_digit          INTEGER NOT NULL,
  is_odd              INTEGER NOT NULL,
  size_bytes          INTEGER NOT NULL,
  fetched_at_ms       INTEGER,
  decoded_at_ms       INTEGER NOT NULL,
  source              TEXT    NOT NULL
);
-- Retention deletes by block time.
CREATE INDEX blocks_by_time ON blocks (timestamp_ms);

-- stats.points.v1 (`points:<height>`): the aggregator's point and running score of a height.
-- Kept apart from `blocks` because the two arrive on different topics in any order; readers
-- join on height and block_id, so a point of an orphaned block never decorates its successor.
CREATE TABLE points (
  height       INTEGER PRIMARY KEY,
  block_id     TEXT    NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  last_digit   INTEGER NOT NULL,
  is_odd       INTEGER NOT NULL,
  point        INTEGER NOT NULL,
  score        INTEGER NOT NULL
);
CREATE INDEX points_by_time ON points (timestamp_ms);

-- stats.daily.v1 (`daily:<date>`); `today` is found through start_ms.
CREATE TABLE daily_stats (
  date                TEXT    PRIMARY KEY,
  utc_offset          TEXT    NOT NULL,
  start_ms            INTEGER NOT NULL,
  blocks              INTEGER NOT NULL,
  odd                 INTEGER NOT NULL,
  even                INTEGER NOT NULL,
  odd_rate            REAL    NOT NULL,
  transactions        INTEGER NOT NULL,
  failed_transactions INTEGER NOT NULL,
  trx_transferred_sun TEXT    NOT NULL,
  trc20_transfers     INTEGER NOT NULL,
  usdt_transfers      INTEGER NOT NULL,
  usdt_volume         TEXT    NOT NULL,
  missed_slots        INTEGER NOT NULL,
  first_height        INTEGER NOT NULL,
  last_height         INTEGER NOT NULL,
  score_close         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX daily_stats_by_start ON daily_stats (start_ms);

-- stats.hourly.v1 (`hourly:<hour>`).
CREATE TABLE hourly_stats (
  hour                TEXT    PRIMARY KEY,
  utc_offset          TEXT    NOT NULL,
  start_ms            INTEGER NOT NULL,
  blocks              INTEGER NOT NULL,
  odd                 INTEGER NOT NULL,
  even                INTEGER NOT NULL,
  odd_rate            REAL    NOT NULL,
  transactions        INTEGER NOT NULL,
  failed_transactions INTEGER NOT NULL,
  trx_transferred_sun TEXT    NOT NULL,
  trc20_transfers     INTEGER NOT NULL,
  usdt_transfers      INTEGER NOT NULL,
  usdt_volume         TEXT    NOT NULL,
  missed_slots        INTEGER NOT NULL,
  first_height        INTEGER NOT NULL,
  last_height         INTEGER NOT NULL,
  score_close         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX hourly_stats_by_start ON hourly_stats (start_ms);

-- stats.candle.v1 (`candle:<period>:<start>`); the primary key serves "the last N of a period".
CREATE TABLE candles (
  period       TEXT    NOT NULL,
  start        INTEGER NOT NULL,
  end          INTEGER NOT NULL,
  open         INTEGER NOT NULL,
  high         INTEGER NOT NULL,
  low          INTEGER NOT NULL,
  close        INTEGER NOT NULL,
  volume       INTEGER NOT NULL,
  first_height INTEGER NOT NULL,
  last_height  INTEGER NOT NULL,
  PRIMARY KEY (period, start)
) WITHOUT ROWID;

-- stats.witness.v1 (`witness:<date>:<address>`).
CREATE TABLE witness_stats (
  date         TEXT    NOT NULL,
  witness      TEXT    NOT NULL,
  witness_hex  TEXT    NOT NULL,
  blocks       INTEGER NOT NULL,
  missed_slots INTEGER NOT NULL,
  PRIMARY KEY (date, witness)
) WITHOUT ROWID;

-- stats.parity.v1 (`parity:<window>`).
CREATE TABLE parity (
  window  INTEGER PRIMARY KEY,
  height  INTEGER NOT NULL,
  blocks  INTEGER NOT NULL,
  odd     INTEGER NOT NULL,
  z_score REAL    NOT NULL
);

-- The next Kafka offset of every partition whose records are in this database, written in the
-- same transaction as the rows: the consumer seeks here on every assignment (exactly-once).
CREATE TABLE kafka_offsets (
  topic       TEXT    NOT NULL,
  partition   INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)
) WITHOUT ROWID;

-- The latest metric.v1 batch of every stage instance, reduced to the figures the status route
-- shows. `heights` is a JSON object of the batch's *_height gauges.
CREATE TABLE stage_status (
  stage                 TEXT    NOT NULL,
  instance              TEXT    NOT NULL,
  ts_ms                 INTEGER NOT NULL,
  received_events       REAL,
  sent_events           REAL,
  errors                REAL,
  discarded_events      REAL,
  bugs                  REAL,
  in_flight_events      REAL,
  health_status         REAL,
  consumer_lag_messages REAL,
  heights               TEXT    NOT NULL,
  PRIMARY KEY (stage, instance)
) WITHOUT ROWID;

-- Catalogue of database backups (written by the backup job; empty until it exists).
CREATE TABLE backups (
  id             INTEGER PRIMARY KEY,
  started_at_ms  INTEGER NOT NULL,
  finished_at_ms INTEGER,
  location       TEXT    NOT NULL,
  size_bytes     INTEGER,
  sha256         TEXT,
  status         TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  verified       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX backups_by_finish ON backups (status, finished_at_ms);
