#include "stages/persister/query_api.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "stages/persister/sqlite_store.h"
#include "tests/stages/persister/test_data.h"
#include "tests/support/loop_runner.h"
#include "tests/support/raw_http.h"

namespace stages::persister {
namespace {

using testing::TempDir;
using testsupport::BackgroundTask;
using testsupport::RawConnection;
using testsupport::RawResponse;

constexpr std::int64_t kBase = 1795536000000;  // 2026-11-25T00:00:00Z
constexpr std::int64_t kFirst = 100;
constexpr std::int64_t kLast = 159;
constexpr const char* kToken = "test-token-0123456789";

std::int64_t pointOf(std::int64_t height) { return height % 2 == 1 ? -1 : 1; }  // digit = height % 10

// Serves the API of a database holding 60 blocks (3 minutes, 3 s apart) and their statistics,
// over real HTTP on loopback.
class QueryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::open({.path = dir_.file("api.db")});
    ASSERT_TRUE(store) << store.error().message;
    RecordParser parser;
    WriteBatch batch;
    const auto add = [&](Input input, const std::string& key, const std::string& value) {
      auto mutation = parser.parse(input, key, value);
      ASSERT_TRUE(mutation) << key << ": " << mutation.error().message;
      batch.mutations.push_back(std::move(*mutation));
    };
    std::int64_t score = 0;
    for (std::int64_t h = kFirst; h <= kLast; ++h) {
      const std::int64_t ts = kBase + (h - kFirst) * 3000;
      score += pointOf(h);
      scores_[h] = score;
      add(Input::Blocks, std::to_string(h), testing::blockJson(h, ts));
      add(Input::Stats, fmt::format("points:{}", h), testing::pointsJson(h, ts, score));
    }
    add(Input::Stats, "daily:2026-11-25", testing::dailyJson("2026-11-25", kBase, 60, kFirst, score, 4));
    add(Input::Stats, "hourly:2026-11-25T00", testing::hourlyJson("2026-11-25T00", kBase));
    // Minutes 0 and 2 have candles; minute 1 is stored empty on purpose (filled by the API).
    add(Input::Stats, fmt::format("candle:1m:{}", kBase), testing::candleJson("1m", kBase, kBase + 60000, 0, 1, -1, 0, 20, 100));
    add(Input::Stats, fmt::format("candle:1m:{}", kBase + 120000),
        testing::candleJson("1m", kBase + 120000, kBase + 180000, 0, 3, 0, 2, 20, 140));
    add(Input::Stats, "witness:2026-11-25:" + std::string(testing::kWitnessA),
        testing::witnessJson("2026-11-25", testing::kWitnessA, testing::kWitnessAHex, 30, 1));
    add(Input::Stats, "witness:2026-11-25:" + std::string(testing::kWitnessB),
        testing::witnessJson("2026-11-25", testing::kWitnessB, testing::kWitnessBHex, 31, 2));
    add(Input::Stats, "parity:1000", testing::parityJson(1000, kLast));
    add(Input::Metrics, "fetcher/host-1", testing::metricJson("fetcher", kBase + 600000, 200));
    ASSERT_TRUE((*store)->write(batch));
    store_ = std::move(*store);
    auto queries = SqliteQueries::open(dir_.file("api.db"), 1000);
    ASSERT_TRUE(queries) << queries.error().message;
    queries_ = std::move(*queries);
    api_ = std::make_unique<QueryApi>(
        *queries_, TokenAuthenticator({kToken, "second-token-abcdefgh"}), metrics_,
        [this] { return now_ms_; },
        [] { return pipeline::health::CheckResult{pipeline::health::State::Healthy, "ok"}; });
    server_ = std::make_unique<pipeline::http::Server>(runner_.loop(), pipeline::http::ServerOptions{});
    server_->routePrefix("GET", "/api/", [this](const pipeline::http::Request& r) { return api_->handle(r); });
    ASSERT_TRUE(server_->listen());
  }

  RawResponse get(const std::string& target, std::optional<std::string> authorization =
                                                 std::string("Bearer ") + kToken) {
    std::optional<RawResponse> response;
    BackgroundTask task([&] {
      RawConnection connection(server_->port());
      ASSERT_TRUE(connection.connected());
      std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: test\r\n", target);
      if (authorization) request += "Authorization: " + *authorization + "\r\n";
      ASSERT_TRUE(connection.send(request + "\r\n"));
      response = connection.readResponse();
    });
    EXPECT_TRUE(runner_.runUntil([&] { return task.done(); }));
    return response.value_or(RawResponse{});
  }

