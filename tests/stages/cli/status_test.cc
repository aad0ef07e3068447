#include "stages/cli/status.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "pipeline/http/server.h"
#include "tests/support/loop_runner.h"

namespace stages::cli {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kExposition = R"(# HELP point_tron_aggregator_day_blocks Blocks of the open day.
# TYPE point_tron_aggregator_day_blocks gauge
point_tron_aggregator_day_blocks{parity="even",stage="aggregator"} 510
point_tron_aggregator_day_blocks{parity="odd",stage="aggregator"} 490
point_tron_aggregator_score{stage="aggregator"} 20
point_tron_aggregator_folded_height{stage="aggregator"} 71234567
point_tron_aggregator_parity_z_score{stage="aggregator"} -0.63
odd_label{path="a \"quoted\" \\ value",stage="x"} 1.5 1700000000000
nan_gauge NaN
not a sample line
)";

TEST(MetricSamplesTest, ReadsValuesByNameAndLabelSubset) {
  const auto samples = MetricSamples::parse(kExposition);
  EXPECT_EQ(490, samples.value("point_tron_aggregator_day_blocks", {{"parity", "odd"}}));
  EXPECT_EQ(510, samples.value("point_tron_aggregator_day_blocks", {{"parity", "even"}}));
  EXPECT_EQ(1000, samples.sum("point_tron_aggregator_day_blocks"));
  EXPECT_EQ(20, samples.value("point_tron_aggregator_score"));
  EXPECT_EQ(1.5, samples.value("odd_label", {{"path", R"(a "quoted" \ value)"}}));
  EXPECT_TRUE(std::isnan(*samples.value("nan_gauge")));
  EXPECT_EQ(std::nullopt, samples.value("point_tron_aggregator_day_blocks", {{"parity", "none"}}));
  EXPECT_EQ(std::nullopt, samples.value("missing"));
  EXPECT_EQ(std::nullopt, samples.sum("missing"));
  EXPECT_EQ(std::nullopt, samples.value("not"));
}

StageReport report(std::string stage, std::string health, std::string_view metrics) {
  StageReport r{.stage = std::move(stage), .address = "127.0.0.1:1", .health = std::move(health)};
  r.metrics = MetricSamples::parse(metrics);
  return r;
}

TEST(StatusFormatTest, LineShowsHeightsRateAndTrouble) {
  const auto start = std::chrono::steady_clock::time_point{} + 100s;
  Snapshot before{.at = start,
                  .stages = {report("persister", "healthy", "point_tron_persister_block_height 100\n")}};
  Snapshot now{
      .at = start + 2s,
      .stages = {report("fetcher", "healthy",
                        "point_tron_fetcher_last_emitted_height 110\npoint_tron_fetcher_lag_blocks 3\n"),
                 report("decoder", "healthy", "point_tron_decoder_decoded_blocks_total 42\n"),
                 report("aggregator", "degraded", "point_tron_aggregator_folded_height 108\n"),
                 report("persister", "healthy", "point_tron_persister_block_height 107\n"),
                 report("alerter", "down", "")}};
  EXPECT_EQ("fetched 110 (lag 3) · decoded 42 · folded 108 · persisted 107 · 3.5 blocks/s · "
            "aggregator degraded, alerter down",
            formatLine(now, &before));
  EXPECT_FALSE(allUp(now));
  now.stages.pop_back();
  EXPECT_TRUE(allUp(now)) << "degraded still counts as up";
  Snapshot starting{.at = start - 2s,
                    .stages = {report("persister", "healthy", "point_tron_persister_block_height 0\n")}};
  EXPECT_EQ(std::string::npos, formatLine(before, &starting).find("blocks/s"))
      << "no rate from a persister that had not read its database yet";
  Snapshot empty{.at = start, .stages = {report("fetcher", "healthy", "")}};
  EXPECT_EQ("fetched ? (lag ?) · decoded ? · folded ? · persisted ? · all 1 healthy",
            formatLine(empty, nullptr));
}

TEST(StatusFormatTest, TableShowsFiguresMemoryAndDetails) {
  Snapshot snapshot{.at = {}, .stages = {report("aggregator", "healthy", std::string(kExposition) +
                                                                              "process_resident_memory_bytes 21000000\n"),
                                         report("alerter", "down", "")}};
  snapshot.stages[1].detail = "no answer: connection refused";
  const std::string table = formatTable(snapshot);
  EXPECT_NE(std::string::npos,
            table.find("height 71234567, score 20, today 490 odd / 510 even, z -0.63")) << table;
  EXPECT_NE(std::string::npos, table.find("21 MB")) << table;
  EXPECT_NE(std::string::npos, table.find("alerter: no answer: connection refused")) << table;
}

// A real admin endpoint on loopback answers; a closed port is reported down with the reason.
TEST(StatusCollectTest, AsksEveryEndpointOverHttp) {
  testsupport::LoopRunner runner;
  auto server = std::make_unique<pipeline::http::Server>(runner.loop(), pipeline::http::ServerOptions{});
  server->route("GET", "/health", [](const pipeline::http::Request&) {
    return pipeline::http::Response::json(
        200, R"({"success":true,"data":{"status":"degraded","ready":true,"checks":{)"
             R"("loop":{"status":"healthy","detail":"ok"},)"
             R"("fold":{"status":"degraded","detail":"height 7 missing for 90 s"}}}})");
  });
  server->route("GET", "/metrics", [](const pipeline::http::Request&) {
    return pipeline::http::Response::text(200, "point_tron_aggregator_folded_height{stage=\"aggregator\"} 6\n");
  });
  ASSERT_TRUE(server->listen());
  // A port that was free a moment ago: bound, then released.
  std::uint16_t closed_port = 0;
  {
    pipeline::http::Server probe(runner.loop(), {});
    ASSERT_TRUE(probe.listen());
    closed_port = probe.port();
    bool stopped = false;
    probe.stop([&stopped] { stopped = true; });
    ASSERT_TRUE(runner.runUntil([&] { return stopped; }));
  }
  const Snapshot snapshot =
      collect(runner.loop(),
              {{"aggregator", "127.0.0.1:" + std::to_string(server->port())},
               {"alerter", "127.0.0.1:" + std::to_string(closed_port)}},
              2000ms);
  ASSERT_EQ(2u, snapshot.stages.size());
  EXPECT_EQ("degraded", snapshot.stages[0].health);
  EXPECT_EQ("fold: height 7 missing for 90 s", snapshot.stages[0].detail);
  EXPECT_EQ(6, snapshot.stages[0].metrics.value("point_tron_aggregator_folded_height"));
  EXPECT_EQ("down", snapshot.stages[1].health);
  EXPECT_NE(std::string::npos, snapshot.stages[1].detail.find("no answer")) << snapshot.stages[1].detail;
  bool stopped = false;
  server->stop([&stopped] { stopped = true; });
  ASSERT_TRUE(runner.runUntil([&] { return stopped; }));
}

}  // namespace
}  // namespace stages::cli
