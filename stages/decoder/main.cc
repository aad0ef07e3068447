// pointtron-decoder: blocks.raw → block.v1 on blocks (or the DLQ); `--decode FILE` decodes a
// saved node answer without Kafka.
#include <chrono>
#include <iostream>
#include <memory>

#include "pipeline/clock.h"
#include "pipeline/runtime.h"
#include "stages/decoder/decode_command.h"
#include "stages/decoder/decode_stage.h"
#include "stages/decoder/decoder_config.h"
#include "stages/decoder/decoder_metrics.h"

int main(int argc, char** argv) {
  if (auto code = stages::decoder::runDecodeCommand(argc, argv, std::cout, std::cerr, pipeline::wallClockMs)) {
    return *code;
  }
  return pipeline::runStage(
      argc, argv,
      {.name = "decoder",
       .default_http_port = 9102,
       .description = "Decodes blocks.raw into block.v1 summaries on blocks."},
      [](pipeline::Runtime& rt) -> pipeline::Status {
        auto config = stages::decoder::DecoderConfig::parse(rt.config());
        if (!config) return config.status();
        auto metrics = std::make_shared<stages::decoder::DecoderMetrics>(
            stages::decoder::DecoderMetrics::create(rt.metrics()));
        auto stage = std::make_shared<stages::decoder::DecodeStage>(
            config->decode, rt.sink(),
            stages::decoder::OutputTopics{.blocks = rt.topic(pipeline::kafka::topics::kBlocks),
                                          .dlq = rt.topic(pipeline::kafka::topics::kDlq)},
            *metrics, rt.stageMetrics(), rt.log(), pipeline::wallClockMs);
        rt.keep(metrics);
        rt.keep(stage);
        return rt.consume(
            {.topics = {rt.topic(pipeline::kafka::topics::kBlocksRaw)}},
            [stage](pipeline::kafka::Record record, pipeline::kafka::Completion completion) {
              auto pending = pipeline::kafka::Completion::share(std::move(completion));
              stage->handle(record, [pending](pipeline::Outcome outcome) { pending->finish(outcome); });
            });
      });
}