  // GET expecting 200 and success:true; returns the parsed `data`.
  simdjson::dom::element data(const std::string& target) {
    last_ = get(target);
    EXPECT_EQ(200, last_.status) << target << ": " << last_.body;
    simdjson::dom::element root;
    EXPECT_EQ(simdjson::SUCCESS, parser_.parse(last_.body).get(root)) << last_.body;
    EXPECT_TRUE(root["success"].get_bool().value_unsafe()) << last_.body;
    return root["data"].value_unsafe();
  }

  // GET expecting `status` and success:false; returns the error message.
  std::string error(const std::string& target, int status = 400) {
    last_ = get(target);
    EXPECT_EQ(status, last_.status) << target << ": " << last_.body;
    simdjson::dom::element root;
    if (parser_.parse(last_.body).get(root) != simdjson::SUCCESS) return "<not json>";
    EXPECT_FALSE(root["success"].get_bool().value_unsafe()) << last_.body;
    return std::string(root["error"].get_string().value_unsafe());
  }

  // Commits one more block, as the persister's writer connection does.
  void commitBlock(std::int64_t height) {
    RecordParser parser;
    WriteBatch batch;
    auto mutation = parser.parse(Input::Blocks, std::to_string(height),
                                 testing::blockJson(height, kBase + (height - kFirst) * 3000));
    ASSERT_TRUE(mutation) << mutation.error().message;
    batch.mutations.push_back(std::move(*mutation));
    ASSERT_TRUE(store_->write(batch));
  }

  std::int64_t now_ms_ = kBase + 3'600'000;
  TempDir dir_;
  testsupport::LoopRunner runner_;
  pipeline::metrics::Registry registry_{"persister"};
  PersisterMetrics metrics_ = PersisterMetrics::create(registry_);
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<SqliteQueries> queries_;
  std::unique_ptr<QueryApi> api_;
  std::unique_ptr<pipeline::http::Server> server_;
  std::map<std::int64_t, std::int64_t> scores_;
  simdjson::dom::parser parser_;
  RawResponse last_;
};

const char* const kRoutes[] = {"/api/blocks/stats", "/api/blocks/history?from_height=100",
                               "/api/blocks/points", "/api/blocks/points/trend",
                               "/api/blocks/kline?period=1m", "/api/blocks/kline/indicators?period=1m",
                               "/api/blocks/kline/stats?period=1m", "/api/witnesses", "/api/system/status"};

// Every route refuses a request without a token or with a wrong one (401 with a Bearer
// challenge) and answers a valid one, whichever configured token it is.
TEST_F(QueryApiTest, EveryRouteNeedsAValidBearerToken) {
  for (const char* route : kRoutes) {
    auto missing = get(route, std::nullopt);
    EXPECT_EQ(401, missing.status) << route;
    EXPECT_EQ(R"(Bearer realm="point-tron")", missing.header("WWW-Authenticate")) << route;
    EXPECT_NE(std::string::npos, missing.body.find(R"("success":false)")) << missing.body;
    EXPECT_EQ(401, get(route, std::string("Bearer wrong-token-0123456789")).status) << route;
    EXPECT_EQ(401, get(route, std::string("Basic ") + kToken).status) << route;
    EXPECT_EQ(401, get(route, std::string("Bearer ") + kToken + "x").status) << route;
    EXPECT_EQ(200, get(route).status) << route << ": " << last_.body;
    EXPECT_EQ(200, get(route, std::string("bearer second-token-abcdefgh")).status) << route;
  }
  EXPECT_EQ(4 * 9, registry_.value("point_tron_persister_api_auth_failures_total"));
}

// An unknown route under /api/ is a 404 in the envelope (after auth).
TEST_F(QueryApiTest, UnknownRoutesAre404) {
  EXPECT_EQ("unknown API route; see docs/api.md", error("/api/blocks/nope", 404));
  EXPECT_EQ(401, get("/api/blocks/nope", std::nullopt).status);
}

