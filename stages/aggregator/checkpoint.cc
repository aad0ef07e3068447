#include "stages/aggregator/checkpoint.h"

#include <simdjson.h>

#include "pipeline/json.h"

namespace stages::aggregator {
namespace {

using pipeline::json::Writer;
using simdjson::dom::array;
using simdjson::dom::element;

// Arrays instead of objects for the repeated parts keep the value small (the blocks since the
// base snapshot are up to 2 × rollback_depth_blocks).

void writePeriod(Writer& w, const std::optional<PeriodStats>& stats) {
  if (!stats) {
    w.null();
    return;
  }
  w.beginArray()
      .value(stats->index)
      .value(stats->blocks)
      .value(stats->odd)
      .value(stats->transactions)
      .value(stats->failed_transactions)
      .value(stats->trx_transferred_sun.toDecimal())
      .value(stats->trc20_transfers)
      .value(stats->usdt_transfers)
      .value(stats->usdt_volume.toDecimal())
      .value(stats->missed_slots)
      .value(stats->first_height)
      .value(stats->last_height)
      .value(stats->score_close)
      .endArray();
}

void writeState(Writer& w, const FoldState& state) {
  w.beginObject()
      .field("next_height", state.next_height)
      .field("has_tip", state.has_tip)
      .field("tip_block_id", state.tip_block_id)
      .field("tip_bucket_ms", state.tip_bucket_ms)
      .field("tip_witness", state.tip_witness)
      .field("score", state.score);
  w.key("day");
  writePeriod(w, state.day);
  w.key("hour");
  writePeriod(w, state.hour);
  w.key("day_witnesses").beginArray();
  for (const auto& [name, figures] : state.day_witnesses) {
    w.beginArray().value(name).value(figures.witness_hex).value(figures.blocks).value(figures.missed_slots).endArray();
  }
  w.endArray();
  w.key("candles").beginArray();
  for (const auto& candle : state.candles) {
    if (!candle) {
      w.null();
      continue;
    }
    w.beginArray()
        .value(candle->start)
        .value(candle->open)
        .value(candle->high)
        .value(candle->low)
        .value(candle->close)
        .value(candle->volume)
        .value(candle->first_height)
        .value(candle->last_height)
        .endArray();
  }
  w.endArray();
  std::string bits;
  bits.reserve(state.parity.ring.size());
  for (auto bit : state.parity.ring) bits.push_back(bit != 0 ? '1' : '0');
  w.key("parity").beginObject().field("bits", bits).field("next", std::uint64_t{state.parity.next}).endObject();
  w.key("rotation").beginArray();
  for (const auto& [name, successor] : state.rotation) {
    w.beginArray().value(name).value(successor.witness).value(successor.witness_hex).endArray();
  }
  w.endArray();
  w.endObject();
}

void writeBlock(Writer& w, const BlockInput& block) {
  w.beginArray()
      .value(block.height)
      .value(block.block_id)
      .value(block.parent_id)
      .value(block.timestamp_ms)
      .value(block.witness)
      .value(block.witness_hex)
      .value(block.tx_count)
      .value(block.tx_failed)
      .value(block.trx_transferred_sun)
      .value(block.trc20_transfers)
      .value(block.usdt_transfers)
      .value(block.usdt_volume)
      .endArray();
}

// Reads fields and array items in order, remembering the first failure by name; reads after a
// failure return defaults, so decoding code stays linear and reports one precise error.
class Reader {
 public:
  template <typename T>
  T get(element value, std::string_view what) {
    T out{};
    if (!error_.empty()) return out;
    if constexpr (std::is_same_v<T, std::string>) {
      std::string_view text;
      if (value.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (value.get_bool().get(out) == simdjson::SUCCESS) return out;
    } else if constexpr (std::is_signed_v<T>) {
      std::int64_t number = 0;
      if (value.get_int64().get(number) == simdjson::SUCCESS) return static_cast<T>(number);
    } else {
      std::uint64_t number = 0;
      if (value.get_uint64().get(number) == simdjson::SUCCESS) return static_cast<T>(number);
    }
    fail(what);
    return out;
  }

  element field(element object, std::string_view name) {
    element value;
    if (error_.empty() && object[name].get(value) != simdjson::SUCCESS) fail(name);
    return value;
  }

  /** The items of an array of exactly `size` items (any size when 0). */
  std::vector<element> items(element value, std::string_view what, std::size_t size = 0) {
    std::vector<element> out;
    array list;
    if (!error_.empty()) return out;
    if (value.get_array().get(list) != simdjson::SUCCESS) {
      fail(what);
      return out;
    }
    for (element item : list) out.push_back(item);
    if (size != 0 && out.size() != size) {
      fail(what);
      out.clear();
    }
    return out;
  }

  void sum(element value, std::string_view what, pipeline::AmountSum& out) {
    const auto text = get<std::string>(value, what);
    if (error_.empty() && !out.addDecimal(text)) fail(what);
  }

  void fail(std::string_view what) {
    if (error_.empty()) error_ = std::string(what);
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

std::optional<PeriodStats> readPeriod(Reader& r, element value, std::string_view what) {
  if (!r.error().empty() || value.is_null()) return std::nullopt;  // after a failure `value` is empty
  const auto f = r.items(value, what, 13);
  if (f.empty()) return std::nullopt;
  PeriodStats stats;
  stats.index = r.get<std::int64_t>(f[0], what);
  stats.blocks = r.get<std::uint64_t>(f[1], what);
  stats.odd = r.get<std::uint64_t>(f[2], what);
  stats.transactions = r.get<std::uint64_t>(f[3], what);
  stats.failed_transactions = r.get<std::uint64_t>(f[4], what);
  r.sum(f[5], what, stats.trx_transferred_sun);
  stats.trc20_transfers = r.get<std::uint64_t>(f[6], what);
  stats.usdt_transfers = r.get<std::uint64_t>(f[7], what);
  r.sum(f[8], what, stats.usdt_volume);
  stats.missed_slots = r.get<std::uint64_t>(f[9], what);
  stats.first_height = r.get<std::uint64_t>(f[10], what);
  stats.last_height = r.get<std::uint64_t>(f[11], what);
  stats.score_close = r.get<std::int64_t>(f[12], what);
  return stats;
}

FoldState readState(Reader& r, element value) {
  FoldState state;
  state.next_height = r.get<std::uint64_t>(r.field(value, "next_height"), "next_height");
  state.has_tip = r.get<bool>(r.field(value, "has_tip"), "has_tip");
  state.tip_block_id = r.get<std::string>(r.field(value, "tip_block_id"), "tip_block_id");
  state.tip_bucket_ms = r.get<std::int64_t>(r.field(value, "tip_bucket_ms"), "tip_bucket_ms");
  state.tip_witness = r.get<std::string>(r.field(value, "tip_witness"), "tip_witness");
  state.score = r.get<std::int64_t>(r.field(value, "score"), "score");
  state.day = readPeriod(r, r.field(value, "day"), "day");
  state.hour = readPeriod(r, r.field(value, "hour"), "hour");
  for (element item : r.items(r.field(value, "day_witnesses"), "day_witnesses")) {
    const auto f = r.items(item, "day_witnesses", 4);
    if (f.empty()) break;
    auto& figures = state.day_witnesses[r.get<std::string>(f[0], "day_witnesses")];
    figures.witness_hex = r.get<std::string>(f[1], "day_witnesses");
    figures.blocks = r.get<std::uint64_t>(f[2], "day_witnesses");
    figures.missed_slots = r.get<std::uint64_t>(f[3], "day_witnesses");
  }
  const auto candles = r.items(r.field(value, "candles"), "candles", kCandlePeriods);
  for (std::size_t i = 0; i < candles.size(); ++i) {
    if (candles[i].is_null()) continue;
    const auto f = r.items(candles[i], "candles", 8);
    if (f.empty()) break;
    state.candles[i] = Candle{r.get<std::int64_t>(f[0], "candles"), r.get<std::int64_t>(f[1], "candles"),
                              r.get<std::int64_t>(f[2], "candles"), r.get<std::int64_t>(f[3], "candles"),
                              r.get<std::int64_t>(f[4], "candles"), r.get<std::uint64_t>(f[5], "candles"),
                              r.get<std::uint64_t>(f[6], "candles"), r.get<std::uint64_t>(f[7], "candles")};
  }
  const element parity = r.field(value, "parity");
  for (char bit : r.get<std::string>(r.field(parity, "bits"), "parity.bits")) {
    if (bit != '0' && bit != '1') r.fail("parity.bits");
    state.parity.ring.push_back(bit == '1' ? 1 : 0);
    state.parity.odd += bit == '1' ? 1 : 0;
  }
  state.parity.next = r.get<std::size_t>(r.field(parity, "next"), "parity.next");
  if (!state.parity.ring.empty() && state.parity.next >= state.parity.ring.size()) r.fail("parity.next");
  for (element item : r.items(r.field(value, "rotation"), "rotation")) {
    const auto f = r.items(item, "rotation", 3);
    if (f.empty()) break;
    state.rotation[r.get<std::string>(f[0], "rotation")] =
        RotationSuccessor{r.get<std::string>(f[1], "rotation"), r.get<std::string>(f[2], "rotation")};
  }
  return state;
}

BlockInput readBlock(Reader& r, element value) {
  BlockInput block;
  const auto f = r.items(value, "blocks", 12);
  if (f.empty()) return block;
  block.height = r.get<std::uint64_t>(f[0], "blocks");
  block.block_id = r.get<std::string>(f[1], "blocks");
  block.parent_id = r.get<std::string>(f[2], "blocks");
  block.timestamp_ms = r.get<std::int64_t>(f[3], "blocks");
  block.witness = r.get<std::string>(f[4], "blocks");
  block.witness_hex = r.get<std::string>(f[5], "blocks");
  block.tx_count = r.get<std::uint64_t>(f[6], "blocks");
  block.tx_failed = r.get<std::uint64_t>(f[7], "blocks");
  block.trx_transferred_sun = r.get<std::string>(f[8], "blocks");
  block.trc20_transfers = r.get<std::uint64_t>(f[9], "blocks");
  block.usdt_transfers = r.get<std::uint64_t>(f[10], "blocks");
  block.usdt_volume = r.get<std::string>(f[11], "blocks");
  const auto digit = lastDigitOf(block.block_id);
  if (!digit) r.fail("blocks");
  block.last_digit = digit.value_or(0);
  block.is_odd = block.last_digit % 2 == 1;
  return block;
}

}  // namespace

std::string encodeCheckpoint(const Checkpoint& checkpoint) {
  Writer w;
  w.beginObject()
      .field("version", kCheckpointVersion)
      .field("start_height", checkpoint.start_height)
      .field("utc_offset", checkpoint.utc_offset.text)
      .field("parity_window_blocks", checkpoint.parity_window_blocks);
  w.key("resume_offsets").beginArray();
  for (const auto& [partition, offset] : checkpoint.resume_offsets) {
    w.beginArray().value(partition).value(offset).endArray();
  }
  w.endArray();
  w.key("base");
  writeState(w, checkpoint.base);
  w.key("blocks").beginArray();
  for (const auto& block : checkpoint.blocks) writeBlock(w, block);
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

pipeline::Result<Checkpoint> decodeCheckpoint(std::string_view value) {
  const auto invalid = [](std::string message) {
    return pipeline::Error{pipeline::ErrorType::InvalidPayload, "checkpoint: " + message};
  };
  simdjson::dom::parser parser;
  element root;
  if (parser.parse(value.data(), value.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return invalid("not a JSON object");
  }
  Reader r;
  const auto version = r.get<std::uint64_t>(r.field(root, "version"), "version");
  if (!r.error().empty()) return invalid("missing or bad field " + r.error());
  if (version != kCheckpointVersion) {
    return invalid("unsupported version " + std::to_string(version) + " (this build reads " +
                   std::to_string(kCheckpointVersion) + ")");
  }
  Checkpoint checkpoint;
  checkpoint.start_height = r.get<std::uint64_t>(r.field(root, "start_height"), "start_height");
  const auto offset_text = r.get<std::string>(r.field(root, "utc_offset"), "utc_offset");
  checkpoint.parity_window_blocks =
      r.get<std::uint32_t>(r.field(root, "parity_window_blocks"), "parity_window_blocks");
  for (element item : r.items(r.field(root, "resume_offsets"), "resume_offsets")) {
    const auto f = r.items(item, "resume_offsets", 2);
    if (f.empty()) break;
    checkpoint.resume_offsets[r.get<std::int32_t>(f[0], "resume_offsets")] =
        r.get<std::int64_t>(f[1], "resume_offsets");
  }
  checkpoint.base = readState(r, r.field(root, "base"));
  for (element item : r.items(r.field(root, "blocks"), "blocks")) {
    checkpoint.blocks.push_back(readBlock(r, item));
  }
  if (!r.error().empty()) return invalid("missing or bad field " + r.error());
  auto offset = UtcOffset::parse(offset_text);
  if (!offset) return invalid("utc_offset " + offset.error().message);
  checkpoint.utc_offset = *offset;
  return checkpoint;
}

}  // namespace stages::aggregator
