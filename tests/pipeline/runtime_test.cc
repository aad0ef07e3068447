#include "pipeline/runtime.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "pipeline/http/client.h"
#include "pipeline/metrics/names.h"

namespace pipeline {
namespace {

// Runs runStage in-process with a Kafka address nobody listens on: the runtime must come up,
// serve its admin endpoints and drain without a broker when nothing needs one.
class RunStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("POINTTRON_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1", 1);
    setenv("POINTTRON_KAFKA__CREATE_TOPICS", "false", 1);
    setenv("POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "0", 1);
    setenv("POINTTRON_LOG__LEVEL", "warn", 1);
  }
  void TearDown() override {
    for (const char* name : {"POINTTRON_KAFKA__BOOTSTRAP_SERVERS", "POINTTRON_KAFKA__CREATE_TOPICS",
                             "POINTTRON_METRICS__PUBLISH_INTERVAL_MS", "POINTTRON_LOG__LEVEL",
                             "POINTTRON_HTTP__PORT", "POINTTRON_TEST__UNKNOWN"}) {
      unsetenv(name);
    }
  }

  int run(const StageSetup& setup, std::vector<std::string> args = {}) {
    std::vector<char*> argv{const_cast<char*>("pointtron-test")};
    for (auto& arg : args) argv.push_back(arg.data());
    return runStage(static_cast<int>(argv.size()), argv.data(), stage_, setup);
  }

  StageDefinition stage_{.name = "teststage", .default_http_port = 0, .description = "Test."};
};

// The admin server answers /health/live, /health, /health/ready and /metrics (with the standard
// set and the stage label), and stop() ends the process cleanly with exit code 0.
TEST_F(RunStageTest, ServesAdminEndpointsAndStopsCleanly) {
  std::map<std::string, std::pair<int, std::string>> answers;
  std::unique_ptr<http::Client> client;
  const int exit_code = run([&](Runtime& rt) -> Status {
    auto created = http::Client::create(rt.loop(), {});
    if (!created) return created.status();
    client = std::move(*created);
    const std::string base = fmt::format("http://127.0.0.1:{}", rt.http().port());
    auto remaining = std::make_shared<int>(4);
    for (std::string path : {"/health/live", "/health", "/health/ready", "/metrics"}) {
      client->request({.method = "GET", .url = base + path},
                      [&, path, remaining](Result<http::Response> response) {
                        if (response) answers[path] = {response->status, response->body};
                        if (--*remaining == 0) rt.stop();
                      });
    }
    return Status::ok();
  });
  client.reset();
  EXPECT_EQ(kExitClean, exit_code);
  ASSERT_EQ(4u, answers.size());
  EXPECT_EQ(200, answers["/health/live"].first);
  EXPECT_NE(std::string::npos, answers["/health"].second.find(R"("checks":{"loop")"));
  EXPECT_NE(std::string::npos, answers["/health"].second.find("kafka_producer"));
  EXPECT_EQ(200, answers["/metrics"].first);
  const std::string& metrics = answers["/metrics"].second;
  for (auto name : {metrics::names::kStageReceivedEvents, metrics::names::kStageErrors,
                    metrics::names::kHealthStatus, metrics::names::kProcessResidentMemory,
                    metrics::names::kLoopLag}) {
    EXPECT_NE(std::string::npos, metrics.find(std::string(name))) << name;
  }
  EXPECT_NE(std::string::npos, metrics.find(R"(stage="teststage")"));

  // Prometheus's own linter accepts the exposition (names, units, HELP/TYPE, label syntax).
  const std::string path = ::testing::TempDir() + "metrics.txt";
  {
    std::ofstream out(path);
    out << metrics;
  }
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(nullptr, pipe);
  std::string report;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) report += buffer;
  const int status = ::pclose(pipe);
  EXPECT_EQ(0, status) << "promtool check metrics:\n" << report;
}

// With no broker reachable, the producer's check makes /health/ready answer 503 (and /health
// report unhealthy), while /health/live stays 200: an orchestrator stops routing, not restarting.
TEST_F(RunStageTest, UnreachableBrokerMakesReadiness503) {
  int ready_status = 0;
  int live_status = 0;
  std::string health_body;
  std::unique_ptr<http::Client> client;
  std::shared_ptr<uv::Timer> poll;
  const int exit_code = run([&](Runtime& rt) -> Status {
    auto created = http::Client::create(rt.loop(), {});
    if (!created) return created.status();
    client = std::move(*created);
    auto timer = uv::Timer::create(rt.loop());
    if (!timer) return timer.status();
    poll = std::make_shared<uv::Timer>(std::move(*timer));
    const std::string base = fmt::format("http://127.0.0.1:{}", rt.http().port());
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    return poll->start(50, 50, [&, base, give_up] {
      client->request({.method = "GET", .url = base + "/health/ready"},
                      [&](Result<http::Response> response) {
                        if (response) ready_status = response->status;
                      });
      if (ready_status == 503 || std::chrono::steady_clock::now() > give_up) {
        poll->stop();
        client->request({.method = "GET", .url = base + "/health/live"},
                        [&](Result<http::Response> response) {
                          if (response) live_status = response->status;
                          client->request({.method = "GET", .url = base + "/health"},
                                          [&](Result<http::Response> health) {
                                            if (health) health_body = health->body;
                                            rt.stop();
                                          });
                        });
      }
    });
  });
  poll.reset();
  client.reset();
  EXPECT_EQ(kExitClean, exit_code);
  EXPECT_EQ(503, ready_status);
  EXPECT_EQ(200, live_status);
  EXPECT_NE(std::string::npos, health_body.find(R"("status":"unhealthy")")) << health_body;
  EXPECT_NE(std::string::npos, health_body.find("No Kafka broker reachable")) << health_body;
}