// The latest block with its point and score, today's figures and the parity test.
TEST_F(QueryApiTest, BlocksStats) {
  auto d = data("/api/blocks/stats");
  EXPECT_EQ(kLast, d["latest_block"]["height"].get_int64().value_unsafe());
  EXPECT_EQ(testing::blockId(kLast, 9), d["latest_block"]["block_id"].get_string().value_unsafe());
  EXPECT_EQ(-1, d["latest_block"]["point"].get_int64().value_unsafe());
  EXPECT_EQ(scores_[kLast], d["latest_block"]["score"].get_int64().value_unsafe());
  EXPECT_EQ(2, d["latest_block"]["tx_by_type"]["TransferContract"].get_int64().value_unsafe());
  EXPECT_EQ("2026-11-25", d["today"]["date"].get_string().value_unsafe());
  EXPECT_EQ(60, d["today"]["blocks"].get_int64().value_unsafe());
  EXPECT_EQ(1000, d["parity"].at(0)["window"].get_int64().value_unsafe());
  EXPECT_EQ("unknown parameter; this route takes: ", error("/api/blocks/stats?x=1"));
}

// The same request is answered from the cache until a commit happens or a second passes; then
// the answer is the database's new state. Other query strings and the system status are not
// served from it.
TEST_F(QueryApiTest, CachesAnswersUntilTheNextCommitForAtMostASecond) {
  const auto cached = [&] { return registry_.value("point_tron_persister_api_cached_answers_total"); };
  const std::string first = get("/api/blocks/stats").body;
  EXPECT_EQ(first, get("/api/blocks/stats").body);
  EXPECT_EQ(1, cached());
  data("/api/blocks/points?limit=2");
  EXPECT_EQ(1, cached());

  commitBlock(kLast + 1);
  EXPECT_EQ(kLast + 1, data("/api/blocks/stats")["latest_block"]["height"].get_int64().value_unsafe());
  EXPECT_EQ(1, cached());
  data("/api/blocks/stats");
  EXPECT_EQ(2, cached());

  now_ms_ += 1000;
  EXPECT_EQ(now_ms_, data("/api/blocks/stats")["server_time_ms"].get_int64().value_unsafe());
  EXPECT_EQ(2, cached());

  data("/api/system/status");
  data("/api/system/status");
  EXPECT_EQ(2, cached());
}

// History by date and by height range, in pages of a bounded size.
TEST_F(QueryApiTest, BlocksHistoryPages) {
  auto page = data("/api/blocks/history?date=2026-11-25&limit=25");
  EXPECT_EQ(25u, page["items"].get_array().value_unsafe().size());
  EXPECT_EQ(kFirst, page["items"].at(0)["height"].get_int64().value_unsafe());
  EXPECT_EQ(125, page["next_from_height"].get_int64().value_unsafe());
  auto last = data("/api/blocks/history?date=2026-11-25&from_height=150&limit=25");
  EXPECT_EQ(10u, last["items"].get_array().value_unsafe().size());
  EXPECT_TRUE(last["next_from_height"].is_null());
  auto range = data("/api/blocks/history?from_height=110&to_height=119");
  EXPECT_EQ(10u, range["items"].get_array().value_unsafe().size());
  EXPECT_EQ(scores_[119], range["items"].at(9)["score"].get_int64().value_unsafe());
  EXPECT_EQ(0u, data("/api/blocks/history?date=2026-11-26")["items"].get_array().value_unsafe().size());
  EXPECT_EQ(100, data("/api/blocks/history?from_height=0")["limit"].get_int64().value_unsafe());
}

