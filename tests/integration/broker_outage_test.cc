#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/producer.h"
#include "tests/integration/child_process.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"

namespace pipeline::kafka {
namespace {

// Binds 127.0.0.1:port (0: any) and returns the bound port, or 0; the socket stays open in `fd`.
std::uint16_t bindLoopback(std::uint16_t port, int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 0;
  }
  return ntohs(address.sin_port);
}

// A port P such that P and P + 1 (the broker's controller port) are free right now.
std::uint16_t freePortPair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int first_fd = -1;
    int second_fd = -1;
    const std::uint16_t port = bindLoopback(0, first_fd);
    const bool pair_free = port != 0 && port < 65535 &&
                           bindLoopback(static_cast<std::uint16_t>(port + 1), second_fd) != 0;
    if (first_fd >= 0) ::close(first_fd);
    if (second_fd >= 0) ::close(second_fd);
    if (pair_free) return port;
  }
  return 0;
}

// A private single-node broker (ops/kafka/broker.sh) on free ports with its own data directory,
// so it can be stopped and restarted without disturbing the shared test broker. TearDown stops it
// whatever happened in the test.
class BrokerOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char data_dir[] = "/tmp/pointtron-it-broker-XXXXXX";
    ASSERT_NE(nullptr, ::mkdtemp(data_dir));
    data_dir_ = data_dir;
    port_ = freePortPair();
    ASSERT_NE(0, port_);
    ASSERT_EQ(0, broker("start"));
    config_.bootstrap_servers = "127.0.0.1:" + std::to_string(port_);
    config_.message_timeout_ms = 3000;
    // Reconnect quickly once the broker is back (the default backoff grows to 10 s).
    config_.rdkafka["reconnect.backoff.max.ms"] = "500";
  }

  void TearDown() override {
    if (port_ != 0) {
      EXPECT_EQ(0, broker("stop"));
    }
    if (!data_dir_.empty() && !HasFailure()) std::filesystem::remove_all(data_dir_);
  }

  int broker(const std::string& command) {
    return testsupport::runCommand({POINTTRON_BROKER_SCRIPT, command},
                                   {{"KAFKA_PORT", std::to_string(port_)},
                                    {"KAFKA_DATA_DIR", data_dir_},
                                    {"KAFKA_HEAP_MB", "256"}});
  }

  // Sends one event and runs the loop until its delivery callback ran; nullopt at the deadline.
  std::optional<Status> sendOne(Producer& producer, std::chrono::milliseconds deadline) {
    std::optional<Status> result;
    producer.send({.topic = topic_, .key = "k", .value = "v"},
                  [&result](const Status& status, const Delivery&) { result = status; });
    if (!runner_.runUntil([&] { return result.has_value(); }, deadline)) return std::nullopt;
    return result;
  }

  testsupport::LoopRunner runner_;
  metrics::Registry registry_{"test"};
  StageMetrics stage_metrics_{registry_};
  KafkaConfig config_ = testsupport::testKafkaConfig();
  std::string data_dir_;
  std::uint16_t port_ = 0;
  std::string topic_ = testsupport::uniqueTopic("outage");
};

// While the only broker is down, a produce fails with a delivery error within the message timeout
// and the producer's health check turns Unhealthy; once the broker is back, producing succeeds
// again and the check returns to Healthy.
TEST_F(BrokerOutageTest, ProducerReportsOutageAndRecovers) {
  ASSERT_TRUE(ensureTopics(config_, {{.name = topic_, .partitions = 1}}, std::chrono::seconds(20))
                  .isOk());
  auto producer = Producer::create(runner_.loop(), config_, stage_metrics_, registry_);
  ASSERT_TRUE(producer) << producer.error().message;
  auto& sink = **producer;
  auto healthy = [&] { return sink.healthCheck().state == health::State::Healthy; };
  auto unhealthy = [&] { return sink.healthCheck().state == health::State::Unhealthy; };

  auto delivered = sendOne(sink, std::chrono::seconds(20));
  ASSERT_TRUE(delivered.has_value());
  ASSERT_TRUE(delivered->isOk()) << delivered->toString();
  EXPECT_TRUE(healthy()) << sink.healthCheck().detail;

  ASSERT_EQ(0, broker("stop"));
  const auto sent_at = std::chrono::steady_clock::now();
  auto failed = sendOne(sink, std::chrono::milliseconds(config_.message_timeout_ms + 5000));
  ASSERT_TRUE(failed.has_value()) << "no delivery report within the message timeout";
  EXPECT_LE(std::chrono::steady_clock::now() - sent_at,
            std::chrono::milliseconds(config_.message_timeout_ms + 5000));
  ASSERT_FALSE(failed->isOk());
  EXPECT_TRUE(failed->error().type == ErrorType::Timeout ||
              failed->error().type == ErrorType::Kafka)
      << failed->toString();
  ASSERT_TRUE(runner_.runUntil(unhealthy, std::chrono::seconds(15)))
      << sink.healthCheck().detail;

  ASSERT_EQ(0, broker("start"));
  auto recovered = sendOne(sink, std::chrono::seconds(30));
  ASSERT_TRUE(recovered.has_value());
  EXPECT_TRUE(recovered->isOk()) << recovered->toString();
  ASSERT_TRUE(runner_.runUntil(healthy, std::chrono::seconds(15))) << sink.healthCheck().detail;
}

}  // namespace
}  // namespace pipeline::kafka
