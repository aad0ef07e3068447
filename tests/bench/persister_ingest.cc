// Persister throughput: block.v1 parsing alone, and the whole write path (parse, batch, one
// SQLite transaction per batch with the partition offsets, WAL, synchronous=NORMAL) in blocks/s
// for several batch sizes; then the latency of the heaviest API requests over a 200 000-block
// database, which decides that reads run on the loop (stages/persister/README.md).
//
//   <build>/bench/persister_ingest --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// BM_IngestBlocks writes each block with its stats points record (two records per block, as the
// persister receives them); items_per_second is blocks. The database lives in $TMPDIR.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "pipeline/health/health.h"
#include "pipeline/http/server.h"
#include "pipeline/log/logging.h"
#include "pipeline/metrics/registry.h"
#include "pipeline/metrics/stage_metrics.h"
#include "stages/persister/batch_writer.h"
#include "stages/persister/query_api.h"
#include "stages/persister/records.h"
#include "stages/persister/sqlite_store.h"
#include "tests/stages/persister/test_data.h"

namespace {

namespace persister = stages::persister;
namespace data = stages::persister::testing;

constexpr std::int64_t kFirst = 70'000'000;
constexpr std::int64_t kBaseMs = 1795536000000;
constexpr const char* kToken = "bench-token-0123456789";

struct Corpus {
  std::vector<std::string> blocks;
  std::vector<std::string> points;
};

const Corpus& corpus(std::size_t count) {
  static Corpus values;
  while (values.blocks.size() < count) {
    const std::int64_t h = kFirst + static_cast<std::int64_t>(values.blocks.size());
    const std::int64_t ts = kBaseMs + (h - kFirst) * 3000;
    values.blocks.push_back(data::blockJson(h, ts));
    values.points.push_back(data::pointsJson(h, ts, h % 7));
  }
  return values;
}

void BM_ParseBlock(benchmark::State& state) {
  const Corpus& values = corpus(10'000);
  persister::RecordParser parser;
  std::size_t i = 0;
  for (auto _ : state) {
    auto parsed = parser.parse(persister::Input::Blocks, "1", values.blocks[i++ % values.blocks.size()]);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseBlock);

// Everything the stage does per record but Kafka: parse, batch, commit with offsets, finish.
void BM_IngestBlocks(benchmark::State& state) {
  const auto batch_blocks = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kBlocksPerIteration = 20'000;
  const Corpus& values = corpus(kBlocksPerIteration);
  pipeline::metrics::Registry registry("persister");
  pipeline::StageMetrics stage_metrics(registry);
  auto metrics = persister::PersisterMetrics::create(registry);
  const pipeline::log::Logger log("persister");
  testsupport::FakeEventSink sink;
  std::int64_t offset = 0;
  for (auto _ : state) {
    state.PauseTiming();
    data::TempDir dir;
    auto store = persister::SqliteStore::open({.path = dir.file("bench.db")});
    if (!store) {
      state.SkipWithError(store.error().message.c_str());
      return;
    }
    persister::BatchWriter writer(**store, {.blocks = "p.blocks", .stats = "p.stats", .metrics = "p.metrics", .dlq = "p.dlq"},
                                  sink, metrics, stage_metrics, log, [](const pipeline::Status&) {});
    std::size_t done = 0;
    state.ResumeTiming();
    for (std::size_t i = 0; i < kBlocksPerIteration; ++i) {
      const std::string key = std::to_string(kFirst + static_cast<std::int64_t>(i));
      writer.add(pipeline::kafka::Record::make("p.blocks", static_cast<std::int32_t>(i % 6), offset++, key, values.blocks[i]),
                 [&](pipeline::Outcome) { ++done; });
      writer.add(pipeline::kafka::Record::make("p.stats", static_cast<std::int32_t>(i % 3), offset++, "points:" + key,
                                               values.points[i]),
                 [&](pipeline::Outcome) { ++done; });
      if (writer.size() >= 2 * batch_blocks) writer.flush();
    }
    writer.flush();
    if (done != 2 * kBlocksPerIteration) state.SkipWithError("records left unfinished");
    state.PauseTiming();
    store->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBlocksPerIteration));
}
BENCHMARK(BM_IngestBlocks)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMillisecond)->UseRealTime();

// A 200 000-block database with points and 1-minute candles (one minute in ten empty), and the
// API over it.
class ApiFixture {
 public:
  static ApiFixture& instance() {
    static ApiFixture fixture;
    return fixture;
  }
  pipeline::http::Response get(const std::string& path, std::vector<std::pair<std::string, std::string>> query) {
    pipeline::http::Request request;
    request.method = "GET";
    request.path = path;
    request.query_params = std::move(query);
    request.headers.add("Authorization", std::string("Bearer ") + kToken);
    return api_->handle(request);
  }

