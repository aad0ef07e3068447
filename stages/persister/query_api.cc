#include "stages/persister/query_api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>

#include "pipeline/json.h"
#include "stages/persister/indicators.h"

namespace stages::persister {
namespace {

using pipeline::Error;
using pipeline::ErrorType;
using pipeline::Result;
using pipeline::http::Request;
using pipeline::http::Response;
using pipeline::json::Writer;

constexpr std::int64_t kMaxHeight = std::numeric_limits<std::int64_t>::max();
constexpr int kDefaultLimit = 100;
constexpr std::int64_t kMaxTrendWindow = 100'000;
constexpr std::int64_t kMaxTrendSamples = 1'000;
// Buckets computed before the first one returned, so MA20 and RSI(14) are warmed up on it.
constexpr std::int64_t kIndicatorWarmup = 100;

Response envelope(int status, bool success, std::string_view field, std::string_view json) {
  std::string body = fmt::format(R"({{"success":{},"{}":)", success ? "true" : "false", field);
  body += json;
  body += '}';
  Response response = Response::json(status, std::move(body));
  // Answers depend on the moment and the token: never cached by intermediaries.
  response.headers.set("Cache-Control", "no-store");
  return response;
}

Response success(std::string data) { return envelope(200, true, "data", data); }

Response failure(int status, std::string_view message) {
  return envelope(status, false, "error", pipeline::json::quote(message));
}

Response failure(const Error& error) {
  switch (error.type) {
    case ErrorType::InvalidArgument: return failure(400, error.message);
    case ErrorType::Unavailable:
    case ErrorType::Io: return failure(503, "database unavailable; try again");
    default: return failure(500, "internal error");
  }
}

Error badParameter(std::string message) { return Error{ErrorType::InvalidArgument, std::move(message)}; }

// The query parameters of one request, checked against the route's allowed names. Messages name
// the parameter and what it must be, never the value (it came from outside).
class Params {
 public:
  static Result<Params> parse(const Request& request, std::initializer_list<std::string_view> allowed) {
    Params params;
    std::set<std::string, std::less<>> seen;
    for (const auto& [name, value] : request.query_params) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        return badParameter(fmt::format("unknown parameter; this route takes: {}", fmt::join(allowed, ", ")));
      }
      if (!seen.insert(name).second) return badParameter(name + ": given more than once");
      params.values_.emplace_back(name, value);
    }
    return params;
  }

  std::optional<std::string_view> raw(std::string_view name) const {
    for (const auto& [key, value] : values_) {
      if (key == name) return std::string_view(value);
    }
    return std::nullopt;
  }

