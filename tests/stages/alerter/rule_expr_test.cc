#include "stages/alerter/rule_expr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace stages::alerter {
namespace {

constexpr std::int64_t kNow = 1'000'000'000'000;  // ms
constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kMinute = 60 * kSecond;

std::string parseError(std::string_view text) {
  auto expr = Expr::parse(text);
  if (expr) return "parsed: " + expr->toString();
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, expr.error().type);
  return expr.error().message;
}

std::string canonical(std::string_view text) {
  auto expr = Expr::parse(text);
  if (!expr) return "error: " + expr.error().message;
  return expr->toString();
}

// Adds one sample of `name{labels}` from stage/instance at ts.
void put(SeriesStore& store, std::int64_t ts, const std::string& name, LabelSet labels,
         double value, const std::string& stage = "persister",
         const std::string& instance = "host-1") {
  MetricBatch batch{ts, stage, instance, {}};
  batch.metrics.push_back(MetricPoint{name, std::move(labels), value});
  store.ingest(batch);
}

// Adds `values` at kNow - (n-1-i) * step, the last one at kNow.
void series(SeriesStore& store, const std::string& name, LabelSet labels,
            const std::vector<double>& values, std::int64_t step = kMinute,
            const std::string& stage = "persister", const std::string& instance = "host-1",
            std::int64_t end = kNow) {
  const auto n = static_cast<std::int64_t>(values.size());
  for (std::int64_t i = 0; i < n; ++i) {
    put(store, end - (n - 1 - i) * step, name, labels, values[static_cast<std::size_t>(i)], stage,
        instance);
  }
}

std::vector<Sample> eval(const SeriesStore& store, std::string_view text, std::int64_t now = kNow) {
  auto expr = Expr::parse(text);
  EXPECT_TRUE(expr) << text << ": " << expr.error().message;
  if (!expr) return {};
  auto result = expr->evaluate(store, now);
  EXPECT_TRUE(result) << text << ": " << result.error().message;
  return result ? *result : std::vector<Sample>{};
}

// The single value of an expression that must yield exactly one element.
double single(const SeriesStore& store, std::string_view text, std::int64_t now = kNow) {
  const auto result = eval(store, text, now);
  EXPECT_EQ(1u, result.size()) << text;
  return result.empty() ? std::nan("") : result.front().value;
}

const LabelSet kHost{{"instance", "host-1"}, {"stage", "persister"}};

// --- Parsing -----------------------------------------------------------------------------------

// Valid expressions parse and print back in canonical PromQL.
TEST(RuleExprParseTest, PrintsCanonicalForm) {
  EXPECT_EQ("rate(point_tron_persister_written_records_total[5m]) <= 0",
            canonical("rate(point_tron_persister_written_records_total[5m])<=0"));
  EXPECT_EQ("time() - point_tron_backup_last_success_timestamp_seconds > 7200",
            canonical("time()-point_tron_backup_last_success_timestamp_seconds > 7200"));
  EXPECT_EQ(R"(x{a="b", c!="d", e=~"f.*", g!~"h"})",
            canonical(R"(x{a="b",c!="d",e=~'f.*',g!~"h",})"));
  EXPECT_EQ(R"(x{a="it's\t\"q\"\r\n\\"})", canonical(R"(x{a='it\'s\t"q"\r\n\\'})"));
  EXPECT_EQ("sum by (stage) (x)", canonical("sum(x) by (stage)"));
  EXPECT_EQ("max without (reason) (x)", canonical("max without(reason)(x)"));
  EXPECT_EQ("min by (a, b) (x)", canonical("min by (a,b) (x)"));
  EXPECT_EQ("count(x)", canonical("count(x)"));
  EXPECT_EQ("(a + b) * c", canonical("(a + b) * c"));
  EXPECT_EQ("a - (b - c)", canonical("a - (b - c)"));
  EXPECT_EQ("a - b - c", canonical("(a - b) - c"));
  EXPECT_EQ("a + b * c", canonical("a + (b * c)"));
  EXPECT_EQ("-x > -1", canonical("-x > -1"));
  EXPECT_EQ("rate(x[1h30m])", canonical("rate(x[90m])"));
  EXPECT_EQ("increase(x[1m30s])", canonical("increase(x[ 90s ])"));
  EXPECT_EQ("delta(x[500ms])", canonical("delta(x[500ms])"));
  EXPECT_EQ(R"(absent(up{job="x"}))", canonical(R"(absent(up{job="x"}))"));
  EXPECT_EQ("absent_over_time(x[10m])", canonical("absent_over_time(x[10m])"));
  EXPECT_EQ("max_over_time(x[1d]) >= 2.5", canonical("max_over_time(x[1d]) >= 2.5"));
  EXPECT_EQ("a / on (stage) b", canonical("a / on(stage) b"));
  EXPECT_EQ("a / ignoring (reason) b != 0", canonical("a / ignoring(reason) b != 0"));
  EXPECT_EQ("x > Inf", canonical("x > +Inf"));
  EXPECT_EQ("x == 1000", canonical("x == 1e3"));
  EXPECT_EQ(R"(x{a="q\"\\"})", canonical(R"(x{a="q\"\\"})"));
  EXPECT_EQ("sum by (stage) (rate(e[5m])) / sum by (stage) (rate(r[5m])) > 0.05",
            canonical("sum by (stage) (rate(e[5m])) / sum by (stage) (rate(r[5m])) > 0.05"));
}