// Bad parameters are 400 with a JSON error that names the parameter but never echoes the value.
TEST_F(QueryApiTest, RejectsBadParameters) {
  const std::string limit_error = "limit: must be an integer in [1, 1000]";
  for (const char* limit : {"0", "-1", "1001", "abc", "1e3", "99999999999999999999999", "", "10%20", "+5"}) {
    EXPECT_EQ(limit_error, error(fmt::format("/api/blocks/history?from_height=1&limit={}", limit))) << limit;
  }
  EXPECT_EQ(limit_error, error("/api/blocks/points?limit=5000"));
  EXPECT_EQ("date: must be a date YYYY-MM-DD", error("/api/blocks/history?date=2026-02-30"));
  const std::string injection = error("/api/blocks/history?date=2026-11-25%27%20OR%201%3D1--");
  EXPECT_EQ("date: must be a date YYYY-MM-DD", injection);
  EXPECT_EQ(std::string::npos, last_.body.find("OR 1=1"));
  EXPECT_EQ("give date, or from_height (with an optional to_height)", error("/api/blocks/history"));
  EXPECT_EQ("to_height: must not be below from_height", error("/api/blocks/history?from_height=10&to_height=9"));
  EXPECT_EQ("from_height: must be an integer in [0, 9223372036854775807]",
            error("/api/blocks/history?from_height=-5"));
  EXPECT_EQ("limit: given more than once", error("/api/blocks/history?from_height=1&limit=5&limit=6"));
  EXPECT_TRUE(error("/api/blocks/history?from_height=1&order=desc").starts_with("unknown parameter"));
  EXPECT_EQ("period: required (1m, 5m, 15m, 1h, 4h, 1d or 20b)", error("/api/blocks/kline"));
  EXPECT_EQ("period: must be one of 1m, 5m, 15m, 1h, 4h, 1d, 20b", error("/api/blocks/kline?period=2m"));
  EXPECT_EQ("period: must be one of 1m, 5m, 15m, 1h, 4h, 1d, 20b",
            error("/api/blocks/kline/stats?period=1m;DROP%20TABLE%20blocks"));
  EXPECT_EQ("fill: must be true or false", error("/api/blocks/kline?period=1m&fill=yes"));
  EXPECT_TRUE(error("/api/blocks/kline/indicators?period=1m&fill=true").starts_with("unknown parameter"));
  EXPECT_EQ("window: must be an integer in [2, 100000]", error("/api/blocks/points/trend?window=100001"));
  EXPECT_EQ("samples: must be an integer in [2, 1000]", error("/api/blocks/points/trend?samples=1"));
  EXPECT_EQ("date: must be a date YYYY-MM-DD", error("/api/witnesses?date=yesterday"));
  // The tables are intact after all of that.
  EXPECT_EQ(60u, data("/api/blocks/points?limit=1000")["items"].get_array().value_unsafe().size());
}

// The newest points, ascending, with a summary that adds up.
TEST_F(QueryApiTest, BlocksPoints) {
  auto d = data("/api/blocks/points?limit=10");
  auto items = d["items"].get_array().value_unsafe();
  ASSERT_EQ(10u, items.size());
  EXPECT_EQ(150, items.at(0)["height"].get_int64().value_unsafe());
  EXPECT_EQ(kLast, items.at(9)["height"].get_int64().value_unsafe());
  EXPECT_EQ(0, d["summary"]["sum_points"].get_int64().value_unsafe());  // five odd, five even
  EXPECT_EQ(5, d["summary"]["odd"].get_int64().value_unsafe());
  EXPECT_EQ(scores_[149], d["summary"]["start_score"].get_int64().value_unsafe());
  EXPECT_EQ(scores_[kLast], d["summary"]["end_score"].get_int64().value_unsafe());
  auto range = data("/api/blocks/points?from_height=100&to_height=104");
  EXPECT_EQ(5u, range["items"].get_array().value_unsafe().size());
}

// The trend samples the window evenly, ending at the newest block.
TEST_F(QueryApiTest, PointsTrend) {
  auto d = data("/api/blocks/points/trend?window=60&samples=6");
  EXPECT_EQ(10, d["step"].get_int64().value_unsafe());
  EXPECT_EQ(kLast, d["to_height"].get_int64().value_unsafe());
  auto items = d["items"].get_array().value_unsafe();
  ASSERT_EQ(6u, items.size());
  EXPECT_EQ(109, items.at(0)["height"].get_int64().value_unsafe());
  EXPECT_EQ(scores_[kLast] - scores_[109], d["change"].get_int64().value_unsafe());
  EXPECT_EQ("flat", d["direction"].get_string().value_unsafe());
}

