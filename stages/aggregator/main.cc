// pointtron-aggregator: blocks → statistics on stats, folded in height order, exactly once in
// effect (checkpoints on aggregator.state).
#include <chrono>
#include <memory>

#include "pipeline/kafka/admin.h"
#include "pipeline/kafka/tail.h"
#include "pipeline/runtime.h"
#include "pipeline/uv/handle.h"
#include "stages/aggregator/aggregate_stage.h"
#include "stages/aggregator/aggregator_config.h"
#include "stages/aggregator/aggregator_metrics.h"

namespace {

// Bound of each blocking read at an assignment (the runtime waits as long for its topics).
constexpr std::chrono::milliseconds kReadTimeout{60'000};

}  // namespace

int main(int argc, char** argv) {
  return pipeline::runStage(
      argc, argv,
      {.name = "aggregator",
       .default_http_port = 9103,
       .description = "Folds blocks in height order into the statistics on stats."},
      [](pipeline::Runtime& rt) -> pipeline::Status {
        namespace kafka = pipeline::kafka;
        namespace aggregator = stages::aggregator;
        auto config = aggregator::AggregatorConfig::parse(rt.config());
        if (!config) return config.status();
        auto metrics = std::make_shared<aggregator::AggregatorMetrics>(
            aggregator::AggregatorMetrics::create(rt.metrics()));
        const kafka::KafkaConfig& kafka_config = rt.settings().kafka;
        aggregator::KafkaReads reads{
            .partition_count =
                [&kafka_config](const std::string& topic) {
                  return kafka::partitionCount(kafka_config, topic, kReadTimeout);
                },
            .head = [&kafka_config](const std::string& topic,
                                    std::size_t n) { return kafka::readHead(kafka_config, topic, n, kReadTimeout); },
            .tail = [&kafka_config](const std::string& topic,
                                    std::size_t n) { return kafka::readTail(kafka_config, topic, n, kReadTimeout); },
        };
        auto stage = std::make_shared<aggregator::AggregateStage>(
            std::move(*config),
            aggregator::StageTopics{.blocks = rt.topic(kafka::topics::kBlocks),
                                    .stats = rt.topic(kafka::topics::kStats),
                                    .dlq = rt.topic(kafka::topics::kDlq),
                                    .state = rt.topic(kafka::topics::kAggregatorState)},
            std::move(reads),
            aggregator::StagePorts{.sink = rt.sink(),
                                   .metrics = *metrics,
                                   .stage_metrics = rt.stageMetrics(),
                                   .log = rt.log(),
                                   .now = [] { return aggregator::Clock::now(); },
                                   .fail = [&rt](const pipeline::Status& status) {
                                     rt.fail(status);
                                   }});
        rt.keep(metrics);
        rt.keep(stage);
        rt.health().add("fold", [stage] { return stage->health(); });
        rt.onDrain([stage](std::function<void()> done) { stage->drain(std::move(done)); });

        auto timer = pipeline::uv::Timer::create(rt.loop());
        if (!timer) return timer.status();
        auto ticker = std::make_shared<pipeline::uv::Timer>(std::move(*timer));
        const auto interval = static_cast<std::uint64_t>(stage->tickInterval().count());
        if (auto status = ticker->start(interval, interval, [stage] { stage->tick(); }); !status) {
          return status;
        }
        ticker->setReferenced(false);  // housekeeping: never what keeps the process up
        rt.keep(ticker);

        pipeline::ConsumeOptions options{.topics = {rt.topic(kafka::topics::kBlocks)}};
        options.on_assigned = [stage](std::vector<kafka::TopicPartition>& partitions) {
          std::vector<std::int32_t> numbers;
          for (const auto& partition : partitions) numbers.push_back(partition.partition);
          for (const auto& start : stage->assigned(numbers)) {
            for (auto& partition : partitions) {
              if (partition.partition != start.partition) continue;
              partition.offset = start.offset.value_or(kafka::TopicPartition::kOffsetBeginning);
            }
          }
        };
        options.on_revoked = [stage](const std::vector<kafka::TopicPartition>& partitions) {
          std::vector<std::int32_t> numbers;
          for (const auto& partition : partitions) numbers.push_back(partition.partition);
          stage->revoked(numbers);
        };
        return rt.consume(std::move(options),
                          [stage](kafka::Record record, kafka::Completion completion) {
                            auto pending = kafka::Completion::share(std::move(completion));
                            stage->handle(record, [pending](pipeline::Outcome outcome) {
                              pending->finish(outcome);
                            });
                          });
      });
}