  Result<std::optional<std::int64_t>> integer(std::string_view name, std::int64_t min,
                                              std::int64_t max) const {
    const auto text = raw(name);
    if (!text) return std::optional<std::int64_t>();
    const auto invalid = [&] {
      return badParameter(fmt::format("{}: must be an integer in [{}, {}]", name, min, max));
    };
    if (text->empty() || text->size() > 20) return invalid();
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || ptr != text->data() + text->size() || value < min || value > max) {
      return invalid();
    }
    return std::optional<std::int64_t>(value);
  }

  Result<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max,
                               std::int64_t fallback) const {
    auto value = integer(name, min, max);
    if (!value) return value.error();
    return value->value_or(fallback);
  }

  Result<std::optional<std::string>> date(std::string_view name) const {
    const auto text = raw(name);
    if (!text) return std::optional<std::string>();
    if (!isCalendarDate(*text)) return badParameter(fmt::format("{}: must be a date YYYY-MM-DD", name));
    return std::optional<std::string>(std::string(*text));
  }

  Result<std::string> period() const {
    const auto text = raw("period");
    if (!text) return badParameter("period: required (1m, 5m, 15m, 1h, 4h, 1d or 20b)");
    if (!periodLength(*text)) return badParameter("period: must be one of 1m, 5m, 15m, 1h, 4h, 1d, 20b");
    return std::string(*text);
  }

  Result<bool> boolean(std::string_view name, bool fallback) const {
    const auto text = raw(name);
    if (!text) return fallback;
    if (*text == "true") return true;
    if (*text == "false") return false;
    return badParameter(fmt::format("{}: must be true or false", name));
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

template <typename T>
void optionalValue(Writer& w, std::string_view name, const std::optional<T>& value) {
  w.key(name);
  if (value) w.value(*value);
  else w.null();
}

void writeBlock(Writer& w, const BlockView& view) {
  const BlockRow& b = view.block;
  w.beginObject();
  w.field("height", b.height).field("block_id", b.block_id).field("parent_id", b.parent_id);
  w.field("timestamp_ms", b.timestamp_ms).field("witness", b.witness).field("witness_hex", b.witness_hex);
  w.field("version", b.version).field("tx_count", b.tx_count);
  w.key("tx_by_type").raw(b.tx_by_type);  // validated JSON object, stored as parsed
  w.field("tx_failed", b.tx_failed).field("trx_transferred_sun", b.trx_transferred_sun);
  w.field("trc20_transfers", b.trc20_transfers).field("usdt_transfers", b.usdt_transfers);
  w.field("usdt_volume", b.usdt_volume).field("last_digit", b.last_digit).field("is_odd", b.is_odd);
  w.field("size_bytes", b.size_bytes);
  optionalValue(w, "fetched_at_ms", b.fetched_at_ms);
  w.field("decoded_at_ms", b.decoded_at_ms).field("source", b.source);
  optionalValue(w, "point", view.point);
  optionalValue(w, "score", view.score);
  w.endObject();
}

void writeBucket(Writer& w, std::string_view bucket_name, const BucketRow& row) {
  w.beginObject();
  w.field(bucket_name, row.bucket).field("utc_offset", row.utc_offset).field("start_ms", row.start_ms);
  w.field("blocks", row.blocks).field("odd", row.odd).field("even", row.even);
  w.field("odd_rate", row.odd_rate).field("transactions", row.transactions);
  w.field("failed_transactions", row.failed_transactions);
  w.field("trx_transferred_sun", row.trx_transferred_sun).field("trc20_transfers", row.trc20_transfers);
  w.field("usdt_transfers", row.usdt_transfers).field("usdt_volume", row.usdt_volume);
  w.field("missed_slots", row.missed_slots).field("first_height", row.first_height);
  w.field("last_height", row.last_height).field("score_close", row.score_close);
  w.endObject();
}

void writePoints(Writer& w, const PointsRow& p) {
  w.beginObject();
  w.field("height", p.height).field("block_id", p.block_id).field("timestamp_ms", p.timestamp_ms);
  w.field("last_digit", p.last_digit).field("is_odd", p.is_odd).field("point", p.point);
  w.field("score", p.score);
  w.endObject();
}

void writeCandle(Writer& w, const SeriesCandle& item) {
  const CandleRow& c = item.candle;
  w.beginObject();
  w.field("start", c.start).field("end", c.end).field("open", c.open).field("high", c.high);
  w.field("low", c.low).field("close", c.close).field("volume", c.volume);
  w.field("first_height", c.first_height).field("last_height", c.last_height);
  w.field("filled", item.filled);
  w.endObject();
}

void writeParity(Writer& w, const std::vector<ParityRow>& rows) {
  w.beginArray();
  for (const auto& p : rows) {
    w.beginObject();
    w.field("window", p.window).field("height", p.height).field("blocks", p.blocks);
    w.field("odd", p.odd).field("z_score", p.z_score);
    w.endObject();
  }
  w.endArray();
}

// The candle window of `count` buckets ending at the newest candle at or before `end`.
Result<std::vector<SeriesCandle>> loadSeries(Queries& queries, const std::string& period,
                                             std::int64_t count, std::optional<std::int64_t> end,
                                             bool fill) {
  const std::int64_t step = *periodLength(period);
  auto anchor = queries.candleAtOrBefore(period, end.value_or(kMaxHeight));
  if (!anchor) return anchor.error();
  if (!*anchor) return std::vector<SeriesCandle>();
  const std::int64_t to = (*anchor)->start;
  const std::int64_t from = to - std::min(count - 1, to / step) * step;
  auto stored = queries.candles(period, from, to);
  if (!stored) return stored.error();
  if (!fill) {
    std::vector<SeriesCandle> series;
    for (auto& candle : *stored) series.push_back({std::move(candle), false});
    return series;
  }
  std::optional<CandleRow> before;
  if (from > 0) {
    auto previous = queries.candleAtOrBefore(period, from - 1);
    if (!previous) return previous.error();
    before = std::move(*previous);
  }
  return fillBuckets(*stored, before, from, to, step);
}

}  // namespace

