#include "stages/alerter/series_store.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "stages/alerter/text.h"

namespace stages::alerter {
namespace {

using pipeline::Error;
using pipeline::ErrorType;

Error invalid(std::string message) { return Error{ErrorType::InvalidPayload, std::move(message)}; }

pipeline::Result<std::string> requiredString(simdjson::dom::object object, std::string_view key,
                                             bool non_empty) {
  std::string_view text;
  if (object[key].get_string().get(text) != simdjson::SUCCESS || (non_empty && text.empty())) {
    return invalid(fmt::format("{}: expected a{} string", key, non_empty ? " non-empty" : ""));
  }
  return std::string(text);
}

}  // namespace

pipeline::Result<MetricBatch> parseMetricBatch(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return invalid(fmt::format("invalid JSON: {}", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return invalid("expected a JSON object");

  auto schema = requiredString(object, "schema", true);
  if (!schema) return schema.error();
  if (*schema != "metric.v1") return invalid(fmt::format("schema: expected \"metric.v1\""));

  MetricBatch batch;
  if (object["ts"].get_int64().get(batch.ts_ms) != simdjson::SUCCESS || batch.ts_ms < 0) {
    return invalid("ts: expected a non-negative integer (ms since the epoch)");
  }
  auto stage = requiredString(object, "stage", true);
  if (!stage) return stage.error();
  batch.stage = std::move(*stage);
  auto instance = requiredString(object, "instance", true);
  if (!instance) return instance.error();
  batch.instance = std::move(*instance);

  simdjson::dom::array metrics;
  if (object["metrics"].get_array().get(metrics) != simdjson::SUCCESS) {
    return invalid("metrics: expected an array");
  }
  batch.metrics.reserve(metrics.size());
  std::size_t index = 0;
  for (simdjson::dom::element item : metrics) {
    const auto where = [&](std::string_view field) {
      return fmt::format("metrics[{}]{}{}", index, field.empty() ? "" : ".", field);
    };
    simdjson::dom::object entry;
    if (item.get_object().get(entry) != simdjson::SUCCESS) {
      return invalid(where("") + ": expected an object");
    }
    MetricPoint point;
    std::string_view name;
    if (entry["name"].get_string().get(name) != simdjson::SUCCESS || !isMetricName(name)) {
      return invalid(where("name") + ": expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    }
    point.name = std::string(name);
    simdjson::dom::object labels;
    if (entry["labels"].get_object().get(labels) != simdjson::SUCCESS) {
      return invalid(where("labels") + ": expected an object");
    }
    for (auto field : labels) {
      std::string_view value;
      if (field.value.get_string().get(value) != simdjson::SUCCESS) {
        return invalid(where("labels.") + std::string(field.key) + ": expected a string");
      }
      point.labels.emplace(std::string(field.key), std::string(value));
    }
    simdjson::dom::element value;
    if (entry["value"].get(value) != simdjson::SUCCESS) {
      return invalid(where("value") + ": missing");
    }
    if (!value.is_null()) {
      double number = 0;
      if (value.get_double().get(number) != simdjson::SUCCESS) {
        return invalid(where("value") + ": expected a number or null");
      }
      point.value = number;
    }
    batch.metrics.push_back(std::move(point));
    ++index;
  }
  return batch;
}

SeriesStore::SeriesStore(std::int64_t retention_ms)
    : SeriesStore(SeriesStoreOptions{.retention_ms = retention_ms}) {}

SeriesStore::SeriesStore(SeriesStoreOptions options) : options_(std::move(options)) {
  options_.max_samples_per_series = std::max<std::size_t>(options_.max_samples_per_series, 1);
}

pipeline::Status SeriesStore::ingest(std::string_view json) {
  auto batch = parseMetricBatch(json);
  if (!batch) {
    ++stats_.rejected_batches;
    return batch.error();
  }
  ingest(*batch);
  return pipeline::Status::ok();
}

void SeriesStore::ingest(const MetricBatch& batch) {
  ++stats_.batches;
  if (!first_batch_ms_ || batch.ts_ms < *first_batch_ms_) first_batch_ms_ = batch.ts_ms;
  for (const auto& point : batch.metrics) {
    if (options_.only_names && !options_.only_names->contains(point.name)) {
      ++stats_.ignored_points;
      continue;
    }
    if (!point.value || std::isnan(*point.value)) {
      ++stats_.null_points;
      continue;
    }
    LabelSet labels;
    for (const auto& [name, value] : point.labels) {
      if (value.empty()) continue;
      if (name == "stage" || name == "instance") {
        labels.insert_or_assign("exported_" + name, value);
      } else {
        labels.emplace(name, value);
      }
    }
    labels.insert_or_assign("stage", batch.stage);
    labels.insert_or_assign("instance", batch.instance);
    append(point.name, std::move(labels), batch.ts_ms, *point.value);
  }
}

void SeriesStore::append(const std::string& name, LabelSet labels, std::int64_t ts_ms,
                         double value) {
  auto by_labels = by_name_.find(name);
  if (by_labels != by_name_.end()) {
    if (auto it = by_labels->second.find(labels); it != by_labels->second.end()) {
      auto& points = it->second.points;
      if (!points.empty() && ts_ms <= points.back().ts_ms) {
        ++stats_.out_of_order;
        return;
      }
      points.push_back(Point{ts_ms, value});
      ++stats_.samples;
      while (points.size() > 1 && points.front().ts_ms <= ts_ms - options_.retention_ms) {
        points.pop_front();
      }
      if (points.size() > options_.max_samples_per_series) {
        points.pop_front();
        ++stats_.evicted_samples;
      }
      return;
    }
  }
  if (series_count_ >= options_.max_series) {
    ++stats_.refused_series;
    return;
  }
  if (by_labels == by_name_.end())
    by_labels = by_name_.emplace(name, std::map<LabelSet, Series>{}).first;
  Series series{labels, {}};
  series.points.push_back(Point{ts_ms, value});
  by_labels->second.emplace(std::move(labels), std::move(series));
  ++series_count_;
  ++stats_.samples;
}

void SeriesStore::prune(std::int64_t now_ms) {
  const std::int64_t cutoff = now_ms - options_.retention_ms;
  for (auto by_labels = by_name_.begin(); by_labels != by_name_.end();) {
    auto& series_map = by_labels->second;
    for (auto it = series_map.begin(); it != series_map.end();) {
      auto& points = it->second.points;
      while (!points.empty() && points.front().ts_ms <= cutoff) points.pop_front();
      if (points.empty()) {
        it = series_map.erase(it);
        --series_count_;
        ++stats_.pruned_series;
      } else {
        ++it;
      }
    }
    by_labels = series_map.empty() ? by_name_.erase(by_labels) : std::next(by_labels);
  }
}

void SeriesStore::forEach(std::string_view name,
                          const std::function<void(const Series&)>& fn) const {
  const auto by_labels = by_name_.find(name);
  if (by_labels == by_name_.end()) return;
  for (const auto& [labels, series] : by_labels->second) fn(series);
}

std::size_t SeriesStore::sampleCount() const noexcept {
  std::size_t count = 0;
  for (const auto& [name, series_map] : by_name_) {
    for (const auto& [labels, series] : series_map) count += series.points.size();
  }
  return count;
}

}  // namespace stages::alerter
