#include "stages/persister/records.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "pipeline/json.h"

namespace stages::persister {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr std::size_t kMaxDecimalDigits = 80;  // defs.schema.json#/$defs/decimal
constexpr std::array<std::string_view, 7> kCandlePeriods = {"1m", "5m", "15m", "1h",
                                                            "4h", "1d", "20b"};

Error invalid(std::string message) { return Error{ErrorType::InvalidPayload, std::move(message)}; }
Error missing(std::string_view field) { return invalid("missing_field:" + std::string(field)); }
Error bad(std::string_view field, std::string_view why) {
  return invalid("bad_field:" + std::string(field) + " (" + std::string(why) + ")");
}

bool isDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool isDecimal(std::string_view text) {
  if (!isDigits(text) || text.size() > kMaxDecimalDigits) return false;
  return text.size() == 1 || text.front() != '0';
}

bool isTAddress(std::string_view text) {
  return text.size() == 34 && text.front() == 'T' &&
         std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '1' && c <= '9') || (c >= 'A' && c <= 'H') || (c >= 'J' && c <= 'N') ||
                  (c >= 'P' && c <= 'Z') || (c >= 'a' && c <= 'k') || (c >= 'm' && c <= 'z');
         });
}

std::optional<std::int64_t> parseNonNegative(std::string_view text) {
  if (!isDigits(text)) return std::nullopt;
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

bool isHour(std::string_view text) {
  if (text.size() != 13 || text[10] != 'T' || !isCalendarDate(text.substr(0, 10))) return false;
  const auto hour = parseNonNegative(text.substr(11));
  return hour && *hour < 24;
}

// Field readers over one JSON object; each returns the error naming the field, or nullopt.
class Fields {
 public:
  explicit Fields(const object& value) : value_(value) {}

  std::optional<Error> string(std::string_view field, std::string& out) const {
    element found;
    if (value_[field].get(found) != simdjson::SUCCESS) return missing(field);
    std::string_view text;
    if (found.get_string().get(text) != simdjson::SUCCESS) return bad(field, "not a string");
    out.assign(text);
    return std::nullopt;
  }
  std::optional<Error> integer(std::string_view field, std::int64_t& out) const {
    element found;
    if (value_[field].get(found) != simdjson::SUCCESS) return missing(field);
    if (found.get_int64().get(out) != simdjson::SUCCESS) return bad(field, "not a 64-bit integer");
    return std::nullopt;
  }
  std::optional<Error> count(std::string_view field, std::int64_t& out) const {
    if (auto error = integer(field, out)) return error;
    if (out < 0) return bad(field, "negative");
    return std::nullopt;
  }
  std::optional<Error> real(std::string_view field, double& out) const {
    element found;
    if (value_[field].get(found) != simdjson::SUCCESS) return missing(field);
    if (found.get_double().get(out) != simdjson::SUCCESS || !std::isfinite(out)) {
      return bad(field, "not a number");
    }
    return std::nullopt;
  }
  std::optional<Error> boolean(std::string_view field, bool& out) const {
    element found;
    if (value_[field].get(found) != simdjson::SUCCESS) return missing(field);
    if (found.get_bool().get(out) != simdjson::SUCCESS) return bad(field, "not a boolean");
    return std::nullopt;
  }
  std::optional<Error> hash(std::string_view field, std::string& out) const {
    if (auto error = string(field, out)) return error;
    if (out.size() != 64 || !isLowerHex(out)) return bad(field, "not 64 lower-case hex digits");
    return std::nullopt;
  }
  std::optional<Error> decimal(std::string_view field, std::string& out) const {
    if (auto error = string(field, out)) return error;
    if (!isDecimal(out)) return bad(field, "not a decimal string");
    return std::nullopt;
  }
  std::optional<Error> tAddress(std::string_view field, std::string& out) const {
    if (auto error = string(field, out)) return error;
    if (!isTAddress(out)) return bad(field, "not a T-address");
    return std::nullopt;
  }
  std::optional<Error> hexAddress(std::string_view field, std::string& out) const {
    if (auto error = string(field, out)) return error;
    if (out.size() != 42 || !out.starts_with("41") || !isLowerHex(out)) {
      return bad(field, "not a 41-prefixed hex address");
    }
    return std::nullopt;
  }

 private:
  const object& value_;
};

std::optional<Error> firstError(std::initializer_list<std::optional<Error>> errors) {
  for (const auto& error : errors) {
    if (error) return error;
  }
  return std::nullopt;
}

Result<Mutation> readBlock(const object& value) {
  const Fields fields(value);
  bool removed = false;
  element removed_field;
  if (value["removed"].get(removed_field) == simdjson::SUCCESS &&
      removed_field.get_bool().get(removed) != simdjson::SUCCESS) {
    return bad("removed", "not a boolean");
  }
  if (removed) {
    BlockRetraction retraction;
    if (auto error = firstError({fields.count("height", retraction.height),
                                 fields.hash("block_id", retraction.block_id)})) {
      return *error;
    }
    return Mutation{std::move(retraction)};
  }
  BlockRow block;
  if (auto error = firstError({
          fields.count("height", block.height),
          fields.hash("block_id", block.block_id),
          fields.hash("parent_id", block.parent_id),
          fields.count("timestamp_ms", block.timestamp_ms),
          fields.tAddress("witness", block.witness),
          fields.hexAddress("witness_hex", block.witness_hex),
          fields.count("version", block.version),
          fields.count("tx_count", block.tx_count),
          fields.count("tx_failed", block.tx_failed),
          fields.decimal("trx_transferred_sun", block.trx_transferred_sun),
          fields.count("trc20_transfers", block.trc20_transfers),
          fields.count("usdt_transfers", block.usdt_transfers),
          fields.decimal("usdt_volume", block.usdt_volume),
          fields.count("last_digit", block.last_digit),
          fields.boolean("is_odd", block.is_odd),
          fields.count("size_bytes", block.size_bytes),
          fields.count("decoded_at_ms", block.decoded_at_ms),
          fields.string("source", block.source),
      })) {
    return *error;
  }
  if (block.last_digit > 9) return bad("last_digit", "not a digit");
  element by_type;
  if (value["tx_by_type"].get(by_type) != simdjson::SUCCESS) return missing("tx_by_type");
  object types;
  if (by_type.get_object().get(types) != simdjson::SUCCESS) return bad("tx_by_type", "not an object");
  for (auto entry : types) {
    std::int64_t n = 0;
    if (entry.value.get_int64().get(n) != simdjson::SUCCESS || n < 1) {
      return bad("tx_by_type", "counts must be positive integers");
    }
  }
  block.tx_by_type = simdjson::to_string(by_type);
  element fetched;
  if (value["fetched_at_ms"].get(fetched) != simdjson::SUCCESS) return missing("fetched_at_ms");
  if (!fetched.is_null()) {
    std::int64_t ms = 0;
    if (fetched.get_int64().get(ms) != simdjson::SUCCESS || ms < 0) {
      return bad("fetched_at_ms", "not a time or null");
    }
    block.fetched_at_ms = ms;
  }
  return Mutation{std::move(block)};
}

std::optional<Error> readBucket(const Fields& fields, BucketRow& row) {
  return firstError({
      fields.string("utc_offset", row.utc_offset),
      fields.count("start_ms", row.start_ms),
      fields.count("blocks", row.blocks),
      fields.count("odd", row.odd),
      fields.count("even", row.even),
      fields.real("odd_rate", row.odd_rate),
      fields.count("transactions", row.transactions),
      fields.count("failed_transactions", row.failed_transactions),
      fields.decimal("trx_transferred_sun", row.trx_transferred_sun),
      fields.count("trc20_transfers", row.trc20_transfers),
      fields.count("usdt_transfers", row.usdt_transfers),
      fields.decimal("usdt_volume", row.usdt_volume),
      fields.count("missed_slots", row.missed_slots),
      fields.count("first_height", row.first_height),
      fields.count("last_height", row.last_height),
      fields.integer("score_close", row.score_close),
  });
}

Error keyMismatch(std::string_view field) {
  return invalid("key_mismatch (the key disagrees with " + std::string(field) + ")");
}

Result<Mutation> readStats(const StatsKey& key, std::string_view schema, const object& value) {
  const Fields fields(value);
  using Kind = StatsKey::Kind;
  const auto expect = [&](std::string_view wanted) -> std::optional<Error> {
    if (schema != wanted) {
      return invalid("wrong_schema (key needs " + std::string(wanted) + ", got " +
                     std::string(schema) + ")");
    }
    return std::nullopt;
  };
  switch (key.kind) {
    case Kind::Points: {
      if (auto error = expect("stats.points.v1")) return *error;
      PointsRow row;
      if (auto error = firstError({fields.count("height", row.height),
                                   fields.hash("block_id", row.block_id),
                                   fields.count("timestamp_ms", row.timestamp_ms),
                                   fields.count("last_digit", row.last_digit),
                                   fields.boolean("is_odd", row.is_odd),
                                   fields.integer("point", row.point),
                                   fields.integer("score", row.score)})) {
        return *error;
      }
      if (row.point != 1 && row.point != -1) return bad("point", "not +1 or -1");
      if (row.height != key.number) return keyMismatch("height");
      return Mutation{std::move(row)};
    }
    case Kind::Daily:
    case Kind::Hourly: {
      const bool daily = key.kind == Kind::Daily;
      if (auto error = expect(daily ? "stats.daily.v1" : "stats.hourly.v1")) return *error;
      BucketRow row;
      if (auto error = fields.string(daily ? "date" : "hour", row.bucket)) return *error;
      if (auto error = readBucket(fields, row)) return *error;
      if (row.bucket != key.text) return keyMismatch(daily ? "date" : "hour");
      if (daily) return Mutation{DailyRow{std::move(row)}};
      return Mutation{HourlyRow{std::move(row)}};
    }
    case Kind::Candle: {
      if (auto error = expect("stats.candle.v1")) return *error;
      CandleRow row;
      if (auto error = firstError({fields.string("period", row.period),
                                   fields.count("start", row.start), fields.count("end", row.end),
                                   fields.integer("open", row.open), fields.integer("high", row.high),
                                   fields.integer("low", row.low), fields.integer("close", row.close),
                                   fields.count("volume", row.volume),
                                   fields.count("first_height", row.first_height),
                                   fields.count("last_height", row.last_height)})) {
        return *error;
      }
      if (row.period != key.text) return keyMismatch("period");
      if (row.start != key.number) return keyMismatch("start");
      return Mutation{std::move(row)};
    }
    case Kind::Witness: {
      if (auto error = expect("stats.witness.v1")) return *error;
      WitnessRow row;
      if (auto error = firstError({fields.string("date", row.date),
                                   fields.tAddress("witness", row.witness),
                                   fields.hexAddress("witness_hex", row.witness_hex),
                                   fields.count("blocks", row.blocks),
                                   fields.count("missed_slots", row.missed_slots)})) {
        return *error;
      }
      if (row.date != key.text) return keyMismatch("date");
      if (row.witness != key.address) return keyMismatch("witness");
      return Mutation{std::move(row)};
    }
    case Kind::Parity: {
      if (auto error = expect("stats.parity.v1")) return *error;
      ParityRow row;
      if (auto error = firstError({fields.count("window", row.window),
                                   fields.count("height", row.height),
                                   fields.count("blocks", row.blocks), fields.count("odd", row.odd),
                                   fields.real("z_score", row.z_score)})) {
        return *error;
      }
      if (row.window != key.number) return keyMismatch("window");
      return Mutation{std::move(row)};
    }
  }
  return invalid("bad_key");
}

// Adds `value` to an optional sum (a series absent from the batch stays null).
void accumulate(std::optional<double>& total, double value) { total = total.value_or(0) + value; }

Result<Mutation> readMetrics(const object& value) {
  const Fields fields(value);
  StageStatusRow row;
  if (auto error = firstError({fields.string("stage", row.stage),
                               fields.string("instance", row.instance),
                               fields.count("ts", row.ts_ms)})) {
    return *error;
  }
  if (row.stage.empty()) return bad("stage", "empty");
  if (row.instance.empty()) return bad("instance", "empty");
  simdjson::dom::array metrics;
  if (value["metrics"].get_array().get(metrics) != simdjson::SUCCESS) {
    return bad("metrics", "not an array");
  }
  pipeline::json::Writer heights;
  heights.beginObject();
  for (element metric : metrics) {
    std::string_view name;
    if (metric["name"].get_string().get(name) != simdjson::SUCCESS) return bad("metrics", "entry without a name");
    double number = 0;
    element raw;
    // null stands for NaN or an infinity: such a sample says nothing.
    if (metric["value"].get(raw) != simdjson::SUCCESS || raw.get_double().get(number) != simdjson::SUCCESS) {
      continue;
    }
    if (name == "point_tron_stage_received_events_total") accumulate(row.received_events, number);
    else if (name == "point_tron_stage_sent_events_total") accumulate(row.sent_events, number);
    else if (name == "point_tron_stage_errors_total") accumulate(row.errors, number);
    else if (name == "point_tron_stage_discarded_events_total") accumulate(row.discarded_events, number);
    else if (name == "point_tron_bugs_total") accumulate(row.bugs, number);
    else if (name == "point_tron_stage_in_flight_events") accumulate(row.in_flight_events, number);
    else if (name == "point_tron_health_status") row.health_status = number;
    else if (name == "point_tron_kafka_consumer_lag_messages") accumulate(row.consumer_lag_messages, number);
    else if (name.ends_with("_height") && name.starts_with("point_tron_")) {
      heights.key(name.substr(std::string_view("point_tron_").size()));
      heights.value(number);
    }
  }
  heights.endObject();
  row.heights = std::move(heights).str();
  return Mutation{std::move(row)};
}

}  // namespace

