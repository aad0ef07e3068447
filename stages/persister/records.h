#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pipeline/status.h"

namespace stages::persister {

/** Which input topic a record came from (the base name without the prefix). */
enum class Input { Blocks, Stats, Metrics };

/** A block.v1 block (schemas/block.v1.schema.json): one row of `blocks`. */
struct BlockRow {
  std::int64_t height = 0;
  std::string block_id;
  std::string parent_id;
  std::int64_t timestamp_ms = 0;
  std::string witness;
  std::string witness_hex;
  std::int64_t version = 0;
  std::int64_t tx_count = 0;
  std::string tx_by_type = "{}";  // the JSON object as received (re-serialised compactly)
  std::int64_t tx_failed = 0;
  std::string trx_transferred_sun = "0";
  std::int64_t trc20_transfers = 0;
  std::int64_t usdt_transfers = 0;
  std::string usdt_volume = "0";
  std::int64_t last_digit = 0;
  bool is_odd = false;
  std::int64_t size_bytes = 0;
  std::optional<std::int64_t> fetched_at_ms;
  std::int64_t decoded_at_ms = 0;
  std::string source;

  friend bool operator==(const BlockRow&, const BlockRow&) = default;
};

/** block.v1 `{"removed":true}`: the block `block_id` at `height` left the chain. */
struct BlockRetraction {
  std::int64_t height = 0;
  std::string block_id;
};

/** stats.points.v1. */
struct PointsRow {
  std::int64_t height = 0;
  std::string block_id;
  std::int64_t timestamp_ms = 0;
  std::int64_t last_digit = 0;
  bool is_odd = false;
  std::int64_t point = 0;
  std::int64_t score = 0;
};

/** stats.daily.v1 and stats.hourly.v1 share their figures; `bucket` is the date or the hour. */
struct BucketRow {
  std::string bucket;
  std::string utc_offset;
  std::int64_t start_ms = 0;
  std::int64_t blocks = 0;
  std::int64_t odd = 0;
  std::int64_t even = 0;
  double odd_rate = 0;
  std::int64_t transactions = 0;
  std::int64_t failed_transactions = 0;
  std::string trx_transferred_sun = "0";
  std::int64_t trc20_transfers = 0;
  std::int64_t usdt_transfers = 0;
  std::string usdt_volume = "0";
  std::int64_t missed_slots = 0;
  std::int64_t first_height = 0;
  std::int64_t last_height = 0;
  std::int64_t score_close = 0;
};
struct DailyRow : BucketRow {};
struct HourlyRow : BucketRow {};

/** stats.candle.v1. */
struct CandleRow {
  std::string period;
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::int64_t open = 0;
  std::int64_t high = 0;
  std::int64_t low = 0;
  std::int64_t close = 0;
  std::int64_t volume = 0;
  std::int64_t first_height = 0;
  std::int64_t last_height = 0;
};

/** stats.witness.v1. */
struct WitnessRow {
  std::string date;
  std::string witness;
  std::string witness_hex;
  std::int64_t blocks = 0;
  std::int64_t missed_slots = 0;
};

/** stats.parity.v1. */
struct ParityRow {
  std::int64_t window = 0;
  std::int64_t height = 0;
  std::int64_t blocks = 0;
  std::int64_t odd = 0;
  double z_score = 0;
};

/** What a `stats` key names: the table and the row a tombstone deletes. */
struct StatsKey {
  enum class Kind { Points, Daily, Hourly, Candle, Witness, Parity };
  Kind kind = Kind::Points;
  std::string text;     // date, hour, candle period or witness date
  std::string address;  // the witness of a witness key
  std::int64_t number = 0;  // height, candle start or parity window
};

/** A `stats` tombstone (null value): delete the row the key names. */
struct StatsDeletion {
  StatsKey key;
};

/** The figures of one metric.v1 batch that /api/system/status shows (null when absent). */
struct StageStatusRow {
  std::string stage;
  std::string instance;
  std::int64_t ts_ms = 0;
  std::optional<double> received_events;
  std::optional<double> sent_events;
  std::optional<double> errors;  // sum over every error_type and phase
  std::optional<double> discarded_events;
  std::optional<double> bugs;
  std::optional<double> in_flight_events;
  std::optional<double> health_status;
  std::optional<double> consumer_lag_messages;  // sum over partitions
  std::string heights = "{}";  // JSON object: every *_height gauge of the batch
};

/** One change to the database, made from one record. */
using Mutation = std::variant<BlockRow, BlockRetraction, PointsRow, DailyRow, HourlyRow, CandleRow,
                              WitnessRow, ParityRow, StatsDeletion, StageStatusRow>;

/** Parses a `stats` key (`points:<h>`, `daily:<date>`, …; docs/statistics.md §8). */
[[nodiscard]] pipeline::Result<StatsKey> parseStatsKey(std::string_view key);

/** True for `YYYY-MM-DD` naming a real calendar day. */
bool isCalendarDate(std::string_view text) noexcept;

/**
 * Turns the value of a record of `blocks`, `stats` or `metrics` into the Mutation it asks for.
 * Validates what the database relies on (types, required fields, the stats key agreeing with the
 * value); unknown fields are ignored (additive changes within v1). A `stats` record with an empty
 * value is a tombstone; on `metrics` only metric.v1 values are accepted.
 *
 * Errors: InvalidPayload with a one-line reason starting with a machine code (`invalid_json`,
 * `wrong_schema`, `missing_field:<name>`, `bad_field:<name>`, `bad_key`, `key_mismatch`): the
 * DLQ `error` header. Keeps simdjson's buffers between calls: one instance per thread.
 */
class RecordParser {
 public:
  RecordParser();
  ~RecordParser();
  RecordParser(RecordParser&&) noexcept;
  RecordParser& operator=(RecordParser&&) noexcept;

  [[nodiscard]] pipeline::Result<Mutation> parse(Input input, std::string_view key,
                                                 std::string_view value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stages::persister
