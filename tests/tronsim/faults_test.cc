#include "tests/tronsim/faults.h"

#include <gtest/gtest.h>

#include <vector>

namespace tronsim {
namespace {

// The JSON form of POST /admin/faults parses every documented key.
TEST(FaultConfigTest, ParsesJson) {
  auto config = FaultConfig::fromJson(
      R"({"seed":7,"latency_ms":20,"jitter_ms":5,"latency_path":"/wallet/",)"
      R"("rules":[{"kind":"http_error","status":503,"path":"getblockbynum","probability":0.5,)"
      R"("count":3,"retry_after_s":2},{"kind":"java_error","message":"class x : y"}]})");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(7u, config->seed);
  EXPECT_EQ(20u, config->latency_ms);
  EXPECT_EQ(5u, config->jitter_ms);
  EXPECT_EQ("/wallet/", config->latency_path);
  ASSERT_EQ(2u, config->rules.size());
  EXPECT_EQ(FaultKind::HttpError, config->rules[0].kind);
  EXPECT_EQ(503, config->rules[0].status);
  EXPECT_EQ("getblockbynum", config->rules[0].path);
  EXPECT_DOUBLE_EQ(0.5, config->rules[0].probability);
  EXPECT_EQ(3u, config->rules[0].count);
  EXPECT_EQ(2, config->rules[0].retry_after_s.value_or(-9));
  EXPECT_EQ(FaultKind::JavaError, config->rules[1].kind);
  EXPECT_EQ("class x : y", config->rules[1].message);
}

// Unknown keys, unknown kinds, a missing kind and bad values are rejected with the field's path.
TEST(FaultConfigTest, RejectsBadJson) {
  EXPECT_EQ("bogus: unknown key", FaultConfig::fromJson(R"({"bogus":1})").error().message);
  EXPECT_EQ("rules[0].kind: unknown \"boom\"",
            FaultConfig::fromJson(R"({"rules":[{"kind":"boom"}]})").error().message);
  EXPECT_EQ("rules[0].kind: required",
            FaultConfig::fromJson(R"({"rules":[{"count":1}]})").error().message);
  EXPECT_FALSE(FaultConfig::fromJson(R"({"rules":[{"kind":"reset","probability":2}]})"));
  EXPECT_FALSE(FaultConfig::fromJson(R"({"rules":[{"kind":"http_error","status":99}]})"));
  EXPECT_FALSE(FaultConfig::fromJson("not json"));
  EXPECT_FALSE(FaultConfig::fromJson("[]"));
}

// toJson's output is accepted by fromJson (GET's answer can be POSTed back).
TEST(FaultConfigTest, JsonRoundTrip) {
  auto config = FaultConfig::fromJson(
      R"({"seed":9,"rules":[{"kind":"suspended","path":"/wallet/","count":2,"retry_after_s":-1}]})");
  ASSERT_TRUE(config);
  auto again = FaultConfig::fromJson(config->toJson());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(config->toJson(), again->toJson());
}

// The CLI form `kind:key=value,…` builds the same rule as the JSON form.
TEST(FaultConfigTest, ParsesRuleSpec) {
  auto rule = FaultConfig::parseRuleSpec("http_error:status=429,count=2,path=/wallet/getnowblock");
  ASSERT_TRUE(rule) << rule.error().message;
  EXPECT_EQ(FaultKind::HttpError, rule->kind);
  EXPECT_EQ(429, rule->status);
  EXPECT_EQ(2u, rule->count);
  EXPECT_EQ("/wallet/getnowblock", rule->path);
  EXPECT_TRUE(FaultConfig::parseRuleSpec("stall"));
  EXPECT_FALSE(FaultConfig::parseRuleSpec("stall:count"));
  EXPECT_FALSE(FaultConfig::parseRuleSpec("nope"));
  EXPECT_FALSE(FaultConfig::parseRuleSpec("reset:speed=3"));
}

// Scopes: everything, an exact path, a prefix ending in '/', a bare endpoint name.
TEST(FaultsTest, Scopes) {
  EXPECT_TRUE(Faults::inScope("", "/wallet/getnowblock"));
  EXPECT_TRUE(Faults::inScope("/wallet/getnowblock", "/wallet/getnowblock"));
  EXPECT_FALSE(Faults::inScope("/wallet/getnowblock", "/walletsolidity/getnowblock"));
  EXPECT_TRUE(Faults::inScope("/walletsolidity/", "/walletsolidity/getnowblock"));
  EXPECT_FALSE(Faults::inScope("/walletsolidity/", "/wallet/getnowblock"));
  EXPECT_TRUE(Faults::inScope("getnowblock", "/walletsolidity/getnowblock"));
  EXPECT_FALSE(Faults::inScope("getnowblock", "/wallet/getblockbynum"));
}

// A count-limited rule fires exactly `count` times, then requests pass through.
TEST(FaultsTest, CountLimitsFiring) {
  FaultConfig config;
  config.rules.push_back(*FaultConfig::parseRuleSpec("reset:count=2"));
  Faults faults(config);
  EXPECT_TRUE(faults.decide("/wallet/getnowblock").fault);
  EXPECT_TRUE(faults.decide("/wallet/getnowblock").fault);
  EXPECT_FALSE(faults.decide("/wallet/getnowblock").fault);
  EXPECT_EQ(2u, faults.config().rules[0].fired);
}

// Rules out of scope never fire; the first rule in scope that fires wins.
TEST(FaultsTest, FirstMatchingRuleWins) {
  FaultConfig config;
  config.rules.push_back(*FaultConfig::parseRuleSpec("empty:path=/walletsolidity/"));
  config.rules.push_back(*FaultConfig::parseRuleSpec("java_error"));
  Faults faults(config);
  EXPECT_EQ(FaultKind::JavaError, faults.decide("/wallet/getnowblock").fault->kind);
  EXPECT_EQ(FaultKind::Empty, faults.decide("/walletsolidity/getnowblock").fault->kind);
}

// The same seed gives the same decisions (probability and jitter), so tests are reproducible.
TEST(FaultsTest, DeterministicWithSeed) {
  FaultConfig config;
  config.seed = 42;
  config.jitter_ms = 100;
  config.rules.push_back(*FaultConfig::parseRuleSpec("http_error:status=503,probability=0.3"));
  auto run = [&] {
    Faults faults(config);
    std::vector<std::pair<bool, std::uint64_t>> out;
    for (int i = 0; i < 200; ++i) {
      auto decision = faults.decide("/wallet/getblockbynum");
      out.emplace_back(decision.fault.has_value(), decision.delay_ms);
    }
    return out;
  };
  const auto first = run();
  EXPECT_EQ(first, run());
  const auto fired = std::count_if(first.begin(), first.end(), [](auto& d) { return d.first; });
  EXPECT_GT(fired, 30);
  EXPECT_LT(fired, 90);
  for (const auto& [fault, delay] : first) EXPECT_LE(delay, 100u);
}

// Statuses, Retry-After defaults and bodies of the response-replacing kinds.
TEST(FaultsTest, ResponsesPerKind) {
  auto rule = [](std::string_view spec) { return *FaultConfig::parseRuleSpec(spec); };
  EXPECT_EQ(500, Faults::statusFor(rule("http_error")));
  EXPECT_EQ(std::nullopt, Faults::retryAfterFor(rule("http_error:status=503")));
  EXPECT_EQ(5, Faults::retryAfterFor(rule("http_error:status=503,retry_after_s=5")).value_or(0));
  EXPECT_EQ(1, Faults::retryAfterFor(rule("http_error:status=429")).value_or(0));
  EXPECT_EQ(std::nullopt, Faults::retryAfterFor(rule("http_error:status=403,retry_after_s=-1")));
  EXPECT_EQ(403, Faults::statusFor(rule("suspended")));
  EXPECT_EQ(
      R"({"Error":"The key exceeds the frequency limit(15), and the query server is suspended for 30s"})",
      Faults::bodyFor(rule("suspended")));
  EXPECT_EQ(200, Faults::statusFor(rule("empty")));
  EXPECT_EQ("{}", Faults::bodyFor(rule("empty")));
  EXPECT_EQ(200, Faults::statusFor(rule("java_error")));
  EXPECT_TRUE(Faults::bodyFor(rule("java_error")).starts_with(R"({"Error":"class java.lang.)"));
}

// clear() drops rules and latency but keeps the seed.
TEST(FaultsTest, ClearKeepsSeed) {
  auto config = FaultConfig::fromJson(R"({"seed":5,"latency_ms":9,"rules":[{"kind":"stall"}]})");
  Faults faults(*config);
  faults.clear();
  EXPECT_TRUE(faults.config().rules.empty());
  EXPECT_EQ(0u, faults.config().latency_ms);
  EXPECT_EQ(5u, faults.config().seed);
  EXPECT_EQ(0u, faults.decide("/wallet/getnowblock").delay_ms);
}

}  // namespace
}  // namespace tronsim