// Every syntax error names the 1-based column and what was expected there.
TEST(RuleExprParseTest, ErrorsNameColumnAndExpectation) {
  EXPECT_EQ("col 10: expected ']'", parseError("rate(x[5m) <= 0"));
  EXPECT_EQ("col 1: expected an expression", parseError(""));
  EXPECT_EQ("col 4: expected an expression", parseError("x >"));
  EXPECT_EQ("col 7: expected '[' (rate() needs a range like metric[5m])",
            parseError("rate(x) > 0"));
  EXPECT_EQ("col 8: expected a duration like 5m (units ms, s, m, h, d, w)",
            parseError("rate(x[5q])"));
  EXPECT_EQ("col 8: expected a duration like 5m (units ms, s, m, h, d, w)",
            parseError("rate(x[m5])"));
  EXPECT_EQ("col 10: subqueries are not supported", parseError("rate(x[5m:1m])"));
  EXPECT_EQ(
      "col 2: a range selector is only allowed inside rate, increase, delta, *_over_time or "
      "absent_over_time",
      parseError("x[5m] > 1"));
  EXPECT_EQ("col 1: unknown or unsupported function \"foo\"", parseError("foo(x)"));
  EXPECT_EQ("col 1: unknown or unsupported function \"topk\"", parseError("topk(3, x)"));
  EXPECT_EQ("col 8: expected ',' or '}'", parseError(R"(x{a="b")"));
  EXPECT_EQ("col 5: expected a quoted string", parseError("x{a=b}"));
  EXPECT_EQ("col 5: unterminated string", parseError(R"(x{a="b)"));
  EXPECT_EQ("col 7: unknown escape sequence '\\q'", parseError(R"(x{a="b\q"})"));
  EXPECT_EQ("col 4: expected one of =, !=, =~, !~ (not ==)", parseError(R"(x{a=="b"})"));
  EXPECT_EQ("col 3: __name__ matchers are not supported; write the metric name",
            parseError(R"(x{__name__="y"})"));
  EXPECT_EQ("col 1: a selector needs a metric name (name{...})", parseError(R"({a="b"})"));
  EXPECT_EQ("col 3: comparisons between two scalars are not supported", parseError("1 > 2"));
  EXPECT_EQ("col 1: the expression yields a scalar; it must yield a vector",
            parseError("time() + 1"));
  EXPECT_EQ("col 5: the bool modifier is not supported", parseError("x > bool 1"));
  EXPECT_EQ("col 3: offset is not supported", parseError("x offset 5m"));
  EXPECT_EQ("col 3: unexpected 'y'", parseError("x y"));
  EXPECT_EQ("col 3: unexpected character '@'", parseError("x @ 5"));
  EXPECT_EQ("col 14: expected ')'", parseError("sum by (a) (x"));
  EXPECT_EQ("col 6: expected ')' (time() takes no argument)", parseError("time(x) - y"));
  EXPECT_EQ("col 9: absent() takes an instant selector; use absent_over_time() for a range",
            parseError("absent(x[5m])"));
  EXPECT_EQ("col 6: rate() takes a selector, not an expression", parseError("rate(sum(x)[5m])"));
  EXPECT_EQ("col 11: group_left is not supported", parseError("a / on(b) group_left b"));
  EXPECT_EQ("col 5: on/ignoring needs vectors on both sides", parseError("1 / on(a) x"));
  EXPECT_EQ("col 3: invalid number", parseError("x>5m"));
  const auto regex = parseError(R"(x{a=~"("})");
  EXPECT_EQ(0u, regex.rfind(R"(col 6: invalid regular expression "(": )", 0)) << regex;
  // Found by alert_rules_fuzz: std::regex overflowed on this back-reference number.
  EXPECT_EQ(R"(col 6: invalid regular expression "\88888888888888888888": a repetition count or )"
            R"(back-reference above 1000)",
            parseError(R"(x{a=~"\\88888888888888888888"})"));
}

// Durations accept Prometheus's combined units and reject anything else.
TEST(RuleExprParseTest, Durations) {
  EXPECT_EQ(0, parseDuration("0"));
  EXPECT_EQ(31'536'000'000 + 86'400'000, parseDuration("1y1d"));
  EXPECT_FALSE(parseDuration("1m1h"));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_EQ(300'000, parseDuration("5m"));
  EXPECT_EQ(5'400'000, parseDuration("1h30m"));
  EXPECT_EQ(1'500, parseDuration("1s500ms"));
  EXPECT_EQ(86'400'000 * 8, parseDuration("1w1d"));
  EXPECT_FALSE(parseDuration("5"));
  EXPECT_FALSE(parseDuration("30m1h"));
  EXPECT_FALSE(parseDuration("1m1m"));
  EXPECT_FALSE(parseDuration("1.5h"));
  EXPECT_FALSE(parseDuration(""));
  EXPECT_EQ("1h30m", formatDuration(5'400'000));
  EXPECT_EQ("500ms", formatDuration(500));
  EXPECT_EQ("0s", formatDuration(0));
}

// historyMs is the longest range, or the lookback for instant selectors; metricNames lists all.
TEST(RuleExprParseTest, HistoryAndMetricNames) {
  auto expr = Expr::parse("rate(a[10m]) / on(stage) b > 0 + absent_over_time(c[1h])");
  ASSERT_TRUE(expr) << expr.error().message;
  EXPECT_EQ(3'600'000, expr->historyMs());
  EXPECT_EQ((std::set<std::string, std::less<>>{"a", "b", "c"}), expr->metricNames());
  EXPECT_EQ(kLookbackMs, Expr::parse("rate(a[1m]) > b")->historyMs());
  EXPECT_EQ(60'000, Expr::parse("rate(a[1m]) > 0")->historyMs());
}

// --- Functions ---------------------------------------------------------------------------------

// rate/increase extrapolate to the window edge when the samples reach it: samples every 60 s
// from kNow-240s, increase 240 over 240 s, extrapolated by 60 s at the start = 300; rate = 1/s.
TEST(RuleExprEvalTest, RateAndIncreaseExtrapolateLikePrometheus) {
  SeriesStore store(kMinute * 10);
  series(store, "c_total", {}, {100, 160, 220, 280, 340});
  EXPECT_DOUBLE_EQ(1.0, single(store, "rate(c_total[5m])"));
  EXPECT_DOUBLE_EQ(300.0, single(store, "increase(c_total[5m])"));
  // A sample exactly at the window's start is outside it (the range is left-open): same result.
  put(store, kNow - 5 * kMinute - 1, "d_total", {}, 0);
  put(store, kNow - 5 * kMinute, "d_total", {}, 40);
  for (int i = 1; i <= 5; ++i)
    put(store, kNow - 5 * kMinute + i * kMinute, "d_total", {}, 40 + i * 60.0);
  EXPECT_DOUBLE_EQ(1.0, single(store, "rate(d_total[5m])"));
}

// A counter that went 220 -> 10 restarted: the increase is 60+60+10+60 = 190, extrapolated by
// 1.25 (60 s more over 240 s sampled) = 237.5; the rate divides by 300 s.
TEST(RuleExprEvalTest, CounterResetsCountAsRestartFromZero) {
  SeriesStore store(kMinute * 10);
  series(store, "c_total", {}, {100, 160, 220, 10, 70});
  EXPECT_DOUBLE_EQ(237.5, single(store, "increase(c_total[5m])"));
  EXPECT_DOUBLE_EQ(237.5 / 300, single(store, "rate(c_total[5m])"));
  // delta() treats the same samples as a gauge: 70 - 100 = -30, times 1.25.
  EXPECT_DOUBLE_EQ(-37.5, single(store, "delta(c_total[5m])"));
}

// A counter starting at 0 in the window is not extrapolated to negative values: 240 over 240 s
// stays 240 (the zero point is the first sample), 0.8/s over the 5 m range.
TEST(RuleExprEvalTest, CounterIsNotExtrapolatedBelowZero) {
  SeriesStore store(kMinute * 10);
  series(store, "c_total", {}, {0, 60, 120, 180, 240});
  EXPECT_DOUBLE_EQ(240.0, single(store, "increase(c_total[5m])"));
  EXPECT_DOUBLE_EQ(0.8, single(store, "rate(c_total[5m])"));
}

// A series that starts inside the window is extrapolated by half an interval only: samples at
// -120 s, -60 s, 0 (100, 160, 220): 120 over 120 s, plus 30 s = 150 over 150 s; rate = 0.5.
TEST(RuleExprEvalTest, SeriesStartingInsideWindowExtrapolatesHalfAnInterval) {
  SeriesStore store(kMinute * 10);
  series(store, "c_total", {}, {100, 160, 220});
  EXPECT_DOUBLE_EQ(150.0, single(store, "increase(c_total[5m])"));
  EXPECT_DOUBLE_EQ(0.5, single(store, "rate(c_total[5m])"));
  // A gauge's delta gets the same treatment at the end: last sample 90 s before now.
  series(store, "g", {}, {10, 20, 30}, kMinute, "persister", "host-1", kNow - 90 * kSecond);
  // 20 over 120 s sampled; both edges are 90 s away (> 1.1 × 60 s) so each gets 30 s:
  // 20 × 180 / 120.
  EXPECT_DOUBLE_EQ(30.0, single(store, "delta(g[5m])"));
}

// rate() needs two samples in the window: one sample gives no element.
TEST(RuleExprEvalTest, RateNeedsTwoSamples) {
  SeriesStore store(kMinute * 10);
  put(store, kNow - kMinute, "c_total", {}, 5);
  EXPECT_TRUE(eval(store, "rate(c_total[5m])").empty());
  EXPECT_EQ(1u, eval(store, "max_over_time(c_total[5m])").size());
}

// *_over_time use the samples in (now - range, now].
TEST(RuleExprEvalTest, OverTimeFunctions) {
  SeriesStore store(kMinute * 10);
  put(store, kNow - 5 * kMinute, "g", {}, 100);  // at the window's start: outside
  series(store, "g", {}, {3, 9, 1, 4});
  EXPECT_DOUBLE_EQ(9, single(store, "max_over_time(g[5m])"));
  EXPECT_DOUBLE_EQ(1, single(store, "min_over_time(g[5m])"));
  EXPECT_DOUBLE_EQ(4.25, single(store, "avg_over_time(g[5m])"));
  EXPECT_DOUBLE_EQ(100, single(store, "max_over_time(g[6m])"));
  EXPECT_DOUBLE_EQ(2.5, single(store, "avg_over_time(g[90s])"));  // 1 at -60 s, 4 at 0
}

// An instant selector takes each series' latest sample within the 5 m lookback; older is stale.
TEST(RuleExprEvalTest, InstantSelectorIgnoresStaleSeries) {
  SeriesStore store(kMinute * 10);
  put(store, kNow - 2 * kMinute, "g", {{"k", "fresh"}}, 1);
  put(store, kNow - kMinute, "g", {{"k", "fresh"}}, 2);
  put(store, kNow - 5 * kMinute, "g", {{"k", "stale"}}, 3);
  put(store, kNow + kSecond, "g", {{"k", "future"}}, 4);
  const auto result = eval(store, "g");
  ASSERT_EQ(1u, result.size());
  EXPECT_EQ("fresh", result[0].labels.at("k"));
  EXPECT_EQ(2, result[0].value);
  EXPECT_EQ((LabelSet{{"instance", "host-1"}, {"k", "fresh"}, {"stage", "persister"}}),
            result[0].labels);
}

// absent() yields one element labelled with the equality matchers when nothing matching was
// updated within the lookback, and nothing otherwise.
TEST(RuleExprEvalTest, AbsentFollowsStaleness) {
  SeriesStore store(kMinute * 20);
  const std::string expr = R"(absent(up{stage="persister", job=~"a.*", env="prod", env="x"}))";
  auto result = eval(store, expr);
  ASSERT_EQ(1u, result.size());
  EXPECT_EQ((LabelSet{{"stage", "persister"}}), result[0].labels);
  EXPECT_EQ(1, result[0].value);

  put(store, kNow - 5 * kMinute, "up", {{"job", "a1"}, {"env", "prod"}}, 1);
  EXPECT_EQ(1u, eval(store, R"(absent(up{stage="persister"}))").size()) << "exactly 5 m old: stale";
  put(store, kNow - 4 * kMinute, "up", {{"job", "a1"}, {"env", "prod"}}, 1);
  EXPECT_TRUE(eval(store, R"(absent(up{stage="persister"}))").empty());
  EXPECT_EQ(1u, eval(store, R"(absent(up{stage="decoder"}))").size());
  EXPECT_EQ(1u, eval(store, "absent(down)").size());
  EXPECT_TRUE(eval(store, "absent(up)", kNow + kMinute - 1).empty());
  EXPECT_EQ(1u, eval(store, "absent(up)", kNow + kMinute).size());

  // absent_over_time looks over its own range.
  EXPECT_TRUE(eval(store, "absent_over_time(up[10m])", kNow + 5 * kMinute).empty());
  auto over = eval(store, R"(absent_over_time(up{stage="persister"}[10m]))", kNow + 6 * kMinute);
  ASSERT_EQ(1u, over.size());
  EXPECT_EQ((LabelSet{{"stage", "persister"}}), over[0].labels);
}

// time() - a timestamp gauge gives its age in seconds.
TEST(RuleExprEvalTest, TimeMinusTimestampGauge) {
  SeriesStore store(kMinute * 10);
  const double last_success = static_cast<double>(kNow) / 1000 - 8000;
  put(store, kNow - kMinute, "point_tron_backup_last_success_timestamp_seconds", {}, last_success);
  auto result = eval(store, "time() - point_tron_backup_last_success_timestamp_seconds > 7200");
  ASSERT_EQ(1u, result.size());
  EXPECT_DOUBLE_EQ(8000, result[0].value);
  EXPECT_EQ(kHost, result[0].labels);
  EXPECT_TRUE(
      eval(store, "time() - point_tron_backup_last_success_timestamp_seconds > 9000").empty());
}

// Equality, inequality and anchored regex matchers; a missing label matches "".
TEST(RuleExprEvalTest, LabelMatchers) {
  SeriesStore store(kMinute * 10);
  put(store, kNow, "x", {{"reason", "a"}}, 1);
  put(store, kNow, "x", {{"reason", "b"}}, 2);
  put(store, kNow, "x", {{"reason", "ab"}}, 3);
  put(store, kNow, "x", {}, 4);
  put(store, kNow, "x", {{"reason", "a"}}, 5, "decoder");
  const auto values = [&](std::string_view text) {
    std::vector<double> out;
    for (const auto& sample : eval(store, text)) out.push_back(sample.value);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ((std::vector<double>{1, 5}), values(R"(x{reason="a"})"));
  EXPECT_EQ((std::vector<double>{1}), values(R"(x{reason="a", stage="persister"})"));
  EXPECT_EQ((std::vector<double>{2, 3, 4}), values(R"(x{reason!="a"})"));
  EXPECT_EQ((std::vector<double>{1, 3, 5}), values(R"(x{reason=~"a.*"})"));
  EXPECT_EQ((std::vector<double>{2}), values(R"(x{reason=~"b"})")) << "regexes are anchored";
  EXPECT_EQ((std::vector<double>{2, 4}), values(R"(x{reason!~"a.*"})"));
  EXPECT_EQ((std::vector<double>{4}), values(R"(x{reason=""})"));
  EXPECT_EQ((std::vector<double>{1, 2, 3, 5}), values(R"(x{reason=~".+"})"));
  EXPECT_EQ((std::vector<double>{5}), values(R"(x{stage=~"dec.*"})"));
}

// Every comparison filters and keeps the vector's value, also with the scalar on the left.
TEST(RuleExprEvalTest, ComparisonsFilter) {
  SeriesStore store(kMinute * 10);
  for (int v = 1; v <= 3; ++v) put(store, kNow, "x", {{"v", std::to_string(v)}}, v);
  const auto values = [&](std::string_view text) {
    std::vector<double> out;
    for (const auto& sample : eval(store, text)) out.push_back(sample.value);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ((std::vector<double>{3}), values("x > 2"));
  EXPECT_EQ((std::vector<double>{2, 3}), values("x >= 2"));
  EXPECT_EQ((std::vector<double>{1}), values("x < 2"));
  EXPECT_EQ((std::vector<double>{1, 2}), values("x <= 2"));
  EXPECT_EQ((std::vector<double>{2}), values("x == 2"));
  EXPECT_EQ((std::vector<double>{1, 3}), values("x != 2"));
  EXPECT_EQ((std::vector<double>{3}), values("2 < x"));
  EXPECT_EQ((std::vector<double>{20, 30}), values("x * 10 > 15"));
  EXPECT_EQ((std::vector<double>{-3, -2, -1}), values("-x"));
  EXPECT_EQ((std::vector<double>{2, 3}), values("x > 1 < 5"));
  EXPECT_EQ((std::vector<double>{0.5, 1, 1.5}), values("x / 2"));
  EXPECT_EQ((std::vector<double>{1, 2}), values("x - 1 > 0"));
}

// Aggregations group by the listed labels (or all but the listed ones with without).
TEST(RuleExprEvalTest, Aggregations) {
  SeriesStore store(kMinute * 10);
  put(store, kNow, "e", {{"reason", "a"}}, 1, "decoder");
  put(store, kNow, "e", {{"reason", "b"}}, 4, "decoder");
  put(store, kNow, "e", {{"reason", "a"}}, 10, "persister");
  const auto by_stage = [&](std::string_view text) {
    std::map<std::string, double> out;
    for (const auto& sample : eval(store, text)) {
      EXPECT_EQ(1u, sample.labels.size()) << text;
      out[sample.labels.at("stage")] = sample.value;
    }
    return out;
  };
  EXPECT_EQ((std::map<std::string, double>{{"decoder", 5}, {"persister", 10}}),
            by_stage("sum by (stage) (e)"));
  EXPECT_EQ((std::map<std::string, double>{{"decoder", 4}, {"persister", 10}}),
            by_stage("max by (stage) (e)"));
  EXPECT_EQ((std::map<std::string, double>{{"decoder", 1}, {"persister", 10}}),
            by_stage("min by (stage) (e)"));
  EXPECT_EQ((std::map<std::string, double>{{"decoder", 2.5}, {"persister", 10}}),
            by_stage("avg by (stage) (e)"));
  EXPECT_EQ((std::map<std::string, double>{{"decoder", 2}, {"persister", 1}}),
            by_stage("count by (stage) (e)"));
  EXPECT_EQ((std::map<std::string, double>{{"persister", 10}}), by_stage("sum by (stage) (e) > 5"));
  const auto total = eval(store, "sum(e)");
  ASSERT_EQ(1u, total.size());
  EXPECT_TRUE(total[0].labels.empty());
  EXPECT_EQ(15, total[0].value);
  const auto without = eval(store, "sum without (reason, instance) (e)");
  ASSERT_EQ(2u, without.size());
  EXPECT_EQ((LabelSet{{"stage", "decoder"}}), without[0].labels);
  EXPECT_EQ(5, without[0].value);
  EXPECT_TRUE(eval(store, "sum(nothing)").empty());
}

// Two vectors divide series by series on identical labels (or the on/ignoring subset): the
// error-ratio shape.
TEST(RuleExprEvalTest, VectorDivisionMatchesLabels) {
  SeriesStore store(kMinute * 10);
  series(store, "errors_total", {}, {0, 10, 20, 30, 40}, kMinute, "decoder");
  series(store, "received_total", {}, {0, 100, 200, 300, 400}, kMinute, "decoder");
  series(store, "errors_total", {}, {0, 0, 0, 0, 0}, kMinute, "persister");
  series(store, "received_total", {}, {0, 50, 100, 150, 200}, kMinute, "persister");
  series(store, "received_total", {}, {0, 1, 2, 3, 4}, kMinute, "fetcher");  // no errors series
  const auto ratio = eval(store, "rate(errors_total[5m]) / rate(received_total[5m]) > 0.05");
  ASSERT_EQ(1u, ratio.size());
  EXPECT_EQ("decoder", ratio[0].labels.at("stage"));
  EXPECT_DOUBLE_EQ(0.1, ratio[0].value);
  EXPECT_EQ(2u, eval(store, "rate(errors_total[5m]) / rate(received_total[5m])").size());

  const auto on = eval(store, "errors_total / on(stage) received_total");
  ASSERT_EQ(2u, on.size());
  EXPECT_EQ((LabelSet{{"stage", "decoder"}}), on[0].labels);
  EXPECT_DOUBLE_EQ(0.1, on[0].value);
  const auto ignoring = eval(store, "errors_total / ignoring(instance) received_total");
  ASSERT_EQ(2u, ignoring.size());
  EXPECT_EQ((LabelSet{{"stage", "decoder"}}), ignoring[0].labels);
  // Comparing two vectors filters and keeps the left value.
  const auto cmp = eval(store, "received_total > errors_total * 10");
  ASSERT_EQ(1u, cmp.size());
  EXPECT_EQ("persister", cmp[0].labels.at("stage"));
  EXPECT_EQ(200, cmp[0].value);
}

// A vector operation with two right-hand series per match group fails instead of guessing.
TEST(RuleExprEvalTest, ManyToManyMatchingFails) {
  SeriesStore store(kMinute * 10);
  put(store, kNow, "a", {}, 1, "decoder", "host-1");
  put(store, kNow, "b", {}, 1, "decoder", "host-1");
  put(store, kNow, "b", {}, 1, "decoder", "host-2");
  auto expr = Expr::parse("a / on(stage) b");
  ASSERT_TRUE(expr);
  const auto result = expr->evaluate(store, kNow);
  ASSERT_FALSE(result);
  EXPECT_EQ(pipeline::ErrorType::InvalidArgument, result.error().type);
  EXPECT_EQ(
      "many-to-many matching not allowed: several series on the right side of '/' have "
      "the same match labels",
      result.error().message);
  const auto left = Expr::parse("b / on(stage) a")->evaluate(store, kNow);
  ASSERT_FALSE(left);
  EXPECT_EQ(
      "many-to-one matching not supported: several series on the left side of '/' have "
      "the same match labels",
      left.error().message);
}

}  // namespace
}  // namespace stages::alerter
