#include "pipeline/metric_events.h"

#include "pipeline/json.h"

namespace pipeline {
namespace {

void writeSample(json::Writer& w, const std::string& name,
                 const std::vector<prometheus::ClientMetric::Label>& labels, double value) {
  w.beginObject();
  w.field("name", name);
  w.key("labels").beginObject();
  for (const auto& label : labels) {
    if (label.name != "stage") w.field(label.name, label.value);
  }
  w.endObject();
  w.field("value", value);
  w.endObject();
}

}  // namespace

std::string metricEventBatch(const std::vector<prometheus::MetricFamily>& families,
                             std::string_view stage, std::string_view instance,
                             std::chrono::system_clock::time_point now) {
  json::Writer w;
  w.beginObject();
  w.field("schema", "metric.v1");
  w.field("ts", static_cast<std::int64_t>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch())
                        .count()));
  w.field("stage", stage);
  w.field("instance", instance);
  w.key("metrics").beginArray();
  for (const auto& family : families) {
    for (const auto& metric : family.metric) {
      switch (family.type) {
        case prometheus::MetricType::Counter:
          writeSample(w, family.name, metric.label, metric.counter.value);
          break;
        case prometheus::MetricType::Gauge:
          writeSample(w, family.name, metric.label, metric.gauge.value);
          break;
        case prometheus::MetricType::Untyped:
          writeSample(w, family.name, metric.label, metric.untyped.value);
          break;
        case prometheus::MetricType::Histogram:
          writeSample(w, family.name + "_count", metric.label,
                      static_cast<double>(metric.histogram.sample_count));
          writeSample(w, family.name + "_sum", metric.label, metric.histogram.sample_sum);
          break;
        case prometheus::MetricType::Summary:
          writeSample(w, family.name + "_count", metric.label,
                      static_cast<double>(metric.summary.sample_count));
          writeSample(w, family.name + "_sum", metric.label, metric.summary.sample_sum);
          break;
      }
    }
  }
  w.endArray();
  w.endObject();
  return std::move(w).str();
}

}  // namespace pipeline
