// The alerter's configuration on arbitrary text: the rule-file loader (YAML, PromQL-subset
// expressions, annotation templates) and the notify file (routes, receivers, matchers) must each
// answer with a value or an InvalidConfig error, never crash. What parses is also evaluated
// against a small series store and expanded, so the evaluation paths see odd expressions too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stages/alerter/evaluator.h"
#include "stages/alerter/notify/notify_config.h"
#include "stages/alerter/rules.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)stages::alerter::notify::parseNotifyConfig(text, "fuzz-notify.yaml");
  auto rules = stages::alerter::parseRules(text, "fuzz-rules.yaml");
  if (!rules) {
    (void)stages::alerter::Expr::parse(text);  // the expression grammar on its own
    return 0;
  }
  stages::alerter::SeriesStore store(60'000);
  (void)store.ingest(R"({"schema":"metric.v1","ts":1000,"stage":"s","instance":"i","metrics":[)"
                     R"({"name":"up","labels":{"job":"a"},"value":1}]})");
  stages::alerter::Evaluator evaluator(std::move(*rules), store, {.wait_for_history = false});
  (void)evaluator.evaluate(2000);
  (void)evaluator.evaluate(700'000);
  (void)evaluator.snapshot();
  return 0;
}
