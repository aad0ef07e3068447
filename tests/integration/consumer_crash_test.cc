#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string>

#include "pipeline/kafka/producer.h"
#include "tests/integration/child_process.h"
#include "tests/support/kafka_env.h"
#include "tests/support/loop_runner.h"

namespace pipeline::kafka {
namespace {

constexpr int kPartitions = 3;
constexpr int kRecords = 3000;

// One protocol line of the test_consumer program.
struct Line {
  enum class Kind { Processed, Committed, Unknown } kind = Kind::Unknown;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

Line parse(std::string_view text) {
  Line line;
  const auto first_space = text.find(' ');
  const auto second_space = text.find(' ', first_space + 1);
  if (first_space == std::string_view::npos || second_space == std::string_view::npos) {
    return line;
  }
  const auto kind = text.substr(0, first_space);
  const auto partition = std::from_chars(text.data() + first_space + 1,
                                         text.data() + second_space, line.partition);
  const auto offset =
      std::from_chars(text.data() + second_space + 1, text.data() + text.size(), line.offset);
  if (partition.ec != std::errc() || offset.ec != std::errc()) return line;
  if (kind == "processed") line.kind = Line::Kind::Processed;
  if (kind == "committed") line.kind = Line::Kind::Committed;
  return line;
}

// What one run of the test_consumer program reported.
struct RunReport {
  std::map<std::int32_t, std::set<std::int64_t>> processed;
  std::map<std::int32_t, std::int64_t> last_committed;
  std::size_t processed_lines = 0;

  Line add(std::string_view text) {
    const Line line = parse(text);
    switch (line.kind) {
      case Line::Kind::Processed:
        processed[line.partition].insert(line.offset);
        ++processed_lines;
        break;
      case Line::Kind::Committed: last_committed[line.partition] = line.offset; break;
      case Line::Kind::Unknown: ADD_FAILURE() << "Unexpected line from test_consumer: " << text;
    }
    return line;
  }
};

std::unique_ptr<testsupport::ChildProcess> startConsumer(const std::string& topic,
                                                         const std::string& group,
                                                         int records_per_second) {
  return testsupport::ChildProcess::spawn({POINTTRON_TEST_CONSUMER_PATH, testsupport::testBrokers(),
                                           topic, group, std::to_string(records_per_second)});
}

// A consumer process SIGKILLed half-way loses nothing: its successor in the same group starts
// every partition exactly at the offset the first process last had confirmed as committed, so
// only records that were never acknowledged are delivered again.
TEST(ConsumerCrashTest, RestartAfterSigkillResumesAtTheCommittedOffsets) {
  const std::string topic = testsupport::createTopic("crash", kPartitions);
  const std::string group = testsupport::uniqueGroup("crash");

  std::map<std::int32_t, std::int64_t> end_offsets;
  {
    testsupport::LoopRunner runner;
    metrics::Registry registry("test");
    StageMetrics stage_metrics(registry);
    auto producer =
        Producer::create(runner.loop(), testsupport::testKafkaConfig(), stage_metrics, registry);
    ASSERT_TRUE(producer) << producer.error().message;
    int acknowledged = 0;
    for (int i = 0; i < kRecords; ++i) {
      (*producer)->send({.topic = topic,
                         .key = std::to_string(i),
                         .value = "record-" + std::to_string(i),
                         .partition = i % kPartitions},
                        [&](const Status& status, const Delivery& delivery) {
                          EXPECT_TRUE(status.isOk()) << status.toString();
                          end_offsets[delivery.partition] =
                              std::max(end_offsets[delivery.partition], delivery.offset + 1);
                          ++acknowledged;
                        });
    }
    ASSERT_TRUE(runner.runUntil([&] { return acknowledged == kRecords; }, std::chrono::seconds(30)));
  }
  ASSERT_EQ(static_cast<std::size_t>(kPartitions), end_offsets.size());

  // First run: slow (600 records/s), killed right after a commit confirmation that lies inside a
  // partition. The next auto-commit is ~1 s away, so no unreported commit can slip in before the
  // kill lands.
  RunReport first;
  {
    auto child = startConsumer(topic, group, 600);
    ASSERT_NE(nullptr, child);
    const bool mid_partition_commit = child->readUntil(
        [&](std::string_view line) {
          const Line parsed = first.add(line);
          return parsed.kind == Line::Kind::Committed &&
                 first.processed_lines >= kRecords / 4 && parsed.offset > 0 &&
                 parsed.offset < end_offsets[parsed.partition];
        },
        std::chrono::seconds(60));
    child->signal(SIGKILL);
    ASSERT_TRUE(mid_partition_commit) << "no commit inside a partition after "
                                      << first.processed_lines << " processed records";
    ASSERT_TRUE(child->readToEnd([&](std::string_view line) { first.add(line); },
                                 std::chrono::seconds(10)));
    auto status = child->waitExit(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);
  }
  ASSERT_LT(first.processed_lines, static_cast<std::size_t>(kRecords));

  // Second run: same group, fast; it must finish everything.
  RunReport second;
  {
    auto child = startConsumer(topic, group, 20000);
    ASSERT_NE(nullptr, child);
    std::set<std::pair<std::int32_t, std::int64_t>> seen;
    for (const auto& [partition, offsets] : first.processed) {
      for (auto offset : offsets) seen.emplace(partition, offset);
    }
    const bool all_processed = child->readUntil(
        [&](std::string_view line) {
          const Line parsed = second.add(line);
          if (parsed.kind == Line::Kind::Processed) seen.emplace(parsed.partition, parsed.offset);
          return seen.size() == static_cast<std::size_t>(kRecords);
        },
        std::chrono::seconds(90));
    child->signal(SIGTERM);
    EXPECT_TRUE(all_processed);
    ASSERT_TRUE(child->readToEnd([&](std::string_view line) { second.add(line); },
                                 std::chrono::seconds(30)));
    auto status = child->waitExit(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  }

  for (const auto& [partition, end] : end_offsets) {
    for (std::int64_t offset = 0; offset < end; ++offset) {
      EXPECT_TRUE(first.processed[partition].contains(offset) ||
                  second.processed[partition].contains(offset))
          << "lost: partition " << partition << " offset " << offset;
    }
    const auto committed = first.last_committed.find(partition);
    const std::int64_t resume_at = committed == first.last_committed.end() ? 0 : committed->second;
    const auto& again = second.processed[partition];
    if (resume_at < end) {
      ASSERT_FALSE(again.empty()) << "partition " << partition;
      EXPECT_EQ(resume_at, *again.begin()) << "partition " << partition;
    } else {
      EXPECT_TRUE(again.empty()) << "partition " << partition << " was fully committed";
    }
  }
}

}  // namespace
}  // namespace pipeline::kafka
