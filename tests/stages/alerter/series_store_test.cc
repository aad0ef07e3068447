#include "stages/alerter/series_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace stages::alerter {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream file(std::string(POINTTRON_SOURCE_DIR) + "/" + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Every series of `name` as (labels, [(ts, value)…]).
std::vector<std::pair<LabelSet, std::vector<std::pair<std::int64_t, double>>>> dump(
    const SeriesStore& store, std::string_view name) {
  std::vector<std::pair<LabelSet, std::vector<std::pair<std::int64_t, double>>>> out;
  store.forEach(name, [&](const Series& series) {
    std::vector<std::pair<std::int64_t, double>> points;
    for (const auto& p : series.points) points.emplace_back(p.ts_ms, p.value);
    out.emplace_back(series.labels, std::move(points));
  });
  return out;
}

MetricBatch batch(std::int64_t ts, std::vector<MetricPoint> metrics,
                  const std::string& stage = "decoder", const std::string& instance = "host-1") {
  return MetricBatch{ts, stage, instance, std::move(metrics)};
}

// The golden metric.v1 example ingests as one series per non-null entry, labelled with the
// batch's stage and instance.
TEST(SeriesStoreTest, IngestsGoldenBatch) {
  SeriesStore store(60'000);
  const auto status = store.ingest(readFile("schemas/examples/metric.v1/batch.json"));
  ASSERT_TRUE(status) << status.toString();
  EXPECT_EQ(3u, store.seriesCount());
  EXPECT_EQ(1u, store.stats().null_points);
  EXPECT_EQ(1'795'634'273'123, store.firstBatchMs());
  const auto rejected = dump(store, "point_tron_decoder_rejected_blocks_total");
  ASSERT_EQ(1u, rejected.size());
  EXPECT_EQ((LabelSet{{"instance", "host-1"}, {"reason", "invalid_json"}, {"stage", "decoder"}}),
            rejected[0].first);
  EXPECT_EQ((std::vector<std::pair<std::int64_t, double>>{{1'795'634'273'123, 1}}),
            rejected[0].second);
  EXPECT_TRUE(dump(store, "point_tron_process_loop_lag_seconds").empty()) << "null is skipped";
}

// Schema violations are rejected whole, naming the field; nothing is stored.
TEST(SeriesStoreTest, RejectsInvalidBatchesNamingTheField) {
  SeriesStore store(60'000);
  const auto error = [&](std::string_view json) {
    const auto status = store.ingest(json);
    EXPECT_FALSE(status) << json;
    EXPECT_EQ(pipeline::ErrorType::InvalidPayload, status.error().type);
    return status.error().message;
  };
  EXPECT_EQ("metrics[0].labels.partition: expected a string",
            error(readFile("schemas/examples/metric.v1/invalid/label-not-a-string.json")));
  const std::string head = R"({"schema":"metric.v1","ts":5,"stage":"s","instance":"i","metrics":)";
  EXPECT_EQ("metrics[1].value: expected a number or null",
            error(head +
                  R"([{"name":"a","labels":{},"value":1},{"name":"b","labels":{},"value":"x"}]})"));
  EXPECT_EQ("metrics[0].name: expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
            error(head + R"([{"name":"1a","labels":{},"value":1}]})"));
  EXPECT_EQ("metrics[0].labels: expected an object", error(head + R"([{"name":"a","value":1}]})"));
  EXPECT_EQ("metrics[0].value: missing", error(head + R"([{"name":"a","labels":{}}]})"));
  EXPECT_EQ("metrics: expected an array", error(head + "{}}"));
  EXPECT_EQ("schema: expected \"metric.v1\"",
            error(R"({"schema":"metric.v2","ts":5,"stage":"s","instance":"i","metrics":[]})"));
  EXPECT_EQ("ts: expected a non-negative integer (ms since the epoch)",
            error(R"({"schema":"metric.v1","ts":-1,"stage":"s","instance":"i","metrics":[]})"));
  EXPECT_EQ("stage: expected a non-empty string",
            error(R"({"schema":"metric.v1","ts":1,"stage":"","instance":"i","metrics":[]})"));
  EXPECT_EQ(0u, error("{").rfind("invalid JSON: ", 0));
  EXPECT_EQ(0u, store.seriesCount());
  EXPECT_EQ(0u, store.stats().batches);
  EXPECT_EQ(10u, store.stats().rejected_batches);
}

// Metric labels named stage/instance are kept as exported_*; empty labels are no labels.
TEST(SeriesStoreTest, BatchLabelsWinAndEmptyLabelsAreDropped) {
  SeriesStore store(60'000);
  store.ingest(batch(1000, {{"m", {{"stage", "inner"}, {"instance", "x"}, {"empty", ""}}, 1.0}}));
  const auto series = dump(store, "m");
  ASSERT_EQ(1u, series.size());
  EXPECT_EQ((LabelSet{{"exported_instance", "x"},
                      {"exported_stage", "inner"},
                      {"instance", "host-1"},
                      {"stage", "decoder"}}),
            series[0].first);
}

// A redelivered or older sample is ignored, so Kafka redeliveries do not corrupt counters.
TEST(SeriesStoreTest, IgnoresOutOfOrderSamples) {
  SeriesStore store(60'000);
  store.ingest(batch(2000, {{"m", {}, 2.0}}));
  store.ingest(batch(2000, {{"m", {}, 20.0}}));
  store.ingest(batch(1000, {{"m", {}, 1.0}}));
  store.ingest(batch(3000, {{"m", {}, 3.0}}));
  EXPECT_EQ((std::vector<std::pair<std::int64_t, double>>{{2000, 2}, {3000, 3}}),
            dump(store, "m")[0].second);
  EXPECT_EQ(2u, store.stats().out_of_order);
  EXPECT_EQ(1000, store.firstBatchMs());
}

// Samples older than the retention go on ingest and on prune; a series left empty is dropped.
TEST(SeriesStoreTest, RetentionAndPrune) {
  SeriesStore store(10'000);
  for (std::int64_t ts = 0; ts <= 20'000; ts += 5'000) store.ingest(batch(ts, {{"m", {}, 1.0}}));
  store.ingest(batch(20'000, {{"other", {}, 1.0}}, "fetcher"));
  // At 20 s the 10 s retention keeps (10 s, 20 s].
  EXPECT_EQ((std::vector<std::pair<std::int64_t, double>>{{15'000, 1}, {20'000, 1}}),
            dump(store, "m")[0].second);
  store.prune(26'000);
  EXPECT_EQ(1u, dump(store, "m")[0].second.size());
  EXPECT_EQ(2u, store.seriesCount());
  store.prune(30'000);
  EXPECT_EQ(0u, store.seriesCount());
  EXPECT_EQ(0u, store.sampleCount());
  EXPECT_EQ(2u, store.stats().pruned_series);
  EXPECT_TRUE(dump(store, "m").empty());
}

// Beyond max_series new series are refused while known ones keep updating; prune makes room.
TEST(SeriesStoreTest, SeriesCapRefusesNewSeries) {
  SeriesStore store(SeriesStoreOptions{.retention_ms = 10'000, .max_series = 2});
  store.ingest(
      batch(1000, {{"m", {{"k", "1"}}, 1.0}, {"m", {{"k", "2"}}, 1.0}, {"m", {{"k", "3"}}, 1.0}}));
  EXPECT_EQ(2u, store.seriesCount());
  EXPECT_EQ(1u, store.stats().refused_series);
  store.ingest(batch(2000, {{"m", {{"k", "1"}}, 2.0}, {"n", {}, 1.0}}));
  EXPECT_EQ(2u, dump(store, "m")[0].second.size());
  EXPECT_TRUE(dump(store, "n").empty());
  EXPECT_EQ(2u, store.stats().refused_series);
  store.prune(11'500);  // k=2 (last at 1 s) is gone, k=1 (2 s) stays
  store.ingest(batch(12'000, {{"n", {}, 1.0}}));
  EXPECT_EQ(1u, dump(store, "n").size());
  EXPECT_EQ(2u, store.seriesCount());
}

// Beyond max_samples_per_series the oldest sample goes.
TEST(SeriesStoreTest, SampleCapEvictsOldest) {
  SeriesStore store(SeriesStoreOptions{.retention_ms = 1'000'000, .max_samples_per_series = 3});
  for (std::int64_t ts = 1; ts <= 5; ++ts)
    store.ingest(batch(ts, {{"m", {}, static_cast<double>(ts)}}));
  EXPECT_EQ((std::vector<std::pair<std::int64_t, double>>{{3, 3}, {4, 4}, {5, 5}}),
            dump(store, "m")[0].second);
  EXPECT_EQ(2u, store.stats().evicted_samples);
  EXPECT_EQ(3u, store.sampleCount());
}

// With only_names set, metrics no rule reads are not stored at all.
TEST(SeriesStoreTest, OnlyNamesFilter) {
  SeriesStore store(SeriesStoreOptions{.only_names = std::set<std::string, std::less<>>{"keep"}});
  store.ingest(batch(1, {{"keep", {}, 1.0}, {"drop", {}, 1.0}}));
  EXPECT_EQ(1u, store.seriesCount());
  EXPECT_EQ(1u, store.stats().ignored_points);
  EXPECT_TRUE(dump(store, "drop").empty());
}

}  // namespace
}  // namespace stages::alerter