// Candles fill the empty minute flat at the previous close, unless told not to.
TEST_F(QueryApiTest, KlineFillsEmptyBuckets) {
  auto items = data("/api/blocks/kline?period=1m&limit=3")["items"].get_array().value_unsafe();
  ASSERT_EQ(3u, items.size());
  EXPECT_EQ(kBase + 60000, items.at(1)["start"].get_int64().value_unsafe());
  EXPECT_TRUE(items.at(1)["filled"].get_bool().value_unsafe());
  EXPECT_EQ(0, items.at(1)["volume"].get_int64().value_unsafe());
  EXPECT_EQ(0, items.at(1)["open"].get_int64().value_unsafe());
  EXPECT_EQ(2, items.at(2)["close"].get_int64().value_unsafe());
  EXPECT_EQ(2u, data("/api/blocks/kline?period=1m&limit=3&fill=false")["items"].get_array().value_unsafe().size());
  EXPECT_EQ(1u, data(fmt::format("/api/blocks/kline?period=1m&end={}", kBase + 59999))["items"]
                    .get_array().value_unsafe().size());
  EXPECT_EQ(0u, data("/api/blocks/kline?period=1h")["items"].get_array().value_unsafe().size());
}

// Indicators: too few candles for MA5 or RSI(14) give nulls; closes follow the filled series.
TEST_F(QueryApiTest, KlineIndicators) {
  auto items = data("/api/blocks/kline/indicators?period=1m&limit=5")["items"].get_array().value_unsafe();
  ASSERT_EQ(3u, items.size());
  EXPECT_EQ(0, items.at(1)["close"].get_int64().value_unsafe());
  EXPECT_TRUE(items.at(2)["ma5"].is_null());
  EXPECT_TRUE(items.at(2)["rsi14"].is_null());
}

// Change statistics over the filled series: changes 0, 0 (filled), +2.
TEST_F(QueryApiTest, KlineStats) {
  auto d = data("/api/blocks/kline/stats?period=1m&limit=3");
  EXPECT_EQ(3, d["candles"].get_int64().value_unsafe());
  EXPECT_EQ(2, d["total_change"].get_int64().value_unsafe());
  EXPECT_EQ(2, d["max_gain"].get_int64().value_unsafe());
  EXPECT_EQ(0, d["max_loss"].get_int64().value_unsafe());
  EXPECT_EQ(1, d["up"].get_int64().value_unsafe());
  EXPECT_EQ(2, d["flat"].get_int64().value_unsafe());
  EXPECT_DOUBLE_EQ(40.0 / 3.0, d["average_volume"].get_double().value_unsafe());
  EXPECT_DOUBLE_EQ(1.0, d["win_rate"].get_double().value_unsafe());
}

// Witnesses of the latest day, most blocks first, with the day's own missed-slot count.
TEST_F(QueryApiTest, Witnesses) {
  auto d = data("/api/witnesses");
  EXPECT_EQ("2026-11-25", d["date"].get_string().value_unsafe());
  auto rows = d["witnesses"].get_array().value_unsafe();
  ASSERT_EQ(2u, rows.size());
  EXPECT_EQ(testing::kWitnessB, rows.at(0)["witness"].get_string().value_unsafe());
  EXPECT_EQ(61, d["total_blocks"].get_int64().value_unsafe());
  EXPECT_EQ(3, d["attributed_missed_slots"].get_int64().value_unsafe());
  EXPECT_EQ(4, d["day_missed_slots"].get_int64().value_unsafe());
  EXPECT_EQ(1u, data("/api/witnesses?limit=1")["witnesses"].get_array().value_unsafe().size());
  EXPECT_EQ(0u, data("/api/witnesses?date=2026-01-01")["witnesses"].get_array().value_unsafe().size());
}

// The system status shows each stage's last metric batch, the database and the lag behind the
// chain head the fetcher reported.
TEST_F(QueryApiTest, SystemStatus) {
  auto d = data("/api/system/status");
  auto stage = d["stages"].at(0);
  EXPECT_EQ("fetcher", stage["stage"].get_string().value_unsafe());
  EXPECT_EQ(3000000, stage["age_ms"].get_int64().value_unsafe());
  EXPECT_EQ(3.0, stage["errors"].get_double().value_unsafe());
  EXPECT_EQ(kLast, d["database"]["latest_block_height"].get_int64().value_unsafe());
  EXPECT_EQ(200, d["lag"]["chain_head_height"].get_int64().value_unsafe());
  EXPECT_EQ(200 - kLast, d["lag"]["blocks_behind_head"].get_int64().value_unsafe());
  EXPECT_EQ("healthy", d["writer"]["status"].get_string().value_unsafe());
  EXPECT_TRUE(d["last_backup"].is_null());
  EXPECT_GT(d["database"]["size_bytes"].get_int64().value_unsafe(), 0);
}

}  // namespace
}  // namespace stages::persister