QueryApi::QueryApi(Queries& queries, TokenAuthenticator authenticator, PersisterMetrics& metrics,
                   WallClock wall_clock, WriterHealth writer_health,
                   std::int64_t max_answer_age_ms)
    : queries_(queries),
      authenticator_(std::move(authenticator)),
      metrics_(metrics),
      wall_clock_(std::move(wall_clock)),
      writer_health_(std::move(writer_health)),
      max_answer_age_ms_(max_answer_age_ms) {}

namespace {

// One route: validates its parameters, queries, renders `data`.
using RouteHandler = Result<std::string> (*)(const Request&, Queries&, std::int64_t now_ms,
                                             const pipeline::health::CheckResult& writer);

Result<std::string> blocksStats(const Request& request, Queries& queries, std::int64_t now_ms,
                                const pipeline::health::CheckResult&) {
  auto params = Params::parse(request, {});
  if (!params) return params.error();
  auto latest = queries.latestBlock();
  if (!latest) return latest.error();
  auto today = queries.dayContaining(now_ms);
  if (!today) return today.error();
  auto parity = queries.parity();
  if (!parity) return parity.error();
  Writer w;
  w.beginObject();
  w.key("latest_block");
  if (*latest) writeBlock(w, **latest);
  else w.null();
  w.key("today");
  if (*today) writeBucket(w, "date", **today);
  else w.null();
  w.key("parity");
  writeParity(w, *parity);
  w.field("server_time_ms", now_ms);
  w.endObject();
  return std::move(w).str();
}

Result<std::string> blocksHistory(const Request& request, Queries& queries, std::int64_t,
                                  const pipeline::health::CheckResult&) {
  auto params = Params::parse(request, {"date", "from_height", "to_height", "limit"});
  if (!params) return params.error();
  auto date = params->date("date");
  if (!date) return date.error();
  auto from = params->integer("from_height", 0, kMaxHeight);
  if (!from) return from.error();
  auto to = params->integer("to_height", 0, kMaxHeight);
  if (!to) return to.error();
  auto limit = params->integer("limit", 1, kMaxLimit, kDefaultLimit);
  if (!limit) return limit.error();
  if (!*date && !*from) return badParameter("give date, or from_height (with an optional to_height)");
  std::int64_t low = from->value_or(0);
  std::int64_t high = to->value_or(kMaxHeight);
  if (high < low) return badParameter("to_height: must not be below from_height");
  bool empty = false;
  if (*date) {
    // A day's heights come from its daily row: the range query then stays on the primary key.
    auto day = queries.day(**date);
    if (!day) return day.error();
    if (!*day || (*day)->blocks == 0) {
      empty = true;
    } else {
      low = std::max(low, (*day)->first_height);
      high = std::min(high, (*day)->last_height);
    }
  }
  std::vector<BlockView> items;
  if (!empty && low <= high) {
    auto blocks = queries.blocks(low, high, static_cast<int>(*limit));
    if (!blocks) return blocks.error();
    items = std::move(*blocks);
  }
  Writer w;
  w.beginObject();
  w.key("items").beginArray();
  for (const auto& item : items) writeBlock(w, item);
  w.endArray();
  w.key("next_from_height");
  if (static_cast<std::int64_t>(items.size()) == *limit && items.back().block.height < high) {
    w.value(items.back().block.height + 1);
  } else {
    w.null();
  }
  w.field("limit", *limit);
  w.endObject();
  return std::move(w).str();
}

Result<std::string> blocksPoints(const Request& request, Queries& queries, std::int64_t,
                                 const pipeline::health::CheckResult&) {
  auto params = Params::parse(request, {"from_height", "to_height", "limit"});
  if (!params) return params.error();
  auto from = params->integer("from_height", 0, kMaxHeight);
  if (!from) return from.error();
  auto to = params->integer("to_height", 0, kMaxHeight);
  if (!to) return to.error();
  auto limit = params->integer("limit", 1, kMaxLimit, kDefaultLimit);
  if (!limit) return limit.error();
  if (to->value_or(kMaxHeight) < from->value_or(0)) {
    return badParameter("to_height: must not be below from_height");
  }
  auto points = queries.points(from->value_or(0), to->value_or(kMaxHeight), static_cast<int>(*limit));
  if (!points) return points.error();
  std::int64_t sum = 0;
  std::int64_t odd = 0;
  for (const auto& p : *points) {
    sum += p.point;
    odd += p.is_odd ? 1 : 0;
  }
  Writer w;
  w.beginObject();
  w.key("items").beginArray();
  for (const auto& p : *points) writePoints(w, p);
  w.endArray();
  w.key("summary").beginObject();
  w.field("count", static_cast<std::int64_t>(points->size())).field("sum_points", sum);
  w.field("odd", odd).field("even", static_cast<std::int64_t>(points->size()) - odd);
  if (points->empty()) {
    w.key("start_score").null().key("end_score").null();
  } else {
    w.field("start_score", points->front().score - points->front().point);
    w.field("end_score", points->back().score);
  }
  w.endObject();
  w.endObject();
  return std::move(w).str();
}

Result<std::string> pointsTrend(const Request& request, Queries& queries, std::int64_t,
                                const pipeline::health::CheckResult&) {
  auto params = Params::parse(request, {"window", "samples", "to_height"});
  if (!params) return params.error();
  auto window = params->integer("window", 2, kMaxTrendWindow, 1000);
  if (!window) return window.error();
  auto samples = params->integer("samples", 2, kMaxTrendSamples, 100);
  if (!samples) return samples.error();
  auto to_param = params->integer("to_height", 0, kMaxHeight);
  if (!to_param) return to_param.error();
  std::int64_t to = 0;
  if (*to_param) {
    to = **to_param;
  } else {
    auto newest = queries.points(0, kMaxHeight, 1);
    if (!newest) return newest.error();
    if (newest->empty()) {
      return std::string(R"({"from_height":null,"to_height":null,"step":null,"items":[],)"
                         R"("change":0,"slope_per_block":0,"direction":"flat"})");
    }
    to = newest->front().height;
  }
  const std::int64_t first = std::max<std::int64_t>(0, to - *window + 1);
  // Samples end exactly at `to` and step back evenly, at most `samples` of them.
  const std::int64_t step = std::max<std::int64_t>(1, (to - first + *samples - 1) / *samples);
  const std::int64_t from = to - ((to - first) / step) * step;
  auto points = queries.pointsEvery(from, to, step);
  if (!points) return points.error();
  // Least-squares slope of score over height: the trend's direction, robust to the last block.
  double slope = 0;
  if (points->size() >= 2) {
    double mean_x = 0, mean_y = 0;
    for (const auto& p : *points) {
      mean_x += static_cast<double>(p.height);
      mean_y += static_cast<double>(p.score);
    }
    mean_x /= static_cast<double>(points->size());
    mean_y /= static_cast<double>(points->size());
    double covariance = 0, variance = 0;
    for (const auto& p : *points) {
      const double dx = static_cast<double>(p.height) - mean_x;
      covariance += dx * (static_cast<double>(p.score) - mean_y);
      variance += dx * dx;
    }
    if (variance > 0) slope = covariance / variance;
  }
  const std::int64_t change = points->empty() ? 0 : points->back().score - points->front().score;
  Writer w;
  w.beginObject();
  w.field("from_height", from).field("to_height", to).field("step", step);
  w.key("items").beginArray();
  for (const auto& p : *points) {
    w.beginObject().field("height", p.height).field("timestamp_ms", p.timestamp_ms);
    w.field("score", p.score).endObject();
  }
  w.endArray();
  w.field("change", change).field("slope_per_block", slope);
  w.field("direction", change > 0 ? "up" : change < 0 ? "down" : "flat");
  w.endObject();
  return std::move(w).str();
}

// period, limit and end of the kline routes.
struct KlineParams {
  std::string period;
  std::int64_t limit = kDefaultLimit;
  std::optional<std::int64_t> end;
  bool fill = true;
};

Result<KlineParams> klineParams(const Request& request, bool with_fill) {
  auto params = with_fill ? Params::parse(request, {"period", "limit", "end", "fill"})
                          : Params::parse(request, {"period", "limit", "end"});
  if (!params) return params.error();
  KlineParams out;
  auto period = params->period();
  if (!period) return period.error();
  out.period = std::move(*period);
  auto limit = params->integer("limit", 1, kMaxLimit, kDefaultLimit);
  if (!limit) return limit.error();
  out.limit = *limit;
  auto end = params->integer("end", 0, kMaxHeight);
  if (!end) return end.error();
  out.end = *end;
  auto fill = params->boolean("fill", true);
  if (!fill) return fill.error();
  out.fill = *fill;
  return out;
}

Result<std::string> kline(const Request& request, Queries& queries, std::int64_t,
                          const pipeline::health::CheckResult&) {
  auto params = klineParams(request, /*with_fill=*/true);
  if (!params) return params.error();
  auto series = loadSeries(queries, params->period, params->limit, params->end, params->fill);
  if (!series) return series.error();
  Writer w;
  w.beginObject();
  w.field("period", params->period);
  w.key("items").beginArray();
  for (const auto& item : *series) writeCandle(w, item);
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

Result<std::string> klineIndicators(const Request& request, Queries& queries, std::int64_t,
                                    const pipeline::health::CheckResult&) {
  auto params = klineParams(request, /*with_fill=*/false);
  if (!params) return params.error();
  auto series = loadSeries(queries, params->period, params->limit + kIndicatorWarmup, params->end,
                           /*fill=*/true);
  if (!series) return series.error();
  std::vector<double> closes;
  for (const auto& item : *series) closes.push_back(static_cast<double>(item.candle.close));
  const auto ma5 = movingAverage(closes, 5);
  const auto ma10 = movingAverage(closes, 10);
  const auto ma20 = movingAverage(closes, 20);
  const auto rsi = wilderRsi(closes, 14);
  const std::size_t first =
      series->size() > static_cast<std::size_t>(params->limit) ? series->size() - params->limit : 0;
  Writer w;
  w.beginObject();
  w.field("period", params->period);
  w.key("items").beginArray();
  for (std::size_t i = first; i < series->size(); ++i) {
    w.beginObject();
    w.field("start", (*series)[i].candle.start).field("close", (*series)[i].candle.close);
    optionalValue(w, "ma5", ma5[i]);
    optionalValue(w, "ma10", ma10[i]);
    optionalValue(w, "ma20", ma20[i]);
    optionalValue(w, "rsi14", rsi[i]);
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

Result<std::string> klineStats(const Request& request, Queries& queries, std::int64_t,
                               const pipeline::health::CheckResult&) {
  auto params = klineParams(request, /*with_fill=*/false);
  if (!params) return params.error();
  auto series = loadSeries(queries, params->period, params->limit, params->end, /*fill=*/true);
  if (!series) return series.error();
  const ChangeStats stats = changeStats(*series);
  Writer w;
  w.beginObject();
  w.field("period", params->period);
  w.field("candles", static_cast<std::int64_t>(stats.candles));
  w.key("first_start");
  if (series->empty()) w.null();
  else w.value(series->front().candle.start);
  w.key("last_start");
  if (series->empty()) w.null();
  else w.value(series->back().candle.start);
  w.field("total_change", stats.total_change).field("max_gain", stats.max_gain);
  w.field("max_loss", stats.max_loss).field("up", static_cast<std::int64_t>(stats.up));
  w.field("down", static_cast<std::int64_t>(stats.down)).field("flat", static_cast<std::int64_t>(stats.flat));
  w.field("average_volume", stats.average_volume).field("volatility", stats.volatility);
  w.field("win_rate", stats.win_rate);
  w.endObject();
  return std::move(w).str();
}

Result<std::string> witnesses(const Request& request, Queries& queries, std::int64_t,
                              const pipeline::health::CheckResult&) {
  auto params = Params::parse(request, {"date", "limit"});
  if (!params) return params.error();
  auto date = params->date("date");
  if (!date) return date.error();
  auto limit = params->integer("limit", 1, kMaxLimit, kDefaultLimit);
  if (!limit) return limit.error();
  std::optional<std::string> day = *date;
  if (!day) {
    auto latest = queries.latestWitnessDate();
    if (!latest) return latest.error();
    day = *latest;
  }
  std::vector<WitnessRow> rows;
  std::optional<DailyRow> daily;
  if (day) {
    auto found = queries.witnesses(*day, static_cast<int>(*limit));
    if (!found) return found.error();
    rows = std::move(*found);
    auto figures = queries.day(*day);
    if (!figures) return figures.error();
    daily = std::move(*figures);
  }
  std::int64_t blocks = 0;
  std::int64_t missed = 0;
  Writer w;
  w.beginObject();
  optionalValue(w, "date", day);
  w.key("witnesses").beginArray();
  for (const auto& row : rows) {
    blocks += row.blocks;
    missed += row.missed_slots;
    w.beginObject().field("witness", row.witness).field("witness_hex", row.witness_hex);
    w.field("blocks", row.blocks).field("missed_slots", row.missed_slots).endObject();
  }
  w.endArray();
  w.field("total_blocks", blocks).field("attributed_missed_slots", missed);
  // The day's own count includes slots whose scheduled witness was not known (statistics §5).
  w.key("day_missed_slots");
  if (daily) w.value(daily->missed_slots);
  else w.null();
  w.endObject();
  return std::move(w).str();
}

Result<std::string> systemStatus(const Request& request, Queries& queries, std::int64_t now_ms,
                                 const pipeline::health::CheckResult& writer) {
  auto params = Params::parse(request, {});
  if (!params) return params.error();
  auto stages = queries.stageStatus();
  if (!stages) return stages.error();
  auto figures = queries.databaseFigures();
  if (!figures) return figures.error();
  auto backup = queries.lastBackup();
  if (!backup) return backup.error();
  std::optional<double> head;
  Writer w;
  w.beginObject();
  w.key("stages").beginArray();
  for (const auto& s : *stages) {
    w.beginObject();
    w.field("stage", s.stage).field("instance", s.instance).field("ts_ms", s.ts_ms);
    w.field("age_ms", now_ms - s.ts_ms);
    optionalValue(w, "health_status", s.health_status);
    optionalValue(w, "received_events", s.received_events);
    optionalValue(w, "sent_events", s.sent_events);
    optionalValue(w, "errors", s.errors);
    optionalValue(w, "discarded_events", s.discarded_events);
    optionalValue(w, "bugs", s.bugs);
    optionalValue(w, "in_flight_events", s.in_flight_events);
    optionalValue(w, "consumer_lag_messages", s.consumer_lag_messages);
    w.key("heights").raw(s.heights);  // JSON object the persister wrote itself
    w.endObject();
    if (s.stage == "fetcher") {
      // "fetcher_head_height" inside the heights object: the chain head the fetcher last saw.
      const auto at = s.heights.find("\"fetcher_head_height\":");
      if (at != std::string::npos) {
        head = std::max(head.value_or(0), std::strtod(s.heights.c_str() + at + 22, nullptr));
      }
    }
  }
  w.endArray();
  w.key("database").beginObject();
  optionalValue(w, "latest_block_height", figures->latest_block_height);
  optionalValue(w, "latest_points_height", figures->latest_points_height);
  w.field("size_bytes", figures->size_bytes).field("schema_version", figures->schema_version);
  w.endObject();
  w.key("lag").beginObject();
  std::optional<std::int64_t> head_height;
  if (head) head_height = static_cast<std::int64_t>(*head);
  optionalValue(w, "chain_head_height", head_height);
  std::optional<std::int64_t> behind;
  if (head_height && figures->latest_block_height) {
    behind = std::max<std::int64_t>(0, *head_height - *figures->latest_block_height);
  }
  optionalValue(w, "blocks_behind_head", behind);
  w.endObject();
  w.key("writer").beginObject();
  w.field("status", pipeline::health::stateName(writer.state)).field("detail", writer.detail);
  w.endObject();
  w.key("last_backup");
  if (*backup) {
    const BackupRow& b = **backup;
    w.beginObject().field("id", b.id).field("started_at_ms", b.started_at_ms);
    optionalValue(w, "finished_at_ms", b.finished_at_ms);
    w.field("location", b.location);
    optionalValue(w, "size_bytes", b.size_bytes);
    w.field("verified", b.verified).endObject();
  } else {
    w.null();
  }
  w.field("server_time_ms", now_ms);
  w.endObject();
  return std::move(w).str();
}

constexpr RouteHandler kHandlers[kRoutes] = {
    blocksStats, blocksHistory, blocksPoints, pointsTrend, kline,
    klineIndicators, klineStats, witnesses, systemStatus,
};

}  // namespace

std::optional<Response> QueryApi::refuse(const Request& request) {
  const auto verdict = authenticator_.check(request.header("Authorization"));
  if (verdict == TokenAuthenticator::Verdict::Accepted) return std::nullopt;
  metrics_.auth_failures.Increment();
  Response response = failure(401, verdict == TokenAuthenticator::Verdict::Missing
                                       ? "missing bearer token (Authorization: Bearer <token>)"
                                       : "invalid token");
  response.headers.set("WWW-Authenticate", R"(Bearer realm="point-tron")");
  return response;
}

Response QueryApi::handle(const Request& request) {
  if (auto refused = refuse(request)) return std::move(*refused);
  for (std::size_t i = 0; i < kRoutes; ++i) {
    const auto route = static_cast<Route>(i);
    if (request.path != routePath(route)) continue;
    const auto started = std::chrono::steady_clock::now();
    const std::int64_t now_ms = wall_clock_();
    const bool cacheable = max_answer_age_ms_ > 0 && route != Route::SystemStatus;
    std::string cache_key;
    if (cacheable) {
      const auto version = queries_.dataVersion();
      if (!version) return failure(version.error());
      if (*version != cache_data_version_) {
        cache_.clear();
        cached_bytes_ = 0;
        cache_data_version_ = *version;
      }
      cache_key = request.path + '?' + request.query;
      const auto cached = cache_.find(cache_key);
      if (cached != cache_.end() && now_ms - cached->second.rendered_at_ms < max_answer_age_ms_ &&
          now_ms >= cached->second.rendered_at_ms) {
        metrics_.cached_answers.Increment();
        metrics_.queryDurationOf(route).Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        return cached->second.response;
      }
    }
    Response response = [&] {
      try {
        auto data = kHandlers[i](request, queries_, now_ms, writer_health_());
        return data ? success(std::move(*data)) : failure(data.error());
      } catch (const std::exception&) {
        return failure(500, "internal error");  // e.g. bad_alloc: the request fails, not the stage
      }
    }();
    if (cacheable && response.status == 200) {
      auto& slot = cache_[cache_key];
      cached_bytes_ -= slot.response.body.size();
      if (cached_bytes_ + response.body.size() > kMaxCachedBytes) {
        cache_.clear();  // rare (16 MiB of distinct answers within one commit): start over
        cached_bytes_ = 0;
      }
      cached_bytes_ += response.body.size();
      cache_[cache_key] = CachedAnswer{response, now_ms};
    }
    metrics_.queryDurationOf(route).Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return response;
  }
  return failure(404, "unknown API route; see docs/api.md");
}

}  // namespace stages::persister
