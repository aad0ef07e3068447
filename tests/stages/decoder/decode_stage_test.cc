#include "stages/decoder/decode_stage.h"

#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <vector>

#include "pipeline/metrics/registry.h"
#include "tests/stages/decoder/test_fixtures.h"
#include "tests/support/fake_event_sink.h"

namespace stages::decoder {
namespace {

using pipeline::Outcome;


class DecodeStageTest : public ::testing::Test {
 protected:
  DecodeStageTest()
      : registry_("decoder"),
        stage_metrics_(registry_),
        metrics_(DecoderMetrics::create(registry_)),
        stage_({}, sink_, {.blocks = "p.blocks", .dlq = "p.dlq"}, metrics_, stage_metrics_, log_,
               [] { return std::int64_t{1795634273123}; }) {}

  // Handles one record; the outcome stays empty until the sink calls back.
  std::optional<Outcome>& handle(pipeline::kafka::Record record) {
    outcomes_.push_back(std::nullopt);
    const std::size_t slot = outcomes_.size() - 1;
    stage_.handle(record, [this, slot](Outcome outcome) {
      ASSERT_FALSE(outcomes_[slot].has_value()) << "finished twice";
      outcomes_[slot] = outcome;
    });
    return outcomes_[slot];
  }

  static pipeline::kafka::Record raw(std::string key, std::string value,
                                     std::vector<pipeline::kafka::Header> headers = {}) {
    return pipeline::kafka::Record::make("p.blocks.raw", 3, 41, std::move(key), std::move(value),
                                         std::move(headers));
  }

  pipeline::metrics::Registry registry_;
  pipeline::StageMetrics stage_metrics_;
  DecoderMetrics metrics_;
  pipeline::log::Logger log_{"decoder"};
  testsupport::FakeEventSink sink_;
  DecodeStage stage_;
  std::deque<std::optional<Outcome>> outcomes_;
};

// A block goes to `blocks` under the same key with the record's headers in block.v1; the record
// is finished only when the broker acknowledged it.
TEST_F(DecodeStageTest, BlockIsDoneAfterAcknowledgement) {
  auto& outcome = handle(raw("60954080", readFixture("mainnet-60954080.json"),
                             {{"fetched_at_ms", "1795634273000"}, {"source", "node-1"}}));
  ASSERT_EQ(1u, sink_.events.size());
  const auto& event = sink_.events[0];
  EXPECT_EQ("p.blocks", event.topic);
  EXPECT_EQ("60954080", event.key);
  EXPECT_TRUE(event.value.starts_with(R"({"schema":"block.v1","height":60954080,)"));
  EXPECT_TRUE(event.value.ends_with(
      R"("fetched_at_ms":1795634273000,"decoded_at_ms":1795634273123,"source":"node-1"})"));
  EXPECT_FALSE(outcome.has_value());
  sink_.acknowledge(0);
  EXPECT_EQ(Outcome::Done, outcome);
  EXPECT_EQ(1, metrics_.decoded_blocks.Value());
  EXPECT_EQ(92, metrics_.transactionsOf("TransferContract").Value());
  EXPECT_EQ(56, metrics_.transactionsOf("TriggerSmartContract").Value());
  EXPECT_EQ(1, metrics_.decode_duration.Collect().histogram.sample_count);
  EXPECT_EQ(0, stage_metrics_.discarded(false).Value());
}

// A failed send of the output retries the record (it comes again after a backoff).
TEST_F(DecodeStageTest, FailedSendRetries) {
  auto& outcome = handle(raw("200", readFixture("shasta-200.json")));
  sink_.fail(0);
  EXPECT_EQ(Outcome::Retry, outcome);
}

// A block that can never decode goes to the DLQ unchanged with its origin, then is rejected.
TEST_F(DecodeStageTest, UndecodableRecordGoesToDlq) {
  auto& outcome = handle(raw("7", "{}", {{"fetched_at_ms", "1"}}));
  ASSERT_EQ(1u, sink_.events.size());
  const auto& event = sink_.events[0];
  EXPECT_EQ("p.dlq", event.topic);
  EXPECT_EQ("7", event.key);
  EXPECT_EQ("{}", event.value);
  const std::vector<pipeline::kafka::Header> headers = {
      {"error", "empty_block"}, {"source_topic", "p.blocks.raw"}, {"source_partition", "3"}, {"source_offset", "41"}};
  EXPECT_EQ(headers, event.headers);
  EXPECT_FALSE(outcome.has_value());
  sink_.acknowledge(0);
  EXPECT_EQ(Outcome::Reject, outcome);
  EXPECT_EQ(1, metrics_.rejectedFor(RejectReason::EmptyBlock).Value());
  EXPECT_EQ(1, stage_metrics_.discarded(false).Value());
  EXPECT_EQ(1, stage_metrics_.error(pipeline::ErrorType::InvalidPayload, pipeline::Phase::Processing).Value());
  EXPECT_EQ(0, metrics_.decoded_blocks.Value());
}

// If the DLQ send fails, the record is retried rather than lost.
TEST_F(DecodeStageTest, FailedDlqSendRetries) {
  auto& outcome = handle(raw("7", "not json"));
  sink_.fail(0);
  EXPECT_EQ(Outcome::Retry, outcome);
}

// A retraction passes on as a block.v1 retraction under the same key.
TEST_F(DecodeStageTest, RetractionPassesOn) {
  const std::string id = "00000000000000c86d2473411771f83db5e314c01bc8f8cf0dc2f8892be6fd7f";
  auto& outcome = handle(raw("200", R"({"schema":"block.raw.retraction.v1","removed":true,"height":200,"block_id":")" + id + R"("})"));
  ASSERT_EQ(1u, sink_.events.size());
  EXPECT_EQ("p.blocks", sink_.events[0].topic);
  EXPECT_EQ("200", sink_.events[0].key);
  EXPECT_EQ(R"({"schema":"block.v1","removed":true,"height":200,"block_id":")" + id +
                R"(","decoded_at_ms":1795634273123,"source":""})",
            sink_.events[0].value);
  sink_.acknowledge(0);
  EXPECT_EQ(Outcome::Done, outcome);
  EXPECT_EQ(1, metrics_.retractions.Value());
}

// Records finish in whatever order their sends are acknowledged; each exactly once.
TEST_F(DecodeStageTest, EachRecordFinishesFromItsOwnCallback) {
  auto& first = handle(raw("200", readFixture("shasta-200.json")));
  auto& second = handle(raw("x", "[]"));
  sink_.acknowledge(1);
  EXPECT_FALSE(first.has_value());
  EXPECT_EQ(Outcome::Reject, second);
  sink_.acknowledge(0);
  EXPECT_EQ(Outcome::Done, first);
}

// The fetched_at_ms header is kept only when it is an integer.
TEST(ProvenanceTest, Headers) {
  const auto good = provenanceOf(pipeline::kafka::Record::make("t", 0, 0, "k", "v", {{"fetched_at_ms", "17"}}), 5);
  EXPECT_EQ(17, good.fetched_at_ms);
  EXPECT_EQ(5, good.decoded_at_ms);
  EXPECT_EQ("", good.source);
  const auto bad = provenanceOf(pipeline::kafka::Record::make("t", 0, 0, "k", "v", {{"fetched_at_ms", "17x"}}), 5);
  EXPECT_FALSE(bad.fetched_at_ms.has_value());
}

}  // namespace
}  // namespace stages::decoder