bool isCalendarDate(std::string_view text) noexcept {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  const auto year = parseNonNegative(text.substr(0, 4));
  const auto month = parseNonNegative(text.substr(5, 2));
  const auto day = parseNonNegative(text.substr(8, 2));
  if (!year || !month || !day || *year < 1970 || *month < 1 || *month > 12 || *day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  const int days = kDays[*month - 1] + (*month == 2 && leap ? 1 : 0);
  return *day <= days;
}

Result<StatsKey> parseStatsKey(std::string_view key) {
  using Kind = StatsKey::Kind;
  const auto colon = key.find(':');
  if (colon == std::string_view::npos) return invalid("bad_key (no kind)");
  const std::string_view kind = key.substr(0, colon);
  const std::string_view rest = key.substr(colon + 1);
  StatsKey parsed;
  const auto badKey = [&] { return invalid("bad_key (" + std::string(kind) + ")"); };
  if (kind == "points" || kind == "parity") {
    const auto number = parseNonNegative(rest);
    if (!number) return badKey();
    parsed.kind = kind == "points" ? Kind::Points : Kind::Parity;
    parsed.number = *number;
  } else if (kind == "daily") {
    if (!isCalendarDate(rest)) return badKey();
    parsed.kind = Kind::Daily;
    parsed.text = rest;
  } else if (kind == "hourly") {
    if (!isHour(rest)) return badKey();
    parsed.kind = Kind::Hourly;
    parsed.text = rest;
  } else if (kind == "candle") {
    const auto second = rest.find(':');
    if (second == std::string_view::npos) return badKey();
    const std::string_view period = rest.substr(0, second);
    const auto start = parseNonNegative(rest.substr(second + 1));
    if (!start || std::find(kCandlePeriods.begin(), kCandlePeriods.end(), period) == kCandlePeriods.end()) {
      return badKey();
    }
    parsed.kind = Kind::Candle;
    parsed.text = period;
    parsed.number = *start;
  } else if (kind == "witness") {
    const auto second = rest.find(':');
    if (second == std::string_view::npos || !isCalendarDate(rest.substr(0, second)) ||
        !isTAddress(rest.substr(second + 1))) {
      return badKey();
    }
    parsed.kind = Kind::Witness;
    parsed.text = rest.substr(0, second);
    parsed.address = rest.substr(second + 1);
  } else {
    return badKey();
  }
  return parsed;
}

struct RecordParser::Impl {
  simdjson::dom::parser parser;
};

RecordParser::RecordParser() : impl_(std::make_unique<Impl>()) {}
RecordParser::~RecordParser() = default;
RecordParser::RecordParser(RecordParser&&) noexcept = default;
RecordParser& RecordParser::operator=(RecordParser&&) noexcept = default;

Result<Mutation> RecordParser::parse(Input input, std::string_view key, std::string_view value) {
  std::optional<StatsKey> stats_key;
  if (input == Input::Stats) {
    auto parsed = parseStatsKey(key);
    if (!parsed) return parsed.error();
    if (value.empty()) return Mutation{StatsDeletion{std::move(*parsed)}};
    stats_key = std::move(*parsed);
  }
  element document;
  if (impl_->parser.parse(value.data(), value.size()).get(document) != simdjson::SUCCESS) {
    return invalid("invalid_json");
  }
  object root;
  if (document.get_object().get(root) != simdjson::SUCCESS) return invalid("invalid_json (not an object)");
  std::string_view schema;
  if (root["schema"].get_string().get(schema) != simdjson::SUCCESS) return missing("schema");
  switch (input) {
    case Input::Blocks:
      if (schema != "block.v1") return invalid("wrong_schema (" + std::string(schema) + ")");
      return readBlock(root);
    case Input::Stats:
      return readStats(*stats_key, schema, root);
    case Input::Metrics:
      if (schema != "metric.v1") return invalid("wrong_schema (" + std::string(schema) + ")");
      return readMetrics(root);
  }
  return invalid("wrong_schema");
}

}  // namespace stages::persister
