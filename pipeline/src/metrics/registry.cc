#include "pipeline/metrics/registry.h"

#include <prometheus/text_serializer.h>

#include <algorithm>

namespace pipeline::metrics {

const Buckets& latencyBuckets() {
  static const Buckets buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                               0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,  30};
  return buckets;
}

Registry::Registry(std::string stage)
    : stage_(std::move(stage)), registry_(std::make_shared<prometheus::Registry>()) {}

template <typename Builder>
auto& Registry::family(Builder&& builder, std::string_view name, std::string_view help) {
  return builder.Name(std::string(name))
      .Help(std::string(help))
      .Labels({{"stage", stage_}})
      .Register(*registry_);
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return family(prometheus::BuildCounter(), name, help).Add(labels);
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return family(prometheus::BuildGauge(), name, help).Add(labels);
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               const Buckets& buckets, const Labels& labels) {
  return family(prometheus::BuildHistogram(), name, help).Add(labels, buckets);
}

void Registry::addCollectable(const std::shared_ptr<prometheus::Collectable>& collectable) {
  collectables_.push_back(collectable);
}

std::vector<prometheus::MetricFamily> Registry::collect() const {
  auto families = registry_->Collect();
  for (const auto& weak : collectables_) {
    if (auto collectable = weak.lock()) {
      auto more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    }
  }
  return families;
}

std::string Registry::serialize() const {
  return prometheus::TextSerializer().Serialize(collect());
}

double Registry::value(std::string_view name, const Labels& labels) const {
  for (const auto& family : collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool matches = std::all_of(labels.begin(), labels.end(), [&](const auto& wanted) {
        return std::any_of(metric.label.begin(), metric.label.end(), [&](const auto& label) {
          return label.name == wanted.first && label.value == wanted.second;
        });
      });
      if (!matches) continue;
      switch (family.type) {
        case prometheus::MetricType::Counter: return metric.counter.value;
        case prometheus::MetricType::Gauge: return metric.gauge.value;
        case prometheus::MetricType::Untyped: return metric.untyped.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(metric.histogram.sample_count);
        case prometheus::MetricType::Summary:
          return static_cast<double>(metric.summary.sample_count);
      }
    }
  }
  return -1;
}

}  // namespace pipeline::metrics