// SIGTERM starts the drain: drain hooks run, and the exit code is 0.
TEST_F(RunStageTest, SigtermDrainsAndRunsHooks) {
  bool hook_ran = false;
  const int exit_code = run([&](Runtime& rt) -> Status {
    rt.onDrain([&](std::function<void()> done) {
      hook_ran = true;
      done();
    });
    auto timer = std::make_shared<uv::Timer>();
    auto created = uv::Timer::create(rt.loop());
    if (!created) return created.status();
    *timer = std::move(*created);
    rt.keep(timer);
    return timer->start(10, 0, [] { std::raise(SIGTERM); });
  });
  EXPECT_EQ(kExitClean, exit_code);
  EXPECT_TRUE(hook_ran);
}

// A bad value of a runtime key stops the process with 78 before anything starts.
TEST_F(RunStageTest, BadConfigurationExits78) {
  setenv("POINTTRON_HTTP__PORT", "seventy", 1);
  bool setup_ran = false;
  EXPECT_EQ(kExitConfig, run([&](Runtime&) {
              setup_ran = true;
              return Status::ok();
            }));
  EXPECT_FALSE(setup_ran);
  setenv("POINTTRON_HTTP__PORT", "0", 1);
  setenv("POINTTRON_HTTP__LISTEN_ADDRESS", "localhost", 1);  // a name, not an address
  EXPECT_EQ(kExitConfig, run([&](Runtime&) {
              setup_ran = true;
              return Status::ok();
            }));
  unsetenv("POINTTRON_HTTP__LISTEN_ADDRESS");
  EXPECT_FALSE(setup_ran);
}

// A key nobody reads is reported after setup and stops the process with 78.
TEST_F(RunStageTest, UnknownKeyExits78) {
  setenv("POINTTRON_TEST__UNKNOWN", "1", 1);
  EXPECT_EQ(kExitConfig, run([](Runtime&) { return Status::ok(); }));
}

// One file may configure the whole pipeline: another stage's section is left to that stage, but
// a section no stage owns (here a misspelt one) is still an error, and so is a wrong key in the
// stage's own section.
TEST_F(RunStageTest, OtherStagesSectionsAreAcceptedUnread) {
  setenv("POINTTRON_FETCHER__NODE_URLS", "http://127.0.0.1:8090", 1);
  setenv("POINTTRON_PERSISTER__API_TOKENS", "secret", 1);
  EXPECT_EQ(kExitClean, run([](Runtime& rt) {
              rt.stop();
              return Status::ok();
            }));
  setenv("POINTTRON_FETCHR__NODE_URLS", "http://127.0.0.1:8090", 1);
  EXPECT_EQ(kExitConfig, run([](Runtime&) { return Status::ok(); }));
  unsetenv("POINTTRON_FETCHR__NODE_URLS");
  setenv("POINTTRON_TESTSTAGE__NOT_A_KEY", "1", 1);
  EXPECT_EQ(kExitConfig, run([](Runtime&) { return Status::ok(); }));
  unsetenv("POINTTRON_TESTSTAGE__NOT_A_KEY");
  unsetenv("POINTTRON_FETCHER__NODE_URLS");
  unsetenv("POINTTRON_PERSISTER__API_TOKENS");
}

// A client that resets while a response is written must fail that write, not kill the process.
TEST_F(RunStageTest, IgnoresSigpipe) {
  std::signal(SIGPIPE, SIG_DFL);
  EXPECT_EQ(kExitClean, run([](Runtime& rt) {
              rt.stop();
              return Status::ok();
            }));
  struct sigaction action{};
  ASSERT_EQ(0, sigaction(SIGPIPE, nullptr, &action));
  EXPECT_EQ(SIG_IGN, action.sa_handler);
}

// A setup error of class InvalidConfig exits 78; any other setup error exits 1.
TEST_F(RunStageTest, SetupErrorsMapToExitCodes) {
  EXPECT_EQ(kExitConfig, run([](Runtime&) {
              return Status(ErrorType::InvalidConfig, "teststage.x: must be > 0");
            }));
  EXPECT_EQ(kExitFatal, run([](Runtime&) { return Status(ErrorType::Io, "disk on fire"); }));
}

// fail() at run time drains and exits 1.
TEST_F(RunStageTest, FailExits1) {
  EXPECT_EQ(kExitFatal, run([](Runtime& rt) {
              rt.fail(Status(ErrorType::Internal, "invariant broken"));
              return Status::ok();
            }));
}

// Unknown arguments are a usage error (64); --version and --help exit 0.
TEST_F(RunStageTest, Arguments) {
  EXPECT_EQ(kExitUsage, run([](Runtime&) { return Status::ok(); }, {"--bogus"}));
  EXPECT_EQ(kExitClean, run([](Runtime&) { return Status::ok(); }, {"--version"}));
  EXPECT_EQ(kExitClean, run([](Runtime&) { return Status::ok(); }, {"--help"}));
}

}  // namespace
}  // namespace pipeline