 private:
  ApiFixture() : registry_("persister"), metrics_(persister::PersisterMetrics::create(registry_)) {
    constexpr std::int64_t kBlocks = 200'000;
    store_ = std::move(*persister::SqliteStore::open({.path = dir_.file("api.db")}));
    persister::RecordParser parser;
    persister::WriteBatch batch;
    std::int64_t score = 0;
    for (std::int64_t i = 0; i < kBlocks; ++i) {
      const std::int64_t h = kFirst + i;
      const std::int64_t ts = kBaseMs + i * 3000;
      score += (h % 10) % 2 == 1 ? -1 : 1;
      batch.mutations.push_back(*parser.parse(persister::Input::Blocks, "", data::blockJson(h, ts)));
      batch.mutations.push_back(*parser.parse(persister::Input::Stats, fmt::format("points:{}", h),
                                              data::pointsJson(h, ts, score)));
      if (i % 20 == 19 && (i / 20) % 10 != 3) {
        const std::int64_t start = kBaseMs + (i - 19) * 3000;
        batch.mutations.push_back(*parser.parse(
            persister::Input::Stats, fmt::format("candle:1m:{}", start),
            data::candleJson("1m", start, start + 60000, score - 1, score + 2, score - 2, score, 20, h - 19)));
      }
      if (batch.mutations.size() >= 20'000) {
        (void)store_->write(batch);
        batch.mutations.clear();
      }
    }
    (void)store_->write(batch);
    queries_ = std::move(*persister::SqliteQueries::open(dir_.file("api.db"), 1000));
    api_ = std::make_unique<persister::QueryApi>(
        *queries_, persister::TokenAuthenticator({kToken}), metrics_, [] { return kBaseMs; },
        [] { return pipeline::health::CheckResult{}; });
  }

  data::TempDir dir_;
  pipeline::metrics::Registry registry_;
  persister::PersisterMetrics metrics_;
  std::unique_ptr<persister::SqliteStore> store_;
  std::unique_ptr<persister::SqliteQueries> queries_;
  std::unique_ptr<persister::QueryApi> api_;
};

void runQuery(benchmark::State& state, const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& query) {
  ApiFixture& api = ApiFixture::instance();
  for (auto _ : state) {
    auto response = api.get(path, query);
    if (response.status != 200) {
      state.SkipWithError(response.body.c_str());
      return;
    }
    benchmark::DoNotOptimize(response);
  }
}

void BM_QueryStats(benchmark::State& state) { runQuery(state, "/api/blocks/stats", {}); }
void BM_QueryHistory1000(benchmark::State& state) {
  runQuery(state, "/api/blocks/history", {{"from_height", "70100000"}, {"limit", "1000"}});
}
void BM_QueryPoints1000(benchmark::State& state) {
  runQuery(state, "/api/blocks/points", {{"limit", "1000"}});
}
void BM_QueryTrend100000(benchmark::State& state) {
  runQuery(state, "/api/blocks/points/trend", {{"window", "100000"}, {"samples", "1000"}});
}
void BM_QueryKline1000(benchmark::State& state) {
  runQuery(state, "/api/blocks/kline", {{"period", "1m"}, {"limit", "1000"}});
}
void BM_QueryIndicators1000(benchmark::State& state) {
  runQuery(state, "/api/blocks/kline/indicators", {{"period", "1m"}, {"limit", "1000"}});
}
void BM_QueryKlineStats1000(benchmark::State& state) {
  runQuery(state, "/api/blocks/kline/stats", {{"period", "1m"}, {"limit", "1000"}});
}
void BM_QueryStatus(benchmark::State& state) { runQuery(state, "/api/system/status", {}); }
BENCHMARK(BM_QueryStats)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryHistory1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryPoints1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryTrend100000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryKline1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryIndicators1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryKlineStats1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_QueryStatus)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
