#pragma once

// Inputs and scaffolding shared by the persister's unit tests: block.v1 and stats values built
// like the decoder and the aggregator write them, a temporary directory, a fake EventSink.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/event_sink.h"
#include "pipeline/kafka/record.h"
#include "tests/support/fake_event_sink.h"
#include "tests/support/temp_dir.h"

namespace stages::persister::testing {

inline constexpr const char* kWitnessA = "TLyqzVGLV1srkB7dToTAEqgDSfPtXRJZYH";
inline constexpr const char* kWitnessAHex = "4178c842ee63b253f8f0d2955bbc582c661a078c9d";
inline constexpr const char* kWitnessB = "TKzxdSv2FZKQrEqkKVgp5DcwEXBEKMg2Ax";
inline constexpr const char* kWitnessBHex = "416c0214c9995c6f3a61ab23f0eb84b0cde7fd9c7c";

/** A block_id of `height` whose last digit is `digit`; `variant` tells fork siblings apart. */
inline std::string blockId(std::int64_t height, int digit, int variant = 0) {
  return fmt::format("{:016x}{:047x}{}", height, 0xabcdef00 + variant, digit);
}

/** A block.v1 value: digit = height % 10 unless told, timestamps 3 s apart from `base_ms`. */
inline std::string blockJson(std::int64_t height, std::int64_t timestamp_ms, int variant = 0) {
  const int digit = static_cast<int>(height % 10);
  return fmt::format(
      R"({{"schema":"block.v1","height":{},"block_id":"{}","parent_id":"{}","timestamp_ms":{},)"
      R"("witness":"{}","witness_hex":"{}","version":30,"tx_count":{},)"
      R"("tx_by_type":{{"TransferContract":2,"TriggerSmartContract":3}},"tx_failed":1,)"
      R"("trx_transferred_sun":"9223372036854775808","trc20_transfers":2,"usdt_transfers":2,)"
      R"("usdt_volume":"115792089237316195423570985008687907853269984665640564039457584007913129639935",)"
      R"("last_digit":{},"is_odd":{},"size_bytes":6021,"fetched_at_ms":1712345679412,)"
      R"("decoded_at_ms":1712345679420,"source":"https://api.trongrid.io"}})",
      height, blockId(height, digit, variant), blockId(height - 1, static_cast<int>((height + 9) % 10)),
      timestamp_ms, height % 2 == 0 ? kWitnessA : kWitnessB, height % 2 == 0 ? kWitnessAHex : kWitnessBHex,
      5, digit, digit % 2 == 1 ? "true" : "false");
}

inline std::string retractionJson(std::int64_t height, int variant = 0) {
  return fmt::format(R"({{"schema":"block.v1","removed":true,"height":{},"block_id":"{}"}})", height,
                     blockId(height, static_cast<int>(height % 10), variant));
}

inline std::string pointsJson(std::int64_t height, std::int64_t timestamp_ms, std::int64_t score,
                              int variant = 0) {
  const int digit = static_cast<int>(height % 10);
  return fmt::format(
      R"({{"schema":"stats.points.v1","height":{},"block_id":"{}","timestamp_ms":{},)"
      R"("last_digit":{},"is_odd":{},"point":{},"score":{}}})",
      height, blockId(height, digit, variant), timestamp_ms, digit, digit % 2 == 1 ? "true" : "false",
      digit % 2 == 1 ? -1 : 1, score);
}

inline std::string dailyJson(const std::string& date, std::int64_t start_ms, std::int64_t blocks,
                             std::int64_t first_height, std::int64_t score_close,
                             std::int64_t missed_slots = 0) {
  return fmt::format(
      R"({{"schema":"stats.daily.v1","date":"{}","utc_offset":"+00:00","start_ms":{},"blocks":{},)"
      R"("odd":{},"even":{},"odd_rate":0.5,"transactions":{},"failed_transactions":1,)"
      R"("trx_transferred_sun":"12345678901234567890","trc20_transfers":7,"usdt_transfers":5,)"
      R"("usdt_volume":"99","missed_slots":{},"first_height":{},"last_height":{},"score_close":{}}})",
      date, start_ms, blocks, blocks / 2, blocks - blocks / 2, blocks * 5, missed_slots, first_height,
      first_height + blocks - 1, score_close);
}

inline std::string hourlyJson(const std::string& hour, std::int64_t start_ms) {
  return fmt::format(
      R"({{"schema":"stats.hourly.v1","hour":"{}","utc_offset":"+00:00","start_ms":{},"blocks":10,)"
      R"("odd":4,"even":6,"odd_rate":0.4,"transactions":50,"failed_transactions":1,)"
      R"("trx_transferred_sun":"0","trc20_transfers":0,"usdt_transfers":0,"usdt_volume":"0",)"
      R"("missed_slots":0,"first_height":100,"last_height":109,"score_close":2}})",
      hour, start_ms);
}

inline std::string candleJson(const std::string& period, std::int64_t start, std::int64_t end,
                              std::int64_t open, std::int64_t high, std::int64_t low,
                              std::int64_t close, std::int64_t volume, std::int64_t first_height) {
  return fmt::format(
      R"({{"schema":"stats.candle.v1","period":"{}","start":{},"end":{},"open":{},"high":{},)"
      R"("low":{},"close":{},"volume":{},"first_height":{},"last_height":{}}})",
      period, start, end, open, high, low, close, volume, first_height, first_height + volume - 1);
}

inline std::string witnessJson(const std::string& date, const char* witness, const char* hex,
                               std::int64_t blocks, std::int64_t missed) {
  return fmt::format(
      R"({{"schema":"stats.witness.v1","date":"{}","witness":"{}","witness_hex":"{}","blocks":{},)"
      R"("missed_slots":{}}})",
      date, witness, hex, blocks, missed);
}

inline std::string parityJson(std::int64_t window, std::int64_t height) {
  return fmt::format(
      R"({{"schema":"stats.parity.v1","height":{},"window":{},"blocks":1000,"odd":532,)"
      R"("z_score":2.0238577025077626}})",
      height, window);
}

inline std::string metricJson(const std::string& stage, std::int64_t ts, double head_height) {
  return fmt::format(
      R"({{"schema":"metric.v1","ts":{},"stage":"{}","instance":"host-1","metrics":[)"
      R"({{"name":"point_tron_stage_received_events_total","labels":{{}},"value":3}},)"
      R"({{"name":"point_tron_stage_errors_total","labels":{{"error_type":"io","phase":"processing"}},"value":2}},)"
      R"({{"name":"point_tron_stage_errors_total","labels":{{"error_type":"kafka","phase":"sending"}},"value":1}},)"
      R"({{"name":"point_tron_health_status","labels":{{}},"value":1}},)"
      R"({{"name":"point_tron_loop_lag_seconds_sum","labels":{{}},"value":null}},)"
      R"({{"name":"point_tron_{}_head_height","labels":{{}},"value":{}}}]}})",
      ts, stage, stage, head_height);
}

/** Temporary directories of the persister's tests. */
using TempDir = testsupport::TempDir;
}  // namespace stages::persister::testing
